"""The compliance check of a 法治政府建设年度报告: does the text hold the five contents that 厅字〔2019〕28号
requires, and is it fit for a reviewer (heading numbers, placeholders, years, 落款)? It says so before a
reviewer has to.

Pure functions on the text (no database, no Prefect), so the CLI, the drafting flow and the tests share
them. Headings are found by their shape and numbering (一、/（一）/1./第一部分, or a short line that does
not read as a sentence), never by a word somewhere in a paragraph; each is classified against the table
of heading patterns below. Messages are Chinese and come from templates/cli/messages.j2 (check__*).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from core.texts import message

ELEMENTS = ("measures_and_results", "shortcomings_and_causes", "leaders_duties", "next_year_plan", "other_matters")
REQUIRED = ELEMENTS[:4]  # 其他需要报告的情况 is reported only when there is something to report

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

# A paragraph without a heading that is about the content (its first sentence says so).
LEAD_PATTERNS: dict[str, tuple[str, ...]] = {
    "leaders_duties": (r"第一责任人", r"党政主要负责人"),
    "shortcomings_and_causes": (r"^(?!针对|围绕|解决|聚焦).{0,30}存在(着)?.{0,8}(问题|不足|短板|差距)",),
    "next_year_plan": (r"^(下一步|下一年度|明年|来年)",),
    "other_matters": (r"^其他需要报告",),
    "measures_and_results": (r"主要举措|主要做法|举措和成效",),
}

# Words that analyse why (因人员不足, 由于…, 究其原因): shortcomings listed without any of them give no causes.
CAUSE_WORDS = re.compile(r"原因|根源|究其|归因|主观上|客观上|由于|导致|致使|造成|源于|所致|症结|受制于|受限于|因素"
                         r"|(?<![原基诱起成])因(?!此|而|地制宜|势利导|人而异|时制宜|案施策)")

PLACEHOLDERS = re.compile("|".join((
    r"(?<![A-Za-z])[XxＸｘ]{2,}(?![A-Za-z])",           # XX镇, XXX
    r"(?<![A-Za-z0-9])[XＸ×]\s*[年月日号个名件次人场%％]",   # X月X日, ×件
    r"[×✕╳＊○□]{2,}",                                  # ××, ○○
    r"[_＿]{2,}",                                       # ＿＿ blanks to fill
    r"[【\[［][^】\]］]{0,20}(待|填写|补充|插入|此处|TODO)[^】\]］]{0,20}[】\]］]",  # 【待补充】
    r"[（(]\s*(待补充|待填写|待定|待核实|此处[^）)]{0,15})\s*[）)]",
    r"此处(填写|插入|补充|添加|输入)",
    r"(?<![有亟])待(补充|填写|填报)",
    r"[【\[［](写作|填写|编写)?(提示|说明)[】\]］]",          # a drafting hint left in: 【写作提示】
    r"\d{4}\s*年\s*月\s*日|年\s+月\s+日",                  # a date without its numbers: 2027年  月  日
    r"\b(TODO|TBD|FIXME)\b",
    r"^[.。…·]{2,}$",                                   # a paragraph that is only "……"
)))

HINT_LINE = re.compile(r"^[【\[［](写作|填写|编写)?(提示|说明)[】\]］]")  # a drafting kit's guidance line, no content

SEVERITY = {"missing_element": "error", "empty_section": "error", "placeholder": "error", "year_mismatch": "error",
            "element_not_a_section": "warning", "missing_causes": "warning", "heading_numbering": "warning",
            "no_signature_date": "warning",
            "unit_mismatch": "error"}  # another unit's report is held like a content error

CN = "一二三四五六七八九十"
MARKERS = (  # style, pattern of a numbered line (group "n" is the number, group "m" the whole marker)
    ("chapter", rf"(?P<m>第(?P<n>[{CN}]{{1,3}})(部分|章|节)[、，,：:．.\s]*)"),
    ("paren_cn", rf"(?P<m>[（(]\s*(?P<n>[{CN}]{{1,3}})\s*[）)][、，,.．\s]*)"),
    ("paren_arabic", r"(?P<m>[（(]\s*(?P<n>\d{1,2})\s*[）)][、，,.．\s]*)"),
    ("cn", rf"(?P<m>(?P<n>[{CN}]{{1,3}})\s*[、.．]\s*)"),
    ("arabic_dun", r"(?P<m>(?P<n>\d{1,2})\s*、\s*)"),
    ("arabic_dot", r"(?P<m>(?P<n>\d{1,2})\s*[.．](?!\d)\s*)"),
    ("circled", r"(?P<m>(?P<n>[①-⑳])\s*)"),
)
RANK = {"chapter": 0, "cn": 1, "paren_cn": 2, "arabic_dun": 3, "arabic_dot": 3, "paren_arabic": 4, "circled": 5}
FAMILY = {"chapter": "chapter", "cn": "number", "arabic_dun": "number", "arabic_dot": "number",
          "paren_cn": "paren", "paren_arabic": "paren", "circled": "circled"}

CN_DIGITS = {c: i for i, c in enumerate("〇一二三四五六七八九")} | {"零": 0}
DATE = re.compile(r"(?P<y>\d{4}|[〇零一二三四五六七八九]{4})\s*年\s*(?P<m>\d{1,2}|[一二三四五六七八九十]{1,3})\s*月"
                  r"(\s*(\d{1,2}|[一二三四五六七八九十]{1,3})\s*日)?")
UNIT_LINE = re.compile(r"^[^。，,：:；;]{2,40}(人民政府|政府|委员会|党委|党工委|党组|管委会|办事处|街道|局|办公室|办|委"
                       r"|镇|乡|县|区|市|院|所|中心|厅|署)(\s*[（(]\s*(盖章|章|印章|印)\s*[）)])?$")
UNIT_SUFFIX = re.compile(r"(人民政府|政府|党委|党工委|管理委员会|管委会|街道办事处|办事处|委员会)$")
YEAR = re.compile(r"(\d{4})\s*年")


@dataclass(frozen=True)
class Element:
    present: bool
    as_section: bool
    heading: str | None
    line: int | None = None

    def as_json(self) -> dict:
        return {"present": self.present, "as_section": self.as_section, "heading": self.heading}


@dataclass(frozen=True)
class Finding:
    code: str
    message: str
    line: int | None = None
    severity: str = ""  # "error" or "warning"; by default the code's (SEVERITY)

    def __post_init__(self) -> None:
        if not self.severity:
            object.__setattr__(self, "severity", SEVERITY[self.code])

    def as_json(self) -> dict:
        return {"code": self.code, "severity": self.severity, "message": self.message, "line": self.line}


@dataclass(frozen=True)
class Report:
    elements: dict[str, Element]
    findings: list[Finding]
    year: int | None = None
    year_source: str | None = None  # "option", "title" or "text"

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    def as_json(self) -> dict:
        return {"elements": {key: e.as_json() for key, e in self.elements.items()},
                "findings": [f.as_json() for f in self.findings]}


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

    @property
    def shown(self) -> str:
        """The heading as the report writes it (a run-in paragraph: its number and lead)."""
        return self.text if self.standalone and self.text else f"{self.marker}{self.title}"


@dataclass
class Outline:
    """The text as a reviewer scans it: lines, headings with their levels, title and 落款."""

    lines: list[str]  # cleaned, index 0 is line 1
    headings: list[Heading]
    title: int | None  # line number of the title
    signature: tuple[int | None, int | None]  # line numbers of the 落款 unit and 成文日期
    body_end: int  # last line number of the body (before a closing 落款)
    groups: list[Group] = field(default_factory=list)  # sibling headings, for the numbering check


# -- reading the text -----------------------------------------------------------------------------------

def clean(line: str) -> str:
    """A line without surrounding spaces and Markdown decoration (# headings, > quotes, **bold**)."""
    line = line.strip().strip("\u3000\xa0\ufeff").strip()
    line = re.sub(r"^(#{1,6}|>)\s*", "", line)
    if len(line) > 4 and line[:2] in ("**", "__") and line.endswith(line[:2]):
        line = line[2:-2]
    return line.strip().strip("\u3000").strip()


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
        match = re.match(pattern, text)
        if not match:
            continue
        rest = text[match.end():].strip()
        if not rest:
            return None
        standalone = len(rest) <= 60 and "。" not in rest and rest[-1] not in "；;，,"
        return Heading(line_no, style, cn_value(match["n"]), match["m"].strip(), rest if standalone else lead(rest),
                       standalone, text=text)
    return None


def lead(paragraph: str) -> str:
    """A run-in heading: a short first sentence ("1.压实第一责任。…"), else the first clause."""
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
    found = {key for key, patterns in HEADING_PATTERNS.items() if any(re.search(p, words) for p in patterns)}
    if found - {"measures_and_results"}:
        found.discard("measures_and_results")
    return frozenset(found)


def find_title(lines: list[str]) -> int | None:
    for number, text in enumerate(lines[:12], 1):
        if text and "报告" in text and re.search("法治|依法", text) and len(text) <= 60 and "。" not in text \
                and not numbered(number, text):
            return number
        if len(text) > 60:
            return None
    return None


def find_signature(lines: list[str]) -> tuple[int | None, int | None, int]:
    """The 落款 unit and 成文日期: at the end (the rule), or above the body as published pages put them.
    Returns (unit line, date line, last body line)."""
    filled = [n for n, text in enumerate(lines, 1) if text]
    if not filled:
        return None, None, 0
    tail = filled[-3:]
    date = next((n for n in reversed(tail) if is_date_line(lines[n - 1]) or (
        DATE.search(lines[n - 1]) and UNIT_LINE.match(DATE.sub("", lines[n - 1]).strip()))), None)
    unit = None
    if date is not None:
        if UNIT_LINE.match(DATE.sub("", lines[date - 1]).strip()):
            unit = date
        else:
            before = [n for n in filled if n < date][-2:]
            unit = next((n for n in reversed(before) if UNIT_LINE.match(lines[n - 1])), None)
    else:
        unit = next((n for n in reversed(filled[-2:])
                     if UNIT_LINE.match(lines[n - 1]) and not numbered(n, lines[n - 1])), None)
    if unit or date:
        return unit, date, min(n for n in (unit, date) if n) - 1
    head = filled[:4]
    for first, second in zip(head, head[1:], strict=False):
        if UNIT_LINE.match(lines[first - 1]) and is_date_line(lines[second - 1]):
            return first, second, filled[-1]
    return None, None, filled[-1]


def read(text: str) -> Outline:
    """Find the title, the 落款 and every heading of the text, with outline levels."""
    lines = [clean(line) for line in text.splitlines()]
    title = find_title(lines)
    unit_line, date_line, body_end = find_signature(lines)
    skip = {title, unit_line, date_line}
    headings = []
    for number, text_ in enumerate(lines[:body_end], 1):
        if not text_ or number in skip:
            continue
        heading = numbered(number, text_)
        if heading is None and plain_heading(text_):
            heading = Heading(number, "plain", None, "", text_, True, text=text_)
        if heading is not None:
            heading.kinds = kinds_of(heading.title)
            headings.append(heading)
    outline = Outline(lines, headings, title, (unit_line, date_line), body_end, assign_levels(headings))
    # An unnumbered heading that names a content is a section of its own. When the report numbers no
    # section 一、 or 第一部分, such headings are its top level and the numbered items sit beneath them.
    plain_top = any(h.kinds for h in headings if h.style == "plain") and not any(
        h.style in ("cn", "chapter") for h in headings)
    for heading in headings:
        if heading.style == "plain":
            heading.level = 1 if heading.kinds else 0
        elif plain_top:
            heading.level += 1
    return outline


@dataclass
class Group:
    """Sibling headings: the numbered items of one level under one parent."""

    items: list[Heading]

    @property
    def styles(self) -> set[str]:
        return {h.style for h in self.items}


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


def section_lines(outline: Outline, heading: Heading) -> range:
    """The lines under a heading: up to the next heading of the same or a higher level."""
    following = (h.line for h in outline.headings if h.line > heading.line and 0 < h.level <= heading.level)
    return range(heading.line, next(following, outline.body_end + 1))


# -- the five contents ----------------------------------------------------------------------------------

def find_elements(outline: Outline) -> dict[str, Element]:
    top = [h for h in outline.headings if h.level == 1]
    inner = [h for h in outline.headings if h.level > 1]
    elements = {}
    for key in ELEMENTS:
        heading = next((h for h in top if key in h.kinds), None)
        if heading is not None:
            elements[key] = Element(True, True, heading.shown, heading.line)
            continue
        heading = next((h for h in inner if key in h.kinds), None)
        if heading is not None:
            elements[key] = Element(True, False, heading.shown, heading.line)
            continue
        elements[key] = paragraph_about(outline, key)
    if not elements["measures_and_results"].as_section:
        # Reports often give each measure a top-level section of its own (一、强化组织领导 … 五、推进依法行政)
        # ahead of the shortcomings and the plan: together they are the measures and results.
        later = [h.line for h in top if h.kinds & {"shortcomings_and_causes", "next_year_plan"}]
        heading = next((h for h in top if not h.kinds and h.style != "plain" and h.line < min(later, default=10**9)),
                       None)
        if heading is not None:
            elements["measures_and_results"] = Element(True, True, heading.shown, heading.line)
    return elements


def paragraph_about(outline: Outline, key: str) -> Element:
    """A body paragraph whose first sentence is about the content: present, but in another section."""
    headings = {h.line for h in outline.headings}
    for number, text in enumerate(outline.lines[:outline.body_end], 1):
        if not text or number in headings or number == outline.title or re.search(r"现将.{0,30}(报告|汇报)如下", text):
            continue
        sentence = re.split(r"[。：:]", text, maxsplit=1)[0]
        if any(re.search(p, sentence) for p in LEAD_PATTERNS[key]):
            return Element(True, False, None, number)
    return Element(False, False, None)


# -- findings, one function each ------------------------------------------------------------------------

def missing_elements(elements: dict[str, Element]) -> list[Finding]:
    return [Finding("missing_element", message("check.missing_element", element=key))
            for key in REQUIRED if not elements[key].present]


def elements_not_sections(elements: dict[str, Element]) -> list[Finding]:
    return [Finding("element_not_a_section", message("check.element_not_a_section", element=key,
                                                     heading=element.heading), element.line)
            for key, element in elements.items()
            if key in REQUIRED and element.present and not element.as_section]


def empty_sections(outline: Outline, elements: dict[str, Element]) -> list[Finding]:
    """A content's own section with nothing under its heading (drafting hints do not count) is not there."""
    findings = []
    for key, element in elements.items():
        heading = next((h for h in outline.headings if h.line == element.line), None)
        if not element.as_section or heading is None or not heading.standalone:
            continue
        body = [outline.lines[n - 1] for n in section_lines(outline, heading) if n != heading.line]
        if not any(text and not HINT_LINE.match(text) for text in body):
            findings.append(Finding("empty_section", message("check.empty_section", element=key,
                                                             heading=element.heading),
                                    element.line, "error" if key in REQUIRED else "warning"))
    return findings


def missing_causes(outline: Outline, elements: dict[str, Element]) -> list[Finding]:
    """The shortcomings must come with their causes: a cause analysed in the section's text, or a heading
    of its own for the causes (四、原因分析). A heading that only promises 原因 is not an analysis."""
    element = elements["shortcomings_and_causes"]
    if not element.present:
        return []
    if any("原因" in h.title for h in outline.headings if h.line > element.line):
        return []
    heading = next((h for h in outline.headings if h.line == element.line), None)
    scope = section_lines(outline, heading) if heading else range(element.line, element.line + 1)
    text = "\n".join(outline.lines[n - 1] for n in scope if not HINT_LINE.match(outline.lines[n - 1])
                     and not (heading and heading.standalone and n == heading.line))
    if heading and not heading.standalone:
        text = text.replace(heading.title, "", 1)
    if CAUSE_WORDS.search(text) or not text.strip():
        return []  # causes given, or nothing written at all (empty_section says so)
    return [Finding("missing_causes", message("check.missing_causes", heading=element.heading), element.line)]


def renumbered(heading: Heading, value: int) -> str:
    """The heading's marker with another number in the same style ("（五）" → "（二）")."""
    shown = str(value) if heading.style in ("arabic_dun", "arabic_dot", "paren_arabic") else (
        chr(ord("①") + value - 1) if heading.style == "circled" else cn_numeral(value))
    return re.sub(r"\d{1,2}|[一二三四五六七八九十]{1,3}|[①-⑳]", shown, heading.marker, count=1)


def cn_numeral(value: int) -> str:
    tens, ones = divmod(value, 10)
    return ((CN[tens - 1] if tens > 1 else "") + ("十" if tens else "") + (CN[ones - 1] if ones else "")) or "〇"


def heading_numbering(outline: Outline) -> list[Finding]:
    findings = []
    for group in outline.groups:
        items = group.items
        if len(group.styles) > 1:
            findings.append(Finding("heading_numbering", message(
                "check.numbering_mixed", sequence="".join(h.marker for h in items), level=items[0].level),
                items[0].line))
        if items[0].value > 1:
            missing = [renumbered(items[0], v) for v in range(1, items[0].value)]
            findings.append(Finding("heading_numbering", message(
                "check.numbering_start", current=items[0].marker, missing=missing), items[0].line))
        for before, after in zip(items, items[1:], strict=False):
            if after.value > before.value + 1:
                missing = [renumbered(after, v) for v in range(before.value + 1, after.value)]
                findings.append(Finding("heading_numbering", message(
                    "check.numbering_skipped", previous=before.marker, current=after.marker, missing=missing),
                    after.line))
            elif after.value <= before.value:
                findings.append(Finding("heading_numbering", message(
                    "check.numbering_repeated", previous=before.marker, current=after.marker), after.line))
    return findings


def placeholders(outline: Outline) -> list[Finding]:
    findings = []
    for number, text in enumerate(outline.lines, 1):
        found = list(dict.fromkeys(m.group(0) for m in PLACEHOLDERS.finditer(text)))
        if found:
            findings.append(Finding("placeholder", message("check.placeholder", texts=found,
                                                           hint=bool(HINT_LINE.match(text))), number))
    return findings


def year_claims(outline: Outline, elements: dict[str, Element]) -> list[tuple[str, int, int, int]]:
    """What each part says the report's year is: (part, line, the year written, the report year it implies)."""
    claims = []
    if outline.title:
        years = set(YEAR.findall(outline.lines[outline.title - 1]))
        if len(years) == 1:
            year = int(years.pop())
            claims.append(("title", outline.title, year, year))
    first_section = min((h.line for h in outline.headings if h.level == 1), default=outline.body_end + 1)
    for number, text in enumerate(outline.lines[:first_section - 1], 1):
        if number in (outline.title, *outline.signature):
            continue
        match = re.match(r"(\d{4})\s*年度?[，,]", text) or re.search(r"现将\s*(\d{4})\s*年", text)
        if match:
            claims.append(("intro", number, int(match[1]), int(match[1])))
    for key in ("measures_and_results", "shortcomings_and_causes", "leaders_duties", "next_year_plan"):
        element = elements[key]
        if not element.as_section:
            continue
        heading = re.sub(r"\d{4}\s*[—–\-~～至到]\s*\d{4}", "", element.heading)  # a span of years is no claim
        years = set(YEAR.findall(heading))
        if len(years) == 1:
            year = int(years.pop())
            claims.append((key, element.line, year, year - 1 if key == "next_year_plan" else year))
    return claims


def report_year(claims: list, year: int | None) -> tuple[int | None, str | None]:
    """The year the report is checked against: given, else its title's, else what most of its parts say."""
    if year is not None:
        return year, "option"
    title = next((c for c in claims if c[0] == "title"), None)
    if title:
        return title[3], "title"
    if not claims:
        return None, None
    counts = Counter(c[3] for c in claims)
    best = max(counts.values())
    return next(c[3] for c in claims if counts[c[3]] == best), "text"


def year_mismatches(outline: Outline, claims: list, year: int | None, source: str | None) -> list[Finding]:
    """Every part that speaks of another year than the report's. When the year asked for is not the one the
    text itself states, that is one finding (wrong file or wrong year), and the parts are checked against
    the text's own year."""
    if year is None:
        return []
    findings = []
    own, _ = report_year(claims, None)
    if source == "option" and own is not None and own != year:
        first = next(c for c in claims if c[3] == own)
        findings.append(Finding("year_mismatch", message("check.year_mismatch", part="asked", stated=own, year=year,
                                                         heading=outline.lines[first[1] - 1]), first[1]))
        year = own
    findings += [Finding("year_mismatch", message("check.year_mismatch", part=part, stated=written, year=year,
                                                  heading=outline.lines[line - 1]), line)
                 for part, line, written, implied in claims if implied != year]
    date_line = outline.signature[1]
    date = parse_date(outline.lines[date_line - 1]) if date_line else None
    if date and date[0] not in (year, year + 1):
        findings.append(Finding("year_mismatch", message("check.year_mismatch", part="date", stated=date[0], year=year,
                                                         heading=outline.lines[date_line - 1]), date_line))
    return findings


def no_signature_date(outline: Outline, year: int | None) -> list[Finding]:
    unit, date = outline.signature
    if unit and date:
        return []
    return [Finding("no_signature_date", message("check.no_signature_date", has_unit=bool(unit), has_date=bool(date),
                                                 year=year), unit or date)]


def unit_mismatch(outline: Outline, unit: str | None) -> list[Finding]:
    """The unit the report is checked for should be the one its title and 落款 name (wrong file, copied
    report); a report with neither should at least mention it."""
    if not unit or not unit.strip():
        return []
    unit = unit.strip()
    core = UNIT_SUFFIX.sub("", unit) or unit
    title = outline.lines[outline.title - 1] if outline.title else ""
    named = re.match(r"^(?:关于)?(?P<unit>(?!关于)[^\d]{2,}?)(\d{4}\s*年|关于|法治)", title)  # the title names a unit
    signed = outline.signature[0]
    findings = []
    if named and not names_unit(named["unit"], core):
        findings.append(Finding("unit_mismatch", message("check.unit_mismatch", unit=unit, found=title), outline.title))
    if signed and not names_unit(outline.lines[signed - 1], core):
        findings.append(Finding("unit_mismatch", message("check.unit_mismatch", unit=unit,
                                                         found=outline.lines[signed - 1]), signed))
    if not (named or signed) and core not in "\n".join(outline.lines):
        findings.append(Finding("unit_mismatch", message("check.unit_mismatch", unit=unit, found=None)))
    return findings


def names_unit(named: str, core: str) -> bool:
    """A title's or 落款's unit is the one checked for when it holds its name, or its name holds it (the
    roster's 中山市三乡镇人民政府 signing as 三乡镇人民政府)."""
    named = UNIT_SUFFIX.sub("", named.strip())
    return core in named or len(named) >= 2 and named in core


def check(text: str, year: int | None = None, unit: str | None = None) -> Report:
    """Check a report's text. `year` is the report's year (default: what its title, else its parts, say);
    `unit` the reporting unit's name, when known."""
    outline = read(text)
    elements = find_elements(outline)
    claims = year_claims(outline, elements)
    year, source = report_year(claims, year)
    findings = [*missing_elements(elements), *no_signature_date(outline, year), *unit_mismatch(outline, unit),
                *elements_not_sections(elements), *empty_sections(outline, elements),
                *missing_causes(outline, elements), *heading_numbering(outline), *placeholders(outline),
                *year_mismatches(outline, claims, year, source)]
    findings.sort(key=lambda f: f.line or 0)
    return Report(elements, findings, year, source)
