"""The compliance check (`reportchain check`, documents/check.py): what it says about a report's five
required contents, its headings, placeholders, years and 落款 — on our own fixtures (tests/documents/)
and on the five real reports in shared/seeds, where it must say what a careful reviewer would."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from docx import Document
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls
from typer.testing import CliRunner, Result

from documents.check import ELEMENTS, check
from documents.reading import UnreadableDocument, read_draft
from reportchain.cli import app
from tests.conftest import SEEDS

FIXTURES = Path(__file__).parent / "documents"


def fixture(name: str) -> str:
    return read_draft(name, (FIXTURES / name).read_bytes()).text


def codes(report) -> list[tuple[str, int | None]]:
    return [(f.code, f.line) for f in report.findings]


def code_set(report) -> set[str]:
    return {f.code for f in report.findings}


def elements(report) -> dict[str, tuple[bool, bool, str | None]]:
    return {key: (e.present, e.as_section, e.heading) for key, e in report.elements.items()}


def cli(*args) -> Result:
    return CliRunner().invoke(app, ["check", *(str(a) for a in args)], env={"COLUMNS": "250"})


COMPLETE = fixture("complete.md")


def replaced(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new)


# --- a complete report -----------------------------------------------------------------------------

def test_a_complete_report_has_every_content_as_its_own_section_and_no_findings():
    report = check(COMPLETE, unit="野鹤镇")
    assert elements(report) == {
        "measures_and_results": (True, True, "一、2026年推进法治政府建设的主要举措和成效"),
        "shortcomings_and_causes": (True, True, "三、存在的不足和原因"),
        "leaders_duties": (True, True, "二、党政主要负责人履行推进法治建设第一责任人职责情况"),
        "next_year_plan": (True, True, "四、2027年推进法治政府建设的主要安排"),
        "other_matters": (True, True, "五、其他需要报告的情况"),
    }
    assert report.findings == []
    assert (report.year, report.year_source) == (2026, "title")


def test_the_json_has_exactly_the_agreed_keys():
    data = check(fixture("placeholders.txt")).as_json()
    assert set(data) == {"elements", "findings"}
    assert list(data["elements"]) == list(ELEMENTS)
    assert all(set(e) == {"present", "as_section", "heading"} for e in data["elements"].values())
    assert data["findings"] and all(set(f) == {"code", "severity", "message", "line"} for f in data["findings"])
    assert {f["severity"] for f in data["findings"]} <= {"error", "warning"}


def test_a_report_without_other_matters_gets_no_finding_for_that_optional_content():
    report = check(COMPLETE.split("## 五、")[0] + "野鹤镇人民政府\n2027年1月10日\n")
    assert report.elements["other_matters"].present is False
    assert report.findings == []


# --- missing_element and element_not_a_section ----------------------------------------------------------

def test_missing_contents_are_errors_and_a_word_mentioned_in_a_paragraph_is_no_section():
    report = check(fixture("missing.txt"))  # says 第一责任人 and 下一步 inside paragraphs, has no such sections
    assert codes(report) == [("missing_element", None), ("missing_element", None)]
    assert [e.severity for e in report.findings] == ["error", "error"]
    assert not report.elements["leaders_duties"].present and not report.elements["next_year_plan"].present
    assert "党政主要负责人履行推进法治建设第一责任人职责" in report.findings[0].message
    assert "下一年度推进法治政府建设的主要安排" in report.findings[1].message


def test_contents_folded_into_another_section_are_present_with_a_warning():
    report = check(fixture("folded.txt"), unit="青山县司法局")
    assert elements(report) == {
        "measures_and_results": (True, True, "一、主要工作及成效"),
        "shortcomings_and_causes": (True, False, None),  # a paragraph at the end of the measures
        "leaders_duties": (True, False, "（一）局党组书记、局长认真履行推进法治建设第一责任人职责"),
        "next_year_plan": (True, True, "二、2027年工作打算"),
        "other_matters": (False, False, None),
    }
    assert codes(report) == [("element_not_a_section", 6), ("element_not_a_section", 9), ("missing_causes", 9)]
    assert not report.errors
    assert "没有单列成一部分" in report.findings[0].message
    assert "“（一）局党组书记、局长认真履行推进法治建设第一责任人职责”" in report.findings[0].message


HEADING_VARIANTS = [  # (element, heading in place of the fixture's, the heading the check reports)
    ("shortcomings_and_causes", "## 三、存在的问题", "三、存在的问题"),
    ("shortcomings_and_causes", "## 三、存在的问题与不足", "三、存在的问题与不足"),
    ("shortcomings_and_causes", "三、2026年推进法治政府建设存在的不足", "三、2026年推进法治政府建设存在的不足"),
    ("shortcomings_and_causes", "三．问题和不足", "三．问题和不足"),
    ("shortcomings_and_causes", "**三、短板和差距**", "三、短板和差距"),
    ("next_year_plan", "## 四、下一步工作打算", "四、下一步工作打算"),
    ("next_year_plan", "四、2027年工作思路与计划", "四、2027年工作思路与计划"),
    ("next_year_plan", "四、改进措施", "四、改进措施"),
    ("next_year_plan", "四、下一年度推进法治政府建设的主要安排", "四、下一年度推进法治政府建设的主要安排"),
    ("next_year_plan", "四、今后工作打算", "四、今后工作打算"),
    ("measures_and_results", "## 一、2026年法治建设主要工作及成效", "一、2026年法治建设主要工作及成效"),
    ("measures_and_results", "一、法治建设工作落实情况", "一、法治建设工作落实情况"),
    ("leaders_duties", "## 二、党政主要负责人履行推进法治建设第一责任人职责，加强法治政府建设的有关情况",
     "二、党政主要负责人履行推进法治建设第一责任人职责，加强法治政府建设的有关情况"),
    ("leaders_duties", "（二）主要负责人履行法治建设职责情况", None),  # a (二) among 一、三、: not top level
]
ORIGINAL = {"measures_and_results": "## 一、2026年推进法治政府建设的主要举措和成效",
            "leaders_duties": "## 二、党政主要负责人履行推进法治建设第一责任人职责情况",
            "shortcomings_and_causes": "## 三、存在的不足和原因",
            "next_year_plan": "## 四、2027年推进法治政府建设的主要安排"}


@pytest.mark.parametrize(("element", "heading", "shown"), HEADING_VARIANTS, ids=[v[1] for v in HEADING_VARIANTS])
def test_heading_variants_are_recognised(element, heading, shown):
    report = check(replaced(COMPLETE, ORIGINAL[element], heading))
    found = report.elements[element]
    assert found.present
    if shown is None:
        assert (found.as_section, found.heading) == (False, "（二）主要负责人履行法治建设职责情况")
        assert "element_not_a_section" in code_set(report)
    else:
        assert (found.as_section, found.heading) == (True, shown)
        assert report.findings == []


def test_parts_numbered_as_chapters_are_sections():
    text = COMPLETE
    for number in "一二三四五":
        text = replaced(text, f"## {number}、", f"第{number}部分 ")
    report = check(text)
    assert elements(report)["measures_and_results"] == (True, True, "第一部分 2026年推进法治政府建设的主要举措和成效")
    assert elements(report)["next_year_plan"] == (True, True, "第四部分 2027年推进法治政府建设的主要安排")
    assert report.findings == []


def test_unnumbered_headings_are_sections():
    text = COMPLETE
    for old in ("## 一、", "## 二、", "## 三、", "## 四、", "## 五、"):
        text = replaced(text, old, "## ")
    text = replaced(text, "## 三、存在的不足和原因".replace("三、", ""), "存在的主要问题")  # a bare line, no Markdown
    report = check(text)
    assert elements(report)["shortcomings_and_causes"] == (True, True, "存在的主要问题")
    assert all(e.as_section for e in report.elements.values())
    assert report.findings == []


def test_each_measure_as_a_top_level_section_counts_as_the_measures():
    text = ("一、强化组织领导，提升依法执政水平\n（一）成立法治政府建设领导小组。\n"
            "二、推进依法行政，提升决策能力\n（一）完善重大行政决策程序。\n"
            "三、党政主要负责人履行推进法治建设第一责任人职责情况\n主要负责人带头学法。\n"
            "四、存在的问题\n一是队伍薄弱，原因是编制少。\n五、下一步工作打算\n加强队伍建设。\n"
            "野鹤镇人民政府\n2027年1月10日\n")
    report = check(text)
    assert elements(report)["measures_and_results"] == (True, True, "一、强化组织领导，提升依法执政水平")
    assert report.findings == []


def test_an_unfilled_drafting_skeleton_is_refused_for_its_empty_sections_hints_and_date():
    report = check(fixture("skeleton.txt"), year=2026, unit="野鹤镇")
    assert codes(report) == [("placeholder", 3), ("empty_section", 5), ("placeholder", 6), ("empty_section", 8),
                             ("placeholder", 9), ("empty_section", 11), ("placeholder", 12), ("empty_section", 14),
                             ("placeholder", 15), ("empty_section", 17), ("placeholder", 20)]
    severities = {(f.code, f.line): f.severity for f in report.findings}
    assert severities[("empty_section", 5)] == "error" and severities[("empty_section", 17)] == "warning"
    messages = {f.line: f.message for f in report.findings}
    assert messages[3] == "这一行是起草模板中的写作提示，定稿前请删除。"
    assert "“二、存在的不足和原因”下面还没有内容" in messages[8]
    assert "请写“无”" in messages[17]
    assert "“2027年  月  日”" in messages[20]
    assert all(e.present and e.as_section for e in report.elements.values())  # the headings are all there


def test_a_section_with_only_sub_headings_is_not_empty():
    text = replaced(COMPLETE, "一是持续提升依法行政能力；二是加强执法队伍建设；三是深化基层依法治理。",
                    "（一）持续提升依法行政能力\n（二）加强执法队伍建设")
    assert check(text).findings == []


# --- missing_causes ---------------------------------------------------------------------------------------

def test_shortcomings_without_their_causes_are_pointed_out():
    text = replaced(COMPLETE, "究其原因，主要是专职法治工作人员编制少、流动大，系统培训不足。", "")
    report = check(text)
    assert codes(report) == [("missing_causes", 17)]
    assert "“三、存在的不足和原因”" in report.findings[0].message and "原因" in report.findings[0].message


@pytest.mark.parametrize("causes", ["主要原因是编制少。", "由于编制少、流动大，力量不足。",
                                    "因人员流动频繁，队伍不稳定。", "这些问题的根源在于培训不足。",
                                    "经费保障不足导致普法形式单一。"])
def test_any_analysis_of_why_counts_as_causes(causes):
    text = replaced(COMPLETE, "究其原因，主要是专职法治工作人员编制少、流动大，系统培训不足。", causes)
    assert "missing_causes" not in code_set(check(text))


def test_a_separate_section_for_the_causes_counts():
    text = replaced(COMPLETE, "究其原因，主要是专职法治工作人员编制少、流动大，系统培训不足。",
                    "\n（一）主要问题\n队伍薄弱。\n（二）原因分析\n编制少、流动大。")
    assert "missing_causes" not in code_set(check(text))


# --- heading_numbering -------------------------------------------------------------------------------------

def test_mixed_skipped_and_repeated_heading_numbers_are_warned_about():
    report = check(fixture("numbering.txt"))
    assert codes(report) == [("heading_numbering", 3), ("heading_numbering", 5), ("heading_numbering", 11)]
    mixed, skipped, repeated = (f.message for f in report.findings)
    assert "“1、二、三、4、”" in mixed and "“一、二、三、”" in mixed
    assert "从“（一）”跳到了“（三）”" in skipped and "缺少“（二）”" in skipped
    assert "“2.”" in repeated and "重复" in repeated
    assert not report.errors


def test_sub_lists_that_start_again_under_each_heading_are_fine():
    text = replaced(COMPLETE, "（三）深化法治宣传教育。",
                    "1.开展普法活动。\n2.开展宪法宣传。\n（三）深化法治宣传教育。\n1.送法下乡。")
    assert "heading_numbering" not in code_set(check(text))


def test_a_first_heading_that_is_not_number_one_is_warned_about():
    text = replaced(COMPLETE, "## 一、2026年推进", "## 二、2026年推进")
    report = check(text)
    assert ("heading_numbering", 5) in codes(report)
    assert any("缺少“一、”" in f.message for f in report.findings)


# --- placeholder ---------------------------------------------------------------------------------------

def test_placeholders_left_in_the_text_are_errors_with_their_lines():
    report = check(fixture("placeholders.txt"))
    found = {f.line: f.message for f in report.findings if f.code == "placeholder"}
    assert sorted(found) == [1, 4, 6, 10, 12, 13]
    assert "“××”“【待补充】”" in found[4]
    assert "“＿＿＿＿”“（此处填写会议次数）”" in found[6]
    assert "“……”" in found[10] and "“X月”“X日”" in found[13]
    assert all(f.severity == "error" for f in report.findings if f.code == "placeholder")
    assert "no_signature_date" not in code_set(report)  # the date is there, only not filled in


@pytest.mark.parametrize("sentence", ["机制有待补充完善。", "面积为3×4米。", "二〇〇八年建成。", "参加Xbox活动。",
                                      "村民张某某与李某某发生纠纷。", "“12·4”国家宪法日。"])
def test_ordinary_text_is_not_taken_for_a_placeholder(sentence):
    text = replaced(COMPLETE, "开展“八五”普法宣传活动12场次。", sentence)
    assert "placeholder" not in code_set(check(text))


# --- year_mismatch ---------------------------------------------------------------------------------------

def test_a_plan_for_the_report_year_and_an_old_date_are_year_mismatches():
    report = check(fixture("years.txt"))
    assert (report.year, report.year_source) == (2026, "title")
    assert codes(report) == [("year_mismatch", 11), ("year_mismatch", 15)]
    plan, date = (f.message for f in report.findings)
    assert "“四、2026年工作安排”" in plan and "应为2027年" in plan
    assert "“2025年1月10日”" in date
    assert all(f.severity == "error" for f in report.findings)


def test_a_report_of_another_year_than_the_one_asked_for_is_one_mismatch():
    report = check(COMPLETE, year=2027)
    assert codes(report) == [("year_mismatch", 1)]
    assert "标题写的是2026年度，本次按2027年度检查，请确认文件或年度是否选对" in report.findings[0].message
    assert (report.year, report.year_source) == (2027, "option")
    untitled = check(COMPLETE.split("\n", 1)[1], year=2027)
    assert codes(untitled) == [("year_mismatch", 2)]
    assert "报告写的是2026年度" in untitled.findings[0].message


def test_a_year_asked_for_that_the_report_states_gives_no_finding():
    assert check(COMPLETE, year=2026).findings == []


def test_without_a_title_the_year_most_parts_state_is_the_report_year():
    text = replaced(COMPLETE, "# 野鹤镇2026年度法治政府建设年度报告\n", "")
    text = replaced(text, "四、2027年推进", "四、2026年推进")
    report = check(text)
    assert (report.year, report.year_source) == (2026, "text")
    assert codes(report) == [("year_mismatch", 20)]


def test_a_report_that_states_no_year_is_not_checked_for_years():
    text = "\n".join(line for line in COMPLETE.splitlines() if "2026" not in line and "2027" not in line)
    report = check(text + "\n野鹤镇人民政府\n2027年1月10日\n")
    assert report.year is None and "year_mismatch" not in code_set(report)


# --- no_signature_date ---------------------------------------------------------------------------------

BODY = COMPLETE.split("野鹤镇人民政府")[0]


@pytest.mark.parametrize(("ending", "says"), [
    ("", "文末没有落款单位和成文日期"),
    ("2027年1月10日\n", "成文日期前面缺少落款单位"),
    ("野鹤镇人民政府\n", "落款单位后面缺少成文日期（如“2027年1月10日”）"),
])
def test_a_missing_signature_or_date_is_warned_about(ending, says):
    report = check(BODY + ending)
    [finding] = report.findings
    assert (finding.code, finding.severity) == ("no_signature_date", "warning")
    assert says in finding.message


@pytest.mark.parametrize("ending", ["野鹤镇人民政府\n2027年1月\n",
                                    "中共野鹤镇委员会　野鹤镇人民政府\n二〇二七年一月十日\n",
                                    "野鹤镇人民政府（盖章）\n\n2027年1月10日\n", "野鹤镇人民政府 2027年1月10日\n",
                                    "野鹤镇人民政府\n2027年1月10日\n（此件公开发布）\n"])
def test_signature_and_date_forms_are_accepted(ending):
    assert check(BODY + ending).findings == []


def test_a_signature_above_the_body_as_published_pages_show_it_is_accepted():
    text = "野鹤镇人民政府\n2027年1月10日\n" + COMPLETE.split("\n", 1)[1].split("野鹤镇人民政府\n2027")[0]
    assert "no_signature_date" not in code_set(check(text))


# --- unit_mismatch -------------------------------------------------------------------------------------

def test_a_report_naming_another_unit_is_an_error():
    report = check(COMPLETE, unit="松源镇")  # the title and the 落款 both name 野鹤镇
    assert codes(report) == [("unit_mismatch", 1), ("unit_mismatch", 29)] and report.errors
    assert "“野鹤镇人民政府”中没有“松源镇”" in report.errors[1].message
    report = check(COMPLETE.split("\n", 1)[1].replace("野鹤镇人民政府\n2027", "2027"), unit="松源镇")
    assert ("unit_mismatch", None) in codes(report) and report.errors  # no title, no 落款, no 松源镇
    report = check(replaced(COMPLETE, "野鹤镇人民政府\n2027", "松源镇人民政府\n2027"), unit="野鹤镇人民政府")
    assert codes(report) == [("unit_mismatch", 29)] and report.errors


def test_a_report_signed_with_a_shorter_or_longer_form_of_its_units_name_is_its_own():
    assert check(COMPLETE, unit="青山县野鹤镇人民政府").findings == []
    assert check(replaced(COMPLETE, "野鹤镇人民政府\n2027", "青山县野鹤镇人民政府\n2027"), unit="野鹤镇").findings == []


# --- reading files: encodings, Word, bad files -------------------------------------------------------

def test_a_gbk_text_file_is_checked_like_its_utf8_original():
    assert (FIXTURES / "complete_gbk.txt").read_bytes().decode("gbk")  # really GBK, not UTF-8
    report = check(fixture("complete_gbk.txt"), unit="野鹤镇")
    assert report.as_json() == check(COMPLETE, unit="野鹤镇").as_json()


def word(paragraphs: list[tuple[str, int | None]], table: list[list[str]] | None = None) -> bytes:
    """A Word file; paragraphs with a level get Word's automatic numbering (一、 then （一）)."""
    doc = Document()
    numbering = doc.part.numbering_part.element
    numbering.insert(0, parse_xml(
        f'<w:abstractNum {nsdecls("w")} w:abstractNumId="90">'
        '<w:lvl w:ilvl="0"><w:start w:val="1"/><w:numFmt w:val="chineseCounting"/><w:lvlText w:val="%1、"/>'
        '<w:suff w:val="nothing"/></w:lvl>'
        '<w:lvl w:ilvl="1"><w:start w:val="1"/><w:numFmt w:val="chineseCounting"/><w:lvlText w:val="（%2）"/>'
        '</w:lvl></w:abstractNum>'))
    numbering.append(parse_xml(f'<w:num {nsdecls("w")} w:numId="90"><w:abstractNumId w:val="90"/></w:num>'))
    for text, level in paragraphs:
        paragraph = doc.add_paragraph(text)
        if level is not None:
            num_pr = paragraph._p.get_or_add_pPr().get_or_add_numPr()
            num_pr.get_or_add_ilvl().val = level
            num_pr.get_or_add_numId().val = 90
        if table and text.startswith("全年"):
            grid = doc.add_table(rows=len(table), cols=len(table[0]))
            for r, row in enumerate(table):
                for c, value in enumerate(row):
                    grid.cell(r, c).text = value
    buffer = io.BytesIO()
    doc.save(buffer)
    return buffer.getvalue()


WORD_REPORT = [
    ("野鹤镇2026年度法治政府建设年度报告", None),
    ("2026年推进法治政府建设的主要举措和成效", 0),
    ("健全依法决策机制。重大决策严格履行法定程序。", 1),
    ("规范行政执法行为。落实行政执法三项制度。", 1),
    ("全年主要数据如下：", None),
    ("党政主要负责人履行推进法治建设第一责任人职责情况", 0),
    ("主要负责人带头学法，亲自部署重要工作。", None),
    ("存在的不足和原因", 0),
    ("一是队伍力量薄弱；二是普法形式单一。主要原因是编制少、经费不足。", None),
    ("2027年推进法治政府建设的主要安排", 0),
    ("加强队伍建设，创新普法形式。", None),
    ("野鹤镇人民政府", None),
    ("2027年1月10日", None),
]


def test_word_automatic_numbering_and_tables_come_out_as_lines_in_document_order():
    draft = read_draft("报告.docx", word(WORD_REPORT, table=[["审查合同", "23件"], ["普法活动", "12场次"]]))
    lines = draft.text.splitlines()
    assert lines[1:5] == ["一、2026年推进法治政府建设的主要举措和成效",
                          "（一）健全依法决策机制。重大决策严格履行法定程序。",
                          "（二）规范行政执法行为。落实行政执法三项制度。", "全年主要数据如下："]
    assert lines[5:7] == ["审查合同\t23件", "普法活动\t12场次"]  # the table where it stands, not at the end
    assert lines[7] == "二、党政主要负责人履行推进法治建设第一责任人职责情况"
    assert "三、存在的不足和原因" in lines and "四、2027年推进法治政府建设的主要安排" in lines


def test_a_word_report_with_automatic_numbering_is_checked_like_typed_numbers():
    report = check(read_draft("报告.docx", word(WORD_REPORT)).text)
    assert all(e.present and e.as_section for key, e in report.elements.items() if key != "other_matters")
    assert report.elements["leaders_duties"].heading == "二、党政主要负责人履行推进法治建设第一责任人职责情况"
    assert report.findings == []


def test_automatic_numbers_read_exactly_as_typed_ones():
    typed, top, sub = [], 0, 0
    for text, level in WORD_REPORT:
        if level == 0:
            top, sub = top + 1, 0
            text = f"{'一二三四'[top - 1]}、{text}"
        elif level == 1:
            sub += 1
            text = f"（{'一二三四'[sub - 1]}）{text}"
        typed.append((text, None))
    assert read_draft("打字.docx", word(typed)).text == read_draft("自动.docx", word(WORD_REPORT)).text


def test_a_corrupt_word_file_is_refused_as_unreadable():
    with pytest.raises(UnreadableDocument) as caught:
        read_draft("corrupt.docx", (FIXTURES / "corrupt.docx").read_bytes())
    assert caught.value.code == "corrupt"


# --- the CLI -----------------------------------------------------------------------------------------

def test_cli_lists_each_content_and_the_findings_and_exits_0_with_warnings_only():
    result = cli(FIXTURES / "folded.txt")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "报告年度：2026年（据标题）" in out
    assert "✓ 已单列" in out and "仅在其他部分中提及" in out and "未单列（可选）" in out
    assert "第9行的段落" in out  # the shortcomings, which have no heading
    assert "第6行【提醒】“党政主要负责人履职情况”只在" in out
    assert "第9行【提醒】这一段列出了不足，但没有写明原因" in out
    assert "没有错误，另有 3 处提醒" in out


def test_cli_exits_1_when_there_are_errors():
    result = cli(FIXTURES / "missing.txt")
    assert result.exit_code == 1
    assert "✗ 缺少" in result.output and "全文【错误】报告中没有找到" in result.output
    assert "共有 2 处错误" in result.output
    assert "Traceback" not in result.output


def test_cli_json_is_the_report_and_the_exit_code_still_tells_errors():
    result = cli(FIXTURES / "years.txt", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == check(fixture("years.txt")).as_json()
    ok = cli(FIXTURES / "complete.md", "--json", "--year", "2026", "--unit", "野鹤镇")
    assert ok.exit_code == 0 and json.loads(ok.stdout)["findings"] == []


def test_cli_year_and_unit_options_are_used():
    result = cli(FIXTURES / "complete.md", "--year", "2027", "--unit", "松源镇", "--json")
    assert result.exit_code == 1
    assert [f["code"] for f in json.loads(result.stdout)["findings"]] == ["unit_mismatch", "year_mismatch",
                                                                          "unit_mismatch"]


@pytest.mark.parametrize(("name", "says"), [
    ("corrupt.docx", "文件“corrupt.docx”已损坏或无法读取"),
    ("report.pdf", "不支持的文件类型“.pdf”（report.pdf）"),
    ("absent.docx", "找不到文件："),
])
def test_cli_refuses_a_bad_file_with_a_chinese_message(name, says):
    result = cli(FIXTURES / name)
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert says in result.output and "Traceback" not in result.output


def test_help_says_what_the_exit_codes_mean():
    result = CliRunner().invoke(app, ["check", "--help"], env={"COLUMNS": "250"})
    assert result.exit_code == 0
    assert "五项必备内容" in result.output and "退出码：0 表示没有错误" in result.output


CHECK_PROBE = """
import json, sys
from typer.testing import CliRunner
from reportchain.cli import app
result = CliRunner().invoke(app, ["check", sys.argv[1], "--json"])
print(json.dumps({"code": result.exit_code, "out": result.stdout,
                  "prefect": sorted(m for m in sys.modules if m.split(".")[0] == "prefect")}))
"""


def test_check_neither_starts_prefect_nor_touches_the_database(tmp_path):
    env = {**os.environ, "REPORTCHAIN_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/x"}
    env.pop("PREFECT_API_URL", None)
    proc = subprocess.run([sys.executable, "-c", CHECK_PROBE, str(FIXTURES / "complete.md")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    probe = json.loads(proc.stdout)
    assert probe["prefect"] == []
    assert probe["code"] == 0 and json.loads(probe["out"])["findings"] == []
    assert list(tmp_path.iterdir()) == []  # no database file, no mail folder


# --- the five real reports ---------------------------------------------------------------------------

SEED_EXPECTED = {
    # 野鹤镇, no year stated: five measure sections, 第一责任人 as (一) of 一, no causes, no 落款
    "000_f280fe17ca84793a.txt": (
        {"measures_and_results": (True, True, "一、强化组织领导,提升依法执政水平"),
         "shortcomings_and_causes": (True, True, "六、存在的问题"),
         "leaders_duties": (True, False, "(一)镇党委书记、镇长认真履行法治政府建设第一责任人职责"),
         "next_year_plan": (True, True, "七、下一步工作打算"),
         "other_matters": (False, False, None)},
        [("no_signature_date", None), ("element_not_a_section", 3), ("missing_causes", 24)]),
    # 松源镇 2023: all four as sections, first-level numbers 1、二、三、4、5、; causes given (因地域所限…)
    "001_aa5cc9e82bc011ed.txt": (
        {"measures_and_results": (True, True, "三、推进法治政府建设的主要举措和成效"),
         "shortcomings_and_causes": (True, True, "4、 推进法治政府建设存在的不足和原因"),
         "leaders_duties": (True, True, "二、党政主要负责人履行推进法治建设第一责任人职责，加强法治政府建设"),
         "next_year_plan": (True, True, "5、 下一年度推进法治政府建设的主要安排"),
         "other_matters": (False, False, None)},
        [("heading_numbering", 2)]),
    # 三乡镇 2024 (a web page): the model structure; causes in the text (致使…); no 落款 in the page body
    "002_d37acb428d33b8ca.txt": (
        {"measures_and_results": (True, True, "一、2024年推进法治政府建设的主要举措和成效"),
         "shortcomings_and_causes": (True, True, "三、2024年推进法治政府建设存在的不足"),
         "leaders_duties": (True, True,
                            "二、2024年党政主要负责人履行推进法治建设第一责任人职责,加强法治政府建设的有关情况"),
         "next_year_plan": (True, True, "四、2025年推进法治政府建设的主要安排"),
         "other_matters": (False, False, None)},
        [("no_signature_date", None)]),
    # 上社镇 2025: 第一责任人 as 2. under (一); 1. then 3. twice; no causes; no 落款
    "003_b15026bdeddbedce.txt": (
        {"measures_and_results": (True, True, "一、2025年法治建设主要工作及成效"),
         "shortcomings_and_causes": (True, True, "二、存在的问题与不足"),
         "leaders_duties": (True, False, "2.严格落实第一责任人职责"),
         "next_year_plan": (True, True, "三、2026年工作思路与计划"),
         "other_matters": (False, False, None)},
        [("no_signature_date", None), ("element_not_a_section", 6), ("heading_numbering", 32),
         ("heading_numbering", 44), ("missing_causes", 46)]),
    # 徂汶景区 2023: 落款 above the body; 第一责任 as 1. under (一); 改进措施 is the plan; no causes
    "004_886a198405337fe9.txt": (
        {"measures_and_results": (True, True, "一、法治建设工作落实情况"),
         "shortcomings_and_causes": (True, True, "二、存在问题"),
         "leaders_duties": (True, False, "1.压实第一责任"),
         "next_year_plan": (True, True, "三、改进措施"),
         "other_matters": (False, False, None)},
        [("element_not_a_section", 6), ("missing_causes", 20)]),
}
SEED_YEARS = {"000_f280fe17ca84793a.txt": None, "001_aa5cc9e82bc011ed.txt": 2023, "002_d37acb428d33b8ca.txt": 2024,
              "003_b15026bdeddbedce.txt": 2025, "004_886a198405337fe9.txt": 2023}


def seeds_or_skip() -> Path:
    if not SEEDS.is_dir():
        reason = f"the real reports are not at {SEEDS} (shared/seeds beside the project)"
        if os.environ.get("CI"):
            pytest.fail(reason + "; CI must run the corpus test")
        pytest.skip(reason)
    return SEEDS


def test_every_seed_report_has_its_expected_reading():
    assert sorted(p.name for p in seeds_or_skip().glob("*.txt")) == sorted(SEED_EXPECTED)


@pytest.mark.parametrize("name", sorted(SEED_EXPECTED))
def test_the_check_says_of_each_real_report_what_a_careful_reviewer_would(name):
    path = seeds_or_skip() / name
    report = check(read_draft(name, path.read_bytes()).text)
    expected_elements, expected_findings = SEED_EXPECTED[name]
    assert elements(report) == expected_elements
    assert codes(report) == expected_findings
    assert not report.errors  # real, published reports: nothing is missing, nothing left unfilled
    assert report.year == SEED_YEARS[name]


SEED_UNITS = {"000_f280fe17ca84793a.txt": ["野鹤镇", "野鹤镇人民政府"],
              "001_aa5cc9e82bc011ed.txt": ["松源镇", "梅县区松源镇", "梅州市梅县区松源镇人民政府"],
              "002_d37acb428d33b8ca.txt": ["三乡镇", "中山市三乡镇人民政府"],
              "003_b15026bdeddbedce.txt": ["上社镇", "上社镇人民政府"],
              "004_886a198405337fe9.txt": ["徂汶景区", "徂汶景区管委会", "徂汶景区管理委员会"]}


@pytest.mark.parametrize("name", sorted(SEED_UNITS))
def test_a_real_report_checked_for_its_own_unit_is_not_held_and_for_another_unit_is(name):
    path = seeds_or_skip() / name
    text = read_draft(name, path.read_bytes()).text
    for unit in SEED_UNITS[name]:
        assert "unit_mismatch" not in code_set(check(text, unit=unit)), unit
    assert check(text, unit="青山县白云乡").errors  # submitted for the wrong unit: held


def test_a_real_report_saved_as_word_reads_as_its_text():
    path = seeds_or_skip() / "003_b15026bdeddbedce.txt"
    text = read_draft(path.name, path.read_bytes()).text
    doc = Document()
    for line in text.splitlines():
        doc.add_paragraph(line)
    buffer = io.BytesIO()
    doc.save(buffer)
    assert check(read_draft("上社镇.docx", buffer.getvalue()).text).as_json() == check(text).as_json()
