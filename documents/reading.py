"""Turn a submitted draft (.docx, .txt, .md) into plain text; anything else is refused clearly.

Drafts come from anyone who can mail us, so a hostile or broken file must be refused before it costs
much (settings.DraftLimits): the file's size first; for a .docx, the zip's directory (number of parts,
their declared sizes and compression ratios — unzip never yields more than a part declares, a part that
inflates to more fails its checksum) before anything is unpacked; then every XML part is read once with a
pull parser that refuses DTDs (so no entity is ever declared, let alone expanded or fetched), never allows
huge trees, and counts elements and paragraphs, stopping at the limits; only then does python-docx build
its tree, and the text is counted as it is written out. Every refusal is an UnreadableDocument whose code
names a Chinese message (document.* in templates/cli/messages.j2) that states the limit.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import PurePath

from lxml import etree

from core.settings import DraftLimits, load_settings

SUPPORTED = (".docx", ".txt", ".md")
MB = 2**20
RATIO_GRACE = 100 * 1024  # a part this small is harmless at any ratio (Apache POI's grace size, too)
W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
BLOCKS = {f"{{{W}}}p", f"{{{W}}}tr", f"{{{W}}}tc"}  # what python-docx walks one by one: paragraphs, rows, cells
CHUNK = 64 * 1024
MAX_TAG = 1 * MB  # bytes with no new element: a start tag is parsed whole, ~100,000 attributes in 1 MB
MAX_LIST_NUMBER = 32767  # Word's largest; past it, letters and Roman numerals would grow without bound


class UnreadableDocument(ValueError):
    """The draft cannot be read; `code` names the reason for the user-facing message, `detail` is shown
    in it (the file type, or the limit that was passed)."""

    def __init__(self, code: str, filename: str, detail: str = "") -> None:
        super().__init__(f"{code}: {filename}: {detail}")
        self.code, self.filename, self.detail = code, filename, detail


@dataclass(frozen=True)
class Draft:
    filename: str
    content: bytes
    text: str


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM) first, then the Chinese national encodings."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UnicodeDecodeError("gb18030", data, 0, 1, "neither UTF-8 nor GB18030")


class Refusal(Exception):
    """Raised while a file is read; read_draft makes it an UnreadableDocument that names the file."""

    def __init__(self, code: str, detail: object = "") -> None:
        super().__init__(f"{code}: {detail}")
        self.code, self.detail = code, str(detail)


def open_package(data: bytes, limits: DraftLimits) -> zipfile.ZipFile:
    """The .docx as a zip, once its directory shows nothing that would unpack into too much."""
    if data.count(b"PK\x01\x02") > limits.max_parts:  # each directory entry starts so: count before parsing
        raise Refusal("too_many_parts", limits.max_parts)
    package = zipfile.ZipFile(io.BytesIO(data))
    parts = package.infolist()
    if len(parts) > limits.max_parts:
        raise Refusal("too_many_parts", limits.max_parts)
    if sum(part.file_size for part in parts) > limits.max_unpacked_mb * MB:
        raise Refusal("unpacked_too_large", limits.max_unpacked_mb)
    if any(part.file_size > max(RATIO_GRACE, limits.max_ratio * part.compress_size) for part in parts):
        raise Refusal("compression_ratio", limits.max_ratio)
    return package


def check_xml(package: zipfile.ZipFile, limits: DraftLimits) -> None:
    """Read every XML part once, a chunk at a time: refuse a DTD, a damaged part, or more elements (with
    comments and processing instructions), attributes or paragraphs than the limits, stopping there so
    that a bomb's tree never grows past them; also MAX_TAG bytes with no new element (a start tag is
    parsed whole, attributes and all). A part that is not XML at all (a picture) stops at its first bytes."""
    nodes = attributes = blocks = 0
    for part in package.infolist():
        parser = etree.XMLPullParser(events=("start", "comment", "pi"), resolve_entities=False, huge_tree=False,
                                     no_network=True, load_dtd=False)
        started, unbroken, failed = False, 0, None  # unbroken: bytes read since the last event
        with package.open(part) as stream:
            while failed is None and (chunk := stream.read(CHUNK)):
                try:
                    parser.feed(chunk)
                except etree.XMLSyntaxError as exc:
                    failed = exc  # the events before it still show whether this is XML, and with a DTD
                unbroken += len(chunk)
                for event, node in parser.read_events():
                    if not started and node.getroottree().docinfo.doctype:
                        raise Refusal("dtd", part.filename)
                    started, unbroken = True, 0
                    nodes += 1
                    if event == "start":
                        attributes += len(node.attrib)
                        blocks += node.tag in BLOCKS
                if nodes > limits.max_elements or attributes > limits.max_elements or unbroken > MAX_TAG:
                    raise Refusal("too_complex", limits.max_elements)
                if blocks > limits.max_paragraphs:
                    raise Refusal("too_many_paragraphs", limits.max_paragraphs)
        if failed is None:
            try:
                parser.close()
            except etree.XMLSyntaxError as exc:
                failed = exc
        if failed is not None and started:
            raise failed
        # failed before any element: not XML at all (a picture), which python-docx never parses


# python-docx's Paragraph.text with its XPath compiled once: python-docx compiles one XPath per
# paragraph and another per run (~20 µs each), which made a file of many runs slow to read.
RUN_CONTENT = etree.XPath("(w:r | w:hyperlink/w:r)/*[self::w:t or self::w:tab or self::w:br or self::w:cr"
                          " or self::w:noBreakHyphen or self::w:ptab]", namespaces={"w": W})


def paragraph_text(p) -> str:
    return "".join(str(e) for e in RUN_CONTENT(p))


def docx_text(data: bytes, limits: DraftLimits) -> str:
    """Paragraphs and table rows in document order, one per line. Word's automatic list numbers
    ("一、", "（一）", "1.") are written out: python-docx leaves them out, and headings are known by them."""
    from docx import Document  # imported here: python-docx is only needed for Word files
    from docx.table import Table

    package = open_package(data, limits)
    check_xml(package, limits)
    doc = Document(io.BytesIO(data))
    numbers = ListNumbers(doc)
    lines: list[str] = []
    size = 0
    for block in doc.iter_inner_content():
        new = table_lines(block) if isinstance(block, Table) else [numbers.label(block._p) + paragraph_text(block._p)]
        lines.extend(new)
        size += sum(len(line) + 1 for line in new)
        if size > limits.max_chars:  # checked as it grows: list numbers are written out by us
            raise Refusal("too_long", limits.max_chars)
    return "\n".join(lines)


def table_lines(table) -> list[str]:
    """One line per row, cells separated by tabs; a merged cell counts once."""
    lines = []
    for row in table.rows:
        cells = list({id(cell._tc): cell for cell in row.cells}.values())
        lines.append("\t".join(" ".join(paragraph_text(p) for p in cell._tc.p_lst) for cell in cells).rstrip())
    return lines


CN_DIGITS = "零一二三四五六七八九"


def chinese_number(n: int) -> str:
    """1 → 一, 10 → 十, 11 → 十一, 23 → 二十三 (Word's chineseCounting)."""
    if not 0 < n < 100:
        return str(n)
    tens, ones = divmod(n, 10)
    return (CN_DIGITS[tens] if tens > 1 else "") + ("十" if tens else "") + (CN_DIGITS[ones] if ones else "")


def roman(n: int) -> str:
    out = ""
    for value, letters in ((1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"), (50, "L"),
                           (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")):
        count, n = divmod(n, value)
        out += letters * count
    return out


def letters(n: int) -> str:
    return chr(ord("A") + (n - 1) % 26) * ((n - 1) // 26 + 1)


NUMBER_FORMATS = {
    "decimal": str,
    "decimalZero": lambda n: f"{n:02d}",
    "decimalFullWidth": lambda n: str(n).translate(str.maketrans("0123456789", "０１２３４５６７８９")),
    "chineseCounting": chinese_number,
    "chineseCountingThousand": chinese_number,
    "taiwaneseCounting": chinese_number,
    "japaneseCounting": chinese_number,
    "ideographDigital": lambda n: "".join("〇一二三四五六七八九"[int(d)] for d in str(n)),
    "chineseLegalSimplified": lambda n: chinese_number(n).translate(str.maketrans("一二三四五六七八九十",
                                                                                  "壹贰叁肆伍陆柒捌玖拾")),
    "ideographTraditional": lambda n: "甲乙丙丁戊己庚辛壬癸"[(n - 1) % 10],
    "decimalEnclosedCircle": lambda n: chr(0x2460 + n - 1) if 0 < n <= 20 else f"({n})",
    "decimalEnclosedCircleChinese": lambda n: chr(0x2460 + n - 1) if 0 < n <= 20 else f"({n})",
    "decimalEnclosedParen": lambda n: f"({n})",
    "upperRoman": roman,
    "lowerRoman": lambda n: roman(n).lower(),
    "upperLetter": letters,
    "lowerLetter": lambda n: letters(n).lower(),
    "bullet": lambda n: "",
    "none": lambda n: "",
}


class ListNumbers:
    """Word's automatic numbering (numbering.xml), counted through the document as Word counts it:
    lists that share an abstract definition continue each other, a deeper level restarts after a
    shallower one, and a list instance with a start override restarts where it is first used."""

    def __init__(self, doc) -> None:
        from docx.oxml.ns import qn

        self.qn = qn
        self.styles = {s.get(qn("w:styleId")): s for s in doc.styles.element.findall(qn("w:style"))}
        self.style_lists: dict[str, tuple[str | None, int]] = {}
        self.abstract: dict[str, dict[int, dict]] = {}
        self.nums: dict[str, tuple[str, dict[int, int]]] = {}
        self.counters: dict[str, list[int | None]] = {}
        self.started: set[str] = set()
        try:
            numbering = doc.part.numbering_part.element
        except (KeyError, NotImplementedError):
            return
        for abstract in numbering.findall(qn("w:abstractNum")):
            self.abstract[abstract.get(qn("w:abstractNumId"))] = {
                int(lvl.get(qn("w:ilvl"), 0)): self.level(lvl) for lvl in abstract.findall(qn("w:lvl"))}
        for num in numbering.findall(qn("w:num")):
            abstract_id = self.val(num.find(qn("w:abstractNumId")))
            overrides = {int(o.get(qn("w:ilvl"), 0)): int(self.val(o.find(qn("w:startOverride"))))
                         for o in num.findall(qn("w:lvlOverride")) if o.find(qn("w:startOverride")) is not None}
            self.nums[num.get(qn("w:numId"))] = (abstract_id, overrides)

    def val(self, element) -> str | None:
        return None if element is None else element.get(self.qn("w:val"))

    def level(self, lvl) -> dict:
        qn = self.qn
        return {"start": int(self.val(lvl.find(qn("w:start"))) or 1),
                "format": self.val(lvl.find(qn("w:numFmt"))) or "decimal",
                "text": self.val(lvl.find(qn("w:lvlText"))) or "",
                "legal": lvl.find(qn("w:isLgl")) is not None}

    def num_pr(self, p) -> tuple[str | None, int]:
        """The paragraph's list (numId, level): its own numPr, else its style's (following basedOn)."""
        qn = self.qn
        own = p.find(f"{qn('w:pPr')}/{qn('w:numPr')}")
        if own is not None and own.find(qn("w:numId")) is not None:
            return self.val(own.find(qn("w:numId"))), int(self.val(own.find(qn("w:ilvl"))) or 0)
        return self.style_list(self.val(p.find(f"{qn('w:pPr')}/{qn('w:pStyle')}")))

    def style_list(self, style_id: str | None) -> tuple[str | None, int]:
        """A style's list (numId, level), following basedOn; remembered for every style on the way, so
        that a long chain of styles is walked once, not once per paragraph."""
        qn, walked, found = self.qn, {}, (None, 0)
        while style_id and style_id not in walked:
            if style_id in self.style_lists:
                found = self.style_lists[style_id]
                break
            walked[style_id] = None
            style = self.styles.get(style_id)
            if style is None:
                break
            pr = style.find(f"{qn('w:pPr')}/{qn('w:numPr')}")
            if pr is not None and pr.find(qn("w:numId")) is not None:
                found = self.val(pr.find(qn("w:numId"))), int(self.val(pr.find(qn("w:ilvl"))) or 0)
                break
            style_id = self.val(style.find(qn("w:basedOn")))
        self.style_lists.update(dict.fromkeys(walked, found))
        return found

    def label(self, p) -> str:
        """The number Word shows before this paragraph ("一、"), or "" when it has none."""
        num_id, ilvl = self.num_pr(p)
        if num_id in (None, "0") or num_id not in self.nums:
            return ""
        abstract_id, overrides = self.nums[num_id]
        levels = self.abstract.get(abstract_id, {})
        if ilvl not in levels:
            return ""
        counts = self.counters.setdefault(abstract_id, [None] * 10)
        if num_id not in self.started:
            self.started.add(num_id)
            for level, start in overrides.items():
                if level < len(counts):
                    counts[level:] = [None] * (len(counts) - level)
                    counts[level] = start - 1
        counts[ilvl] = levels[ilvl]["start"] if counts[ilvl] is None else counts[ilvl] + 1
        counts[ilvl + 1:] = [None] * (len(counts) - ilvl - 1)

        def shown(match: re.Match) -> str:
            level = int(match.group(1)) - 1
            spec = levels.get(level, {"start": 1, "format": "decimal"})
            count = counts[level] if counts[level] is not None else spec["start"]
            fmt = "decimal" if levels[ilvl]["legal"] or count > MAX_LIST_NUMBER else spec["format"]
            return NUMBER_FORMATS.get(fmt, str)(count)

        text = re.sub(r"%([1-9])", shown, levels[ilvl]["text"])
        if not text.strip():
            return ""
        return text if text[-1] in "、.．)）:：" else text + " "


def read_draft(filename: str, data: bytes) -> Draft:
    """The draft's text, within the installation's limits (REPORTCHAIN_DRAFT_*), or UnreadableDocument."""
    suffix = PurePath(filename).suffix.lower()
    if suffix not in SUPPORTED:
        raise UnreadableDocument("unsupported_type", filename, suffix or "(none)")
    limits = load_settings().drafts
    if len(data) > limits.max_mb * MB:
        raise UnreadableDocument("too_large", filename, str(limits.max_mb))
    try:
        text = docx_text(data, limits) if suffix == ".docx" else decode_text(data)
    except Refusal as exc:
        raise UnreadableDocument(exc.code, filename, exc.detail) from exc
    except Exception as exc:  # unzip, zlib, lxml and python-docx each fail in their own ways on a damaged file
        raise UnreadableDocument("corrupt", filename, f"{type(exc).__name__}: {exc}") from exc
    text = text.replace("\r\n", "\n").strip()
    if not text:
        raise UnreadableDocument("empty", filename)
    if len(text) > limits.max_chars:
        raise UnreadableDocument("too_long", filename, str(limits.max_chars))
    return Draft(PurePath(filename).name, data, text)
