"""One reading of a report's layout: its title, 主送 line, headings with their numbering and outline levels,
body, 落款 and 成文日期. The compliance check and the renderings both read a report through `read`, so they
never disagree about where the title is, which lines are headings or which lines sign the report.

Pure functions on the text (no database, no Prefect). Headings are found by their shape and numbering
(一、/（一）/1./第一部分, or a short line that does not read as a sentence), never by a word somewhere in a
paragraph; each heading also says which of the five contents it announces (HEADING_PATTERNS), because an
unnumbered heading is a section of its own only when it names one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

# What a heading for each content says, in the many ways real reports say it (see shared/seeds).
HEADING_PATTERNS: dict[str, tuple[str, ...]] = {
    "leaders_duties": (r"第一责任", r"党政主要负责人", r"主要负责人.{0,6}(履行|履职|职责)",
                       r"(书记|主要领导|一把手).{0,12}(履行|履职|职责)", r"述法"),
    "shortcomings_and_causes": (r"存在.{0,8}(问题|不足|短板|差距|困难|薄弱)",
                                r"(问题|不足|短板|差距)(和|与|及|、)(原因|不足|问题|差距|短板)",
                                r"^(问题|不足|短板|差距)", r"不足之处", r"薄弱环节"),
    "next_year_plan": (r"下一步", r"下一?年度?", r"明年", r"来年", r"今后",
                       r"(工作|主要)(打算|安排|计划|思路|设想|重点)", r"(打算|安排|计划|设想|展望)$",
                       r"(改进|整改)(措施|方向|举措)", r"努力方向"),
    "other_matters": (r"其他需要报告", r"其他(有关|相关)?(事项|情况)", r"需要(说明|报告)的(其他)?(事项|情况|问题)"),
    "measures_and_results": (r"举措", r"成效", r"主要工作", r"工作(开展|落实|推进|完成)?情况", r"主要做法", r"工作回顾",
                             r"取得的(成绩|成效)", r"主要成绩"),
}

HEADING_RES = {key: re.compile("|".join(f"(?:{p})" for p in patterns)) for key, patterns in HEADING_PATTERNS.items()}

CN = "一二三四五六七八九十"
MARKERS = (  # style, pattern of a numbered line (group "n" is the number, group "m" the whole marker)
    ("chapter", re.compile(rf"(?P<m>第(?P<n>[{CN}]{{1,3}})(部分|章|节)[、，,：:．.\s]*)")),
    ("paren_cn", re.compile(rf"(?P<m>[（(]\s*(?P<n>[{CN}]{{1,3}})\s*[）)][、，,.．\s]*)")),
    ("paren_arabic", re.compile(r"(?P<m>[（(]\s*(?P<n>\d{1,2})\s*[）)][、，,.．\s]*)")),
    ("cn", re.compile(rf"(?P<m>(?P<n>[{CN}]{{1,3}})\s*[、.．]\s*)")),
    ("arabic_dun", re.compile(r"(?P<m>(?P<n>\d{1,2})\s*、\s*)")),
    ("arabic_dot", re.compile(r"(?P<m>(?P<n>\d{1,2})\s*[.．](?!\d)\s*)")),
    ("circled", re.compile(r"(?P<m>(?P<n>[①-⑳])\s*)")),
)
RANK = {"chapter": 0, "cn": 1, "paren_cn": 2, "arabic_dun": 3, "arabic_dot": 3, "paren_arabic": 4, "circled": 5}
FAMILY = {"chapter": "chapter", "cn": "number", "arabic_dun": "number", "arabic_dot": "number",
          "paren_cn": "paren", "paren_arabic": "paren", "circled": "circled"}

CN_DIGITS = {c: i for i, c in enumerate("〇一二三四五六七八九")} | {"零": 0}
DATE = re.compile(r"(?P<y>\d{4}|[〇零一二三四五六七八九]{4})\s*年\s*(?P<m>\d{1,2}|[一二三四五六七八九十]{1,3})\s*月"
                  r"(\s*(?P<d>\d{1,2}|[一二三四五六七八九十]{1,3})\s*日)?")
UNIT_LINE = re.compile(r"^[^。，,：:；;]{2,40}(人民政府|政府|委员会|党委|党工委|党组|管委会|办事处|街道|局|办公室|办|委"
                       r"|镇|乡|县|区|市|院|所|中心|厅|署)(\s*[（(]\s*(盖章|章|印章|印)\s*[）)])?$")
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # characters no .docx or page may hold
TITLE_MAX = 80  # a title may name two issuers and both reports (法治政府建设暨第一责任人履职情况的报告)
TITLE_SEARCH = 12  # lines a title may sit below (a web page's menu, a document number)
RUN_IN_MAX = 40  # a "（一）健全机制。正文……" paragraph: the lead up to the first 。 is a run-in heading if this short


@dataclass(frozen=True)
class Part:
    """A line of the text that plays a part in the frame (title, 主送, 落款, date, 附注)."""

    line: int
    text: str


@dataclass
class Heading:
    """A numbered line (standalone heading or run-in paragraph lead) or an unnumbered heading-shaped line."""

    line: int
    style: str  # a MARKERS style, or "plain" for an unnumbered heading
    value: int | None
    marker: str
    title: str  # the heading's words: the whole line, or a run-in paragraph's lead
    standalone: bool
    level: int = 0  # 1 = top level; 0 = an unnumbered line that is no section of its own
    kinds: frozenset[str] = field(default_factory=frozenset)
    text: str = ""  # the line as written
    run_in: str = ""  # a run-in paragraph's heading as typeset: its number and first short sentence

    @property
    def shown(self) -> str:
        """The heading as the report writes it (a run-in paragraph: its number and lead)."""
        return self.text if self.standalone and self.text else f"{self.marker}{self.title}"


@dataclass
class Group:
    """Sibling headings: the numbered items of one level under one parent."""

    items: list[Heading]

    @property
    def styles(self) -> set[str]:
        return {h.style for h in self.items}


@dataclass
class Layout:
    """The text as a reviewer scans it. Every line is either part of the frame (title, 主送, 落款, date,
    附注 after the date) or of the body; body lines may be headings."""

    lines: list[str]  # cleaned, index 0 is line 1
    title: tuple[Part, ...]  # one line, or a unit line and a "关于…的报告" line
    addressee: Part | None  # the 主送 line
    headings: list[Heading]
    groups: list[Group]  # sibling headings, for the numbering check
    signature: tuple[Part, ...]  # the 落款 unit line(s)
    date: Part | None  # the 成文日期
    notes: tuple[Part, ...]  # lines after the date, such as （此件公开发布）
    body_end: int  # last line number of the body (before a closing 落款)

    @property
    def title_text(self) -> str:
        """The title as one line ("" when the text has none)."""
        return "".join(part.text for part in self.title)

    @cached_property
    def frame(self) -> set[int]:
        """The line numbers of the frame."""
        return {p.line for p in (*self.title, self.addressee, *self.signature, self.date, *self.notes) if p}

    @property
    def date_filled(self) -> bool:
        """The date has its day ("2027年  月  日" and "2027年X月X日" are still to be filled in)."""
        match = self.date and DATE.fullmatch(re.sub(r"\s", "", self.date.text))
        return bool(match and match["d"])

    def body(self) -> list[tuple[int, str]]:
        """The body's lines in order (line number, text): everything that is not the frame, blanks left out."""
        frame = self.frame
        return [(n, text) for n, text in enumerate(self.lines, 1) if text and n not in frame]


# -- lines -------------------------------------------------------------------------------------------------

def clean(line: str) -> tuple[str, int]:
    """A line without surrounding spaces and Markdown decoration (# headings, > quotes, **bold**), and the
    level of its Markdown heading mark (0 for none)."""
    line = NOT_XML.sub("", line).strip().strip("\u3000\xa0\ufeff").strip()
    marks = re.match(r"^(#{1,6}|>)\s*", line)
    md_level = 0
    if marks:
        md_level = len(marks[1]) if marks[1] != ">" else 0
        line = line[marks.end():]
    if len(line) > 4 and line[:2] in ("**", "__") and line.endswith(line[:2]):
        line = line[2:-2]
    return line.strip().strip("\u3000").strip(), md_level


def cn_value(text: str) -> int:
    """一 → 1, 十 → 10, 十二 → 12, 二十三 → 23; Arabic digits and circled numbers as they are."""
    if text.isdigit():
        return int(text)
    if "①" <= text <= "⑳":
        return ord(text) - ord("①") + 1
    if "十" not in text:
        return CN_DIGITS.get(text, 0)
    tens, _, ones = text.partition("十")
    return (CN_DIGITS.get(tens, 0) if tens else 1) * 10 + (CN_DIGITS.get(ones, 0) if ones else 0)


def parse_date(text: str) -> tuple[int, int] | None:
    match = DATE.search(text)
    if not match:
        return None
    year = match["y"]
    year = int(year) if year.isdigit() else int("".join(str(CN_DIGITS[c]) for c in year))
    return year, cn_value(match["m"])


def is_date_line(text: str) -> bool:
    """A 成文日期 on its own line; "2027年X月X日" counts (the placeholder check reports the X)."""
    text = re.sub(r"[\sXＸx×○]", lambda m: "" if m[0].isspace() else "1", text)
    text = re.sub(r"(?<=年)(?=月)|(?<=月)(?=日)", "1", text)  # 2027年  月  日: a date, not yet filled in
    return bool(DATE.fullmatch(text) or re.fullmatch(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}", text))


def numbered(line_no: int, text: str) -> Heading | None:
    """The line as a numbered heading or run-in paragraph, or None when it starts with no number."""
    for style, pattern in MARKERS:
        match = pattern.match(text)
        if not match:
            continue
        rest = text[match.end():].strip()
        if not rest:
            return None
        standalone = len(rest) <= 60 and "。" not in rest and rest[-1] not in "；;，,"
        stop = text.find("。")
        run_in = text[:stop + 1] if not standalone and 0 < stop < RUN_IN_MAX and stop + 1 < len(text) else ""
        return Heading(line_no, style, cn_value(match["n"]), match["m"].strip(), rest if standalone else lead(rest),
                       standalone, text=text, run_in=run_in)
    return None


def lead(paragraph: str) -> str:
    """A run-in heading's words: a short first sentence ("1.压实第一责任。…"), else the first clause."""
    sentence = re.split(r"[。：:]", paragraph, maxsplit=1)[0]
    clause = re.split(r"[，,；;]", sentence, maxsplit=1)[0]
    return sentence if len(sentence) <= 20 or len(clause) > 40 >= len(sentence) else clause[:40]


def plain_heading(text: str) -> bool:
    """An unnumbered line shaped like a heading: short, not a sentence, no label, no table row."""
    return (2 <= len(text) <= 30 and not re.search(r"[。：:；;\t]", text) and text[-1] not in "，,、"
            and not is_date_line(text))


def kinds_of(title: str) -> frozenset[str]:
    """The contents a heading announces; the generic 举措/成效 words count only when nothing else matches."""
    words = re.sub(r"^\d{4}\s*年度?", "", title)
    found = {key for key, pattern in HEADING_RES.items() if pattern.search(words)}
    if found - {"measures_and_results"}:
        found.discard("measures_and_results")
    return frozenset(found)


def unit_line(text: str) -> bool:
    return bool(UNIT_LINE.match(text)) and not numbered(0, text)


# -- the frame -----------------------------------------------------------------------------------------------

def find_title(lines: list[str], md: list[int], filled: list[int]) -> tuple[Part, ...]:
    """The title: a line among the first that names a 法治 report (or a Markdown `# ` line), with no 。 and
    no number; a unit line right above a "关于…报告" line makes a two-line title."""
    for i, number in enumerate(filled[:TITLE_SEARCH]):
        text = lines[number - 1]
        if (md[number - 1] == 1 or "报告" in text and re.search("法治|依法", text)) and len(text) <= TITLE_MAX \
                and "。" not in text and not text.endswith(("：", ":")) and not numbered(number, text):
            above = filled[i - 1] if i else None
            if above and text.startswith("关于") and unit_line(lines[above - 1]):
                return Part(above, lines[above - 1]), Part(number, text)
            return (Part(number, text),)
        if len(text) > TITLE_MAX:
            return ()
    return ()


def find_addressee(lines: list[str], candidate: int | None) -> Part | None:
    """The 主送 line: the line under the title (or the first line), with a colon at its end and nowhere else
    (a web page's "信息来源:… 发布日期:… 分享:" is no 主送)."""
    text = lines[candidate - 1] if candidate else ""
    if text.endswith(("：", ":")) and not re.search("[：:。]", text[:-1]) and len(text) <= 60 and "如下" not in text \
            and not numbered(candidate, text):
        return Part(candidate, text)
    return None


def signed_date(text: str) -> tuple[str, str] | None:
    """A 落款 and its date on one line ("野鹤镇人民政府 2027年1月10日"): (unit, date)."""
    match = DATE.search(text)
    if match and match.end() == len(text) and UNIT_LINE.match(text[:match.start()].strip()):
        return text[:match.start()].strip(), match[0]
    return None


def units_above(lines: list[str], filled: list[int], below: int, top: int) -> tuple[Part, ...]:
    """Up to three 落款 unit lines right above line `below` (a 党委 and a 政府 sign together), none above `top`."""
    units: list[Part] = []
    for number in reversed([n for n in filled if top < n < below][-3:]):
        if not unit_line(lines[number - 1]):
            break
        units.insert(0, Part(number, lines[number - 1]))
    return tuple(units)


def find_signature(lines: list[str], filled: list[int], top: int) -> tuple[tuple[Part, ...], Part | None,
                                                                            tuple[Part, ...], int]:
    """The 落款 unit line(s) and 成文日期: at the end (the rule; lines after the date are 附注), or under the
    title as published pages put them. Returns (units, date, notes, last body line); `top` is the frame's
    last line above the body."""
    tail = [n for n in filled[-3:] if n > top]
    date = next((n for n in reversed(tail) if is_date_line(lines[n - 1]) or signed_date(lines[n - 1])), None)
    if date is not None:
        notes = tuple(Part(n, lines[n - 1]) for n in filled if n > date)
        pair = signed_date(lines[date - 1])
        if pair:
            return (Part(date, pair[0]),), Part(date, pair[1]), notes, date - 1
        units = units_above(lines, filled, date, top)
        return units, Part(date, lines[date - 1]), notes, (units[0].line if units else date) - 1
    unit = next((n for n in reversed(tail[-2:]) if unit_line(lines[n - 1])), None)
    if unit is not None:
        units = (*units_above(lines, filled, unit, top), Part(unit, lines[unit - 1]))
        return units, None, tuple(Part(n, lines[n - 1]) for n in filled if n > unit), units[0].line - 1
    head = [n for n in filled if n > top][:4]
    units = []
    for number in head:
        text = lines[number - 1]
        if units and is_date_line(text):
            return tuple(units), Part(number, text), (), filled[-1]
        if not unit_line(text):
            break
        units.append(Part(number, text))
    return (), None, (), filled[-1] if filled else 0


# -- headings and their levels ----------------------------------------------------------------------------

def assign_levels(headings: list[Heading]) -> list[Group]:
    """Give each numbered heading its outline level and return the sibling groups. A style seen before
    goes back to its level; a new style nests deeper, unless its number continues a level of the same
    kind of numbering (1、 … 二、 … 三、: one level, mixed numbering), or it is 一、/第一部分 after lists of
    lower rank (those were no sections)."""
    stack: list[Group] = []
    groups: list[Group] = []
    for heading in (h for h in headings if h.style != "plain"):
        at = next((i for i, g in enumerate(stack) if heading.style in g.styles), None)
        if at is None:
            at = next((i for i, g in enumerate(stack) if FAMILY[g.items[-1].style] == FAMILY[heading.style]
                       and g.items[-1].value + 1 == heading.value and g.items[-1].standalone == heading.standalone),
                      None)
        if at is not None:
            del stack[at + 1:]
            last = stack[at].items[-1]
            if heading.value == 1 and last.style == heading.style:  # numbering starts again: a new list
                stack[at] = Group([])
                groups.append(stack[at])
            stack[at].items.append(heading)
        else:
            while RANK[heading.style] <= 1 and stack and min(RANK[s] for s in stack[-1].styles) > RANK[heading.style]:
                stack.pop()  # 一、 or 第一部分 after a list of 1. items: a top-level heading, not a deeper one
            stack.append(Group([heading]))
            groups.append(stack[-1])
        heading.level = len(stack)
    return groups


def find_headings(body: list[tuple[int, str]], md: list[int], body_end: int) -> tuple[list[Heading], list[Group]]:
    headings = []
    for number, text in body:
        if number > body_end:
            break
        heading = numbered(number, text)
        if heading is None and (md[number - 1] >= 2 or plain_heading(text)):
            heading = Heading(number, "plain", None, "", text, True, text=text)
        if heading is not None:
            heading.kinds = kinds_of(heading.title)
            headings.append(heading)
    groups = assign_levels(headings)
    # An unnumbered heading that names a content, or that Markdown marks (## …), is a section of its own.
    # When the report numbers no section 一、 or 第一部分, such headings are its top level and the numbered
    # items sit beneath them.
    for heading in headings:
        if heading.style == "plain":
            marked = md[heading.line - 1]
            heading.level = min(marked - 1, 3) if marked >= 2 else 1 if heading.kinds else 0
    plain_top = any(h.level == 1 for h in headings if h.style == "plain") and not any(
        h.style in ("cn", "chapter") for h in headings)
    if plain_top:
        for heading in headings:
            if heading.style != "plain":
                heading.level += 1
    return headings, groups


def read(text: str) -> Layout:
    """Read the text once: its frame (title, 主送, 落款, date) and every heading with its outline level."""
    cleaned = [clean(line) for line in text.splitlines()]
    lines = [line for line, _ in cleaned]
    md = [level for _, level in cleaned]
    filled = [n for n, line in enumerate(lines, 1) if line]
    title = find_title(lines, md, filled)
    after_title = [n for n in filled if n > title[-1].line] if title else filled
    addressee = find_addressee(lines, after_title[0] if after_title else None)
    top = max((p.line for p in (*title, addressee) if p), default=0)
    signature, date, notes, body_end = find_signature(lines, filled, top)
    layout = Layout(lines, title, addressee, [], [], signature, date, notes, body_end)
    layout.headings, layout.groups = find_headings(layout.body(), md, body_end)
    return layout
