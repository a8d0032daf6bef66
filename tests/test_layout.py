"""One reading of a report's layout (documents/layout.py): the check and the renderings agree on the title,
the 主送 line, the 落款 and the date of every real report and every fixture, and read the layouts both
used to read differently the way a reviewer would."""

from __future__ import annotations

import io
import os
import re
from datetime import date
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from docx import Document

from documents.check import check, read
from documents.reading import read_draft
from documents.render import filing_docx, publication_html
from tests.conftest import SEEDS

FIXTURES = Path(__file__).parent / "documents"
ISSUED = date(2026, 1, 10)
FILING = dict(unit_name="白云乡", year=2025, addressee="青山县委、县政府", issuer="白云乡人民政府", issued_on=ISSUED)
MADE_UP_TITLE = "白云乡关于2025年度法治政府建设情况的报告"  # what the renderings write when the text has no title


def texts() -> list[tuple[str, str]]:
    paths = sorted(p for p in FIXTURES.iterdir() if p.suffix in (".txt", ".md"))
    if SEEDS.is_dir():
        paths += sorted(SEEDS.glob("*.txt"))
    elif os.environ.get("CI"):
        pytest.fail(f"the seed reports are missing: {SEEDS}")
    return [(p.name, read_draft(p.name, p.read_bytes()).text) for p in paths]


def docx_lines(text: str) -> list[str]:
    doc = Document(io.BytesIO(filing_docx(text, **FILING)))
    return [p.text for p in doc.paragraphs if p.text.strip()]


def page_lines(text: str) -> tuple[str, list[str]]:
    soup = BeautifulSoup(publication_html(text, unit_name="白云乡", year=2025, issued_on=ISSUED), "html.parser")
    signature = soup.find("div", class_="signature")
    return soup.find("h1").get_text(), [p.get_text() for p in signature.find_all("p")] if signature else []


@pytest.mark.parametrize(("name", "text"), texts(), ids=[name for name, _ in texts()])
def test_the_check_and_the_renderings_find_the_same_title_signature_and_date(name, text):
    layout = read(text)
    title = layout.title_text
    lines = docx_lines(text)
    shown_title, shown_signature = page_lines(text)

    assert lines[:len(layout.title) or 1] == ([part.text for part in layout.title] or [MADE_UP_TITLE])
    assert shown_title == (title or MADE_UP_TITLE)
    if layout.addressee:
        assert lines[len(layout.title)] == layout.addressee.text

    own = [part.text for part in layout.signature]
    signature = own or ["白云乡人民政府"]  # the unit's issuer when the text does not sign
    issued = layout.date.text if layout.date and layout.date_filled else "2026年1月10日"  # else the day of issue
    notes = [part.text for part in layout.notes]
    assert lines[-len(signature) - 1 - len(notes):] == [*signature, issued, *notes]
    if layout.date:
        assert shown_signature == [*own, issued]

    report = check(text)
    assert ("no_signature_date" in {f.code for f in report.findings}) == (not (layout.signature and layout.date))
    assert (report.year_source == "title") == bool(re.search(r"\d{4}\s*年", title))


def test_a_title_below_a_web_pages_menu_is_the_title_for_both():
    text = ("无障碍版 长者助手 登录\n您当前的位置: > >其他文件\n\n野鹤镇2025年法治政府建设年度报告\n\n"
            "信息来源:野鹤镇人民政府 发布日期:2026-01-27 分享:\n2025年,野鹤镇扎实推进法治政府建设。\n")
    assert check(text).year_source == "title"
    lines = docx_lines(text)
    assert lines[:2] == ["野鹤镇2025年法治政府建设年度报告", "青山县委、县政府："]  # the page's source line is no 主送
    assert lines[2:5] == ["无障碍版 长者助手 登录", "您当前的位置: > >其他文件",  # kept, after the title
                          "信息来源:野鹤镇人民政府 发布日期:2026-01-27 分享:"]
    assert lines.count("野鹤镇2025年法治政府建设年度报告") == 1
    assert page_lines(text)[0] == "野鹤镇2025年法治政府建设年度报告"


BODY = "一、主要举措和成效\n全年审查合同12件。\n二、存在的不足和原因\n队伍薄弱，原因是编制少。\n"


@pytest.mark.parametrize(("ending", "signature", "issued"), [
    ("中共野鹤镇委员会\n野鹤镇人民政府\n2026年1月8日\n", ["中共野鹤镇委员会", "野鹤镇人民政府"], "2026年1月8日"),
    ("野鹤镇人民政府（盖章）\n\n2026年1月8日\n", ["野鹤镇人民政府（盖章）"], "2026年1月8日"),
    ("野鹤镇人民政府\n2026年1月8日\n（此件公开发布）\n", ["野鹤镇人民政府"], "2026年1月8日"),
    ("野鹤镇人民政府\n2026年X月X日\n", ["野鹤镇人民政府"], "2026年1月10日"),  # not filled in: the day of issue
    ("野鹤镇人民政府\n", ["野鹤镇人民政府"], "2026年1月10日"),
])
def test_signatures_the_check_accepts_are_the_renderings_signatures(ending, signature, issued):
    text = "野鹤镇2025年度法治政府建设年度报告\n" + BODY + ending
    lines = docx_lines(text)
    notes = ["（此件公开发布）"] if "（此件公开发布）" in ending else []
    assert lines[len(lines) - len(notes) - len(signature) - 1:] == [*signature, issued, *notes]
    page = BeautifulSoup(publication_html(text, unit_name="野鹤镇", year=2025, issued_on=ISSUED), "html.parser")
    shown = [*signature, *([issued] if "年" in ending else []), *notes]  # the page dates only a dated text
    assert [p.get_text() for p in page.find("article").find_all("p")][-len(shown):] == shown
    assert [line for line in text.split("\n") if line and line not in lines] == (
        ["2026年X月X日"] if "X" in ending else [])
    assert ("no_signature_date" in {f.code for f in check(text).findings}) == ("年" not in ending)


def test_a_signature_and_date_on_one_line_are_signed_once():
    lines = docx_lines("野鹤镇2025年度法治政府建设年度报告\n" + BODY + "野鹤镇人民政府 2026年1月8日\n")
    assert lines[-2:] == ["野鹤镇人民政府", "2026年1月8日"]
    assert "白云乡人民政府" not in lines and "2026年1月10日" not in lines


def test_numbered_sections_the_check_reads_as_headings_are_headings_on_the_page():
    text = ("野鹤镇2025年度法治政府建设年度报告\n1、 深入学习贯彻习近平法治思想，提高思想认识\n学法12次。\n"
            "二、存在的不足和原因\n队伍薄弱，原因是编制少。\n存在的主要问题\n经费不足。\n")
    soup = BeautifulSoup(publication_html(text, unit_name="野鹤镇", year=2025, issued_on=ISSUED), "html.parser")
    headings = [h.get_text() for h in soup.find("article").find_all(["h2", "h3", "h4"])]
    assert headings == ["1、 深入学习贯彻习近平法治思想，提高思想认识", "二、存在的不足和原因", "存在的主要问题"]
