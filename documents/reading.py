"""Turn a submitted draft (.docx, .txt, .md) into plain text; anything else is refused clearly."""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import PurePath

SUPPORTED = (".docx", ".txt", ".md")


class UnreadableDocument(ValueError):
    """The draft cannot be read; `code` names the reason for the user-facing message."""

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


def docx_text(data: bytes) -> str:
    """Paragraphs and table rows in document order, one per line. Word's automatic list numbers
    ("一、", "（一）", "1.") are written out: python-docx leaves them out, and headings are known by them."""
    from docx import Document  # imported here: python-docx is only needed for Word files
    from docx.table import Table

    doc = Document(io.BytesIO(data))
    numbers = ListNumbers(doc)
    lines = []
    for block in doc.iter_inner_content():
        if isinstance(block, Table):
            lines.extend(table_lines(block))
        else:
            lines.append(numbers.label(block._p) + block.text)
    return "\n".join(lines)


def table_lines(table) -> list[str]:
    """One line per row, cells separated by tabs; a merged cell counts once."""
    lines = []
    for row in table.rows:
        cells = list({id(cell._tc): cell for cell in row.cells}.values())
        lines.append("\t".join(cell.text.replace("\n", " ") for cell in cells).rstrip())
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
        style_id, seen = self.val(p.find(f"{qn('w:pPr')}/{qn('w:pStyle')}")), set()
        while style_id and style_id not in seen:
            seen.add(style_id)
            style = self.styles.get(style_id)
            if style is None:
                break
            pr = style.find(f"{qn('w:pPr')}/{qn('w:numPr')}")
            if pr is not None and pr.find(qn("w:numId")) is not None:
                return self.val(pr.find(qn("w:numId"))), int(self.val(pr.find(qn("w:ilvl"))) or 0)
            style_id = self.val(style.find(qn("w:basedOn")))
        return None, 0

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
            fmt = "decimal" if levels[ilvl]["legal"] else spec["format"]
            return NUMBER_FORMATS.get(fmt, str)(count)

        text = re.sub(r"%([1-9])", shown, levels[ilvl]["text"])
        if not text.strip():
            return ""
        return text if text[-1] in "、.．)）:：" else text + " "


def read_draft(filename: str, data: bytes) -> Draft:
    suffix = PurePath(filename).suffix.lower()
    if suffix not in SUPPORTED:
        raise UnreadableDocument("unsupported_type", filename, suffix or "(none)")
    try:
        text = docx_text(data) if suffix == ".docx" else decode_text(data)
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise UnreadableDocument("corrupt", filename, str(exc)) from exc
    text = text.replace("\r\n", "\n").strip()
    if not text:
        raise UnreadableDocument("empty", filename)
    return Draft(PurePath(filename).name, data, text)
