"""The compliance check of a 法治政府建设年度报告: does the text hold the five contents that 厅字〔2019〕28号
requires, and is it fit for a reviewer (heading numbers, placeholders, years, 落款)? It says so before a
reviewer has to.

Pure functions on the text (no database, no Prefect), so the CLI, the drafting flow and the tests share
them. The text is read by documents.layout (title, headings with their levels and the contents they
announce, 落款, date), the same reading the renderings use. Messages are Chinese and come from
templates/cli/messages.j2 (check__*).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from core.texts import message
from documents.layout import CN, Heading, Layout, parse_date, read

ELEMENTS = ("measures_and_results", "shortcomings_and_causes", "leaders_duties", "next_year_plan", "other_matters")
REQUIRED = ELEMENTS[:4]  # 其他需要报告的情况 is reported only when there is something to report

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


def section_lines(layout: Layout, heading: Heading) -> range:
    """The lines under a heading: up to the next heading of the same or a higher level."""
    following = (h.line for h in layout.headings if h.line > heading.line and 0 < h.level <= heading.level)
    return range(heading.line, next(following, layout.body_end + 1))


# -- the five contents ----------------------------------------------------------------------------------

def find_elements(layout: Layout) -> dict[str, Element]:
    top = [h for h in layout.headings if h.level == 1]
    inner = [h for h in layout.headings if h.level > 1]
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
        elements[key] = paragraph_about(layout, key)
    if not elements["measures_and_results"].as_section:
        # Reports often give each measure a top-level section of its own (一、强化组织领导 … 五、推进依法行政)
        # ahead of the shortcomings and the plan: together they are the measures and results.
        later = [h.line for h in top if h.kinds & {"shortcomings_and_causes", "next_year_plan"}]
        heading = next((h for h in top if not h.kinds and h.style != "plain" and h.line < min(later, default=10**9)),
                       None)
        if heading is not None:
            elements["measures_and_results"] = Element(True, True, heading.shown, heading.line)
    return elements


def paragraph_about(layout: Layout, key: str) -> Element:
    """A body paragraph whose first sentence is about the content: present, but in another section."""
    headings = {h.line for h in layout.headings}
    for number, text in enumerate(layout.lines[:layout.body_end], 1):
        if not text or number in headings or number in layout.frame or re.search(r"现将.{0,30}(报告|汇报)如下", text):
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


def empty_sections(layout: Layout, elements: dict[str, Element]) -> list[Finding]:
    """A content's own section with nothing under its heading (drafting hints do not count) is not there."""
    findings = []
    for key, element in elements.items():
        heading = next((h for h in layout.headings if h.line == element.line), None)
        if not element.as_section or heading is None or not heading.standalone:
            continue
        body = [layout.lines[n - 1] for n in section_lines(layout, heading) if n != heading.line]
        if not any(text and not HINT_LINE.match(text) for text in body):
            findings.append(Finding("empty_section", message("check.empty_section", element=key,
                                                             heading=element.heading),
                                    element.line, "error" if key in REQUIRED else "warning"))
    return findings


def missing_causes(layout: Layout, elements: dict[str, Element]) -> list[Finding]:
    """The shortcomings must come with their causes: a cause analysed in the section's text, or a heading
    of its own for the causes (四、原因分析). A heading that only promises 原因 is not an analysis."""
    element = elements["shortcomings_and_causes"]
    if not element.present:
        return []
    if any("原因" in h.title for h in layout.headings if h.line > element.line):
        return []
    heading = next((h for h in layout.headings if h.line == element.line), None)
    scope = section_lines(layout, heading) if heading else range(element.line, element.line + 1)
    text = "\n".join(layout.lines[n - 1] for n in scope if not HINT_LINE.match(layout.lines[n - 1])
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


def heading_numbering(layout: Layout) -> list[Finding]:
    findings = []
    for group in layout.groups:
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


def placeholders(layout: Layout) -> list[Finding]:
    findings = []
    for number, text in enumerate(layout.lines, 1):
        found = list(dict.fromkeys(m.group(0) for m in PLACEHOLDERS.finditer(text)))
        if found:
            findings.append(Finding("placeholder", message("check.placeholder", texts=found,
                                                           hint=bool(HINT_LINE.match(text))), number))
    return findings


def year_claims(layout: Layout, elements: dict[str, Element]) -> list[tuple[str, int, int, int]]:
    """What each part says the report's year is: (part, line, the year written, the report year it implies)."""
    claims = []
    if layout.title:
        years = set(YEAR.findall(layout.title_text))
        if len(years) == 1:
            year = int(years.pop())
            claims.append(("title", layout.title[0].line, year, year))
    first_section = min((h.line for h in layout.headings if h.level == 1), default=layout.body_end + 1)
    for number, text in enumerate(layout.lines[:first_section - 1], 1):
        if number in layout.frame:
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


def year_mismatches(layout: Layout, claims: list, year: int | None, source: str | None) -> list[Finding]:
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
                                                         heading=layout.lines[first[1] - 1]), first[1]))
        year = own
    findings += [Finding("year_mismatch", message("check.year_mismatch", part=part, stated=written, year=year,
                                                  heading=layout.lines[line - 1]), line)
                 for part, line, written, implied in claims if implied != year]
    date = parse_date(layout.date.text) if layout.date else None
    if date and date[0] not in (year, year + 1):
        findings.append(Finding("year_mismatch", message("check.year_mismatch", part="date", stated=date[0], year=year,
                                                         heading=layout.date.text), layout.date.line))
    return findings


def no_signature_date(layout: Layout, year: int | None) -> list[Finding]:
    if layout.signature and layout.date:
        return []
    first = (*layout.signature, layout.date)[0]
    return [Finding("no_signature_date", message("check.no_signature_date", has_unit=bool(layout.signature),
                                                 has_date=bool(layout.date), year=year), first and first.line)]


def unit_mismatch(layout: Layout, unit: str | None) -> list[Finding]:
    """The unit the report is checked for should be the one its title and 落款 name (wrong file, copied
    report); a report with neither should at least mention it."""
    if not unit or not unit.strip():
        return []
    unit = unit.strip()
    core = UNIT_SUFFIX.sub("", unit) or unit
    title = layout.title_text
    named = re.match(r"^(?:关于)?(?P<unit>(?!关于)[^\d]{2,}?)(\d{4}\s*年|关于|法治)", title)  # the title names a unit
    signed = "、".join(part.text for part in layout.signature)
    findings = []
    if named and not names_unit(named["unit"], core):
        findings.append(Finding("unit_mismatch", message("check.unit_mismatch", unit=unit, found=title),
                                layout.title[0].line))
    if signed and not any(names_unit(part.text, core) for part in layout.signature):
        findings.append(Finding("unit_mismatch", message("check.unit_mismatch", unit=unit, found=signed),
                                layout.signature[0].line))
    if not (named or signed) and core not in "\n".join(layout.lines):
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
    layout = read(text)
    elements = find_elements(layout)
    claims = year_claims(layout, elements)
    year, source = report_year(claims, year)
    findings = [*missing_elements(elements), *no_signature_date(layout, year), *unit_mismatch(layout, unit),
                *elements_not_sections(elements), *empty_sections(layout, elements),
                *missing_causes(layout, elements), *heading_numbering(layout), *placeholders(layout),
                *year_mismatches(layout, claims, year, source)]
    findings.sort(key=lambda f: f.line or 0)
    return Report(elements, findings, year, source)
