"""The drafting skeleton, the filing .docx and the public web page, read back the way a user meets them."""

from __future__ import annotations

import io
import os
from datetime import date
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.oxml.ns import qn
from docx.shared import Pt

from core.settings import PROJECT_ROOT
from documents.kit import drafting_skeleton
from documents.reading import read_draft
from documents.render import filing_docx, publication_html

SEEDS = PROJECT_ROOT.parent / "shared" / "seeds"
ISSUED = date(2026, 1, 10)
FILING = dict(unit_name="野鹤镇", year=2025, addressee="中共XX县委、XX县人民政府", issuer="野鹤镇人民政府",
              issued_on=ISSUED)

BODY = """2025年，野鹤镇在县委、县政府的坚强领导下，扎实推进法治政府建设。现将有关情况报告如下：
一、2025年推进法治政府建设的主要举措和成效
（一）健全依法决策机制
重大行政决策严格履行公众参与、专家论证、风险评估、合法性审查和集体讨论决定程序，全年审查合同12件。
（二）规范行政执法行为。全面落实行政执法公示、执法全过程记录、重大执法决定法制审核制度。
二、存在的不足和原因
一是基层法治工作力量仍然薄弱；二是部分干部运用法治思维解决问题的能力有待提高。
三、党政主要负责人履行推进法治建设第一责任人职责、加强法治政府建设的有关情况
主要负责人带头学法，主持召开专题会议研究法治建设工作3次。
四、2026年推进法治政府建设的主要安排
1.提升依法行政能力
持续开展领导干部学法用法，推进行政执法人员培训全覆盖。
五、其他需要报告的情况
无。"""

OWN_FRAME = """野鹤镇关于2025年度法治政府建设情况的报告
中共XX县委、XX县人民政府：
{body}
中共野鹤镇委员会
野鹤镇人民政府
2026年1月8日"""


def open_docx(data: bytes):
    return Document(io.BytesIO(data))


def body_paragraphs(doc):
    return [p for p in doc.paragraphs if p.text.strip()]


def _style_chain(paragraph):
    style = paragraph.style
    while style is not None:
        yield style
        style = style.base_style


def effective(paragraph, attribute: str):
    """A paragraph-format value as Word applies it: the paragraph's own, else its style's, else the base's."""
    value = getattr(paragraph.paragraph_format, attribute)
    for style in _style_chain(paragraph):
        if value is not None:
            break
        value = getattr(style.paragraph_format, attribute)
    return value


def east_asian_font(paragraph, run=None) -> str | None:
    elements = ([run._r] if run is not None else []) + [style.element for style in _style_chain(paragraph)]
    for element in elements:
        rpr = element.rPr
        fonts = rpr.rFonts if rpr is not None else None
        if fonts is not None and fonts.get(qn("w:eastAsia")):
            return fonts.get(qn("w:eastAsia"))
    return None


def font_value(paragraph, run, attribute: str):
    value = getattr(run.font, attribute) if run is not None else None
    for style in _style_chain(paragraph):
        if value is not None:
            break
        value = getattr(style.font, attribute)
    return value


def find(doc, text: str):
    matches = [p for p in doc.paragraphs if p.text == text]
    assert len(matches) == 1, f"{text!r} appears {len(matches)} times"
    return matches[0]


# ---- the drafting skeleton ----

def test_skeleton_has_the_official_frame_and_the_five_contents_as_headings_with_guidance():
    doc = open_docx(drafting_skeleton("野鹤镇", 2026, "中共XX县委、XX县人民政府"))
    paragraphs = body_paragraphs(doc)

    title = paragraphs[0]
    assert title.text == "野鹤镇关于2026年度法治政府建设情况的报告"
    assert title.alignment == WD_ALIGN_PARAGRAPH.CENTER
    assert paragraphs[1].text == "中共XX县委、XX县人民政府："

    headings = [i for i, p in enumerate(paragraphs) if p.style.name == "Heading 1"]
    assert [paragraphs[i].text for i in headings] == [
        "一、2026年推进法治政府建设的主要举措和成效",
        "二、存在的不足和原因",
        "三、党政主要负责人履行推进法治建设第一责任人职责、加强法治政府建设的有关情况",
        "四、2027年推进法治政府建设的主要安排",
        "五、其他需要报告的情况",
    ]
    for i in headings:
        guidance = paragraphs[i + 1]
        assert guidance.text.startswith("【写作提示】") and guidance.style.name == "写作提示"
        assert guidance.style.font.italic and str(guidance.style.font.color.rgb) == "808080"
    assert paragraphs[headings[1] + 1].text == "【写作提示】如实列出存在的主要问题，并逐条分析原因。"

    signature, date_line = paragraphs[-2:]
    assert (signature.text, date_line.text) == ("野鹤镇", "2027年  月  日")
    assert signature.alignment == date_line.alignment == WD_ALIGN_PARAGRAPH.RIGHT


def test_skeleton_signs_with_the_issuer_when_given_and_accepts_a_trailing_colon():
    doc = open_docx(drafting_skeleton("城关镇", 2026, "中共XX县委、XX县人民政府：", issuer="中共城关镇委员会"))
    paragraphs = body_paragraphs(doc)
    assert paragraphs[1].text == "中共XX县委、XX县人民政府："
    assert paragraphs[-2].text == "中共城关镇委员会"
    assert doc.core_properties.author == "中共城关镇委员会"


def test_skeleton_reads_back_as_a_draft_with_the_five_headings_as_lines():
    lines = read_draft("x.docx", drafting_skeleton("野鹤镇", 2026, "中共XX县委、XX县人民政府")).text.split("\n")
    assert lines[0] == "野鹤镇关于2026年度法治政府建设情况的报告"
    headings = [line for line in lines if line[:2] in ("一、", "二、", "三、", "四、", "五、")]
    assert len(headings) == 5 and headings[0].startswith("一、2026年") and headings[3].startswith("四、2027年")


def test_skeleton_is_an_a4_page_with_page_numbers():
    doc = open_docx(drafting_skeleton("野鹤镇", 2026, "县委、县政府"))
    section = doc.sections[0]
    assert (round(section.page_width.mm), round(section.page_height.mm)) == (210, 297)
    assert "PAGE" in section.footer._element.xml


# ---- the filing .docx ----

def test_filing_docx_is_a4_with_official_margins_and_page_numbers():
    doc = open_docx(filing_docx(BODY, **FILING))
    section = doc.sections[0]
    assert (round(section.page_width.mm), round(section.page_height.mm)) == (210, 297)
    assert [round(m.mm) for m in (section.top_margin, section.bottom_margin, section.left_margin,
                                  section.right_margin)] == [37, 35, 28, 26]
    for footer in (section.footer, section.even_page_footer):
        assert "PAGE" in "".join(t.text for t in footer._element.iter(qn("w:instrText")))
        assert footer.paragraphs[0].text == "— 1 —"
    assert doc.settings.odd_and_even_pages_header_footer


def test_filing_docx_adds_title_and_addressee_when_the_text_has_none():
    doc = open_docx(filing_docx(BODY, **FILING))
    paragraphs = body_paragraphs(doc)
    title = paragraphs[0]
    assert title.text == "野鹤镇关于2025年度法治政府建设情况的报告"
    assert title.alignment == WD_ALIGN_PARAGRAPH.CENTER
    assert all(run.font.bold for run in title.runs)
    assert title.runs[0].font.size == Pt(22)
    assert east_asian_font(title, title.runs[0]) == "方正小标宋简体"

    addressee = paragraphs[1]
    assert addressee.text == "中共XX县委、XX县人民政府："
    assert not effective(addressee, "first_line_indent")
    assert effective(addressee, "alignment") != WD_ALIGN_PARAGRAPH.RIGHT
    assert doc.core_properties.title == title.text


def test_filing_docx_body_is_fangsong_16pt_with_two_character_indent_and_fixed_line_pitch():
    doc = open_docx(filing_docx(BODY, **FILING))
    paragraph = find(doc, BODY.split("\n")[0])
    assert east_asian_font(paragraph, paragraph.runs[0]) == "仿宋_GB2312"
    assert font_value(paragraph, paragraph.runs[0], "size") == Pt(16)
    assert effective(paragraph, "first_line_indent") == Pt(32)
    assert effective(paragraph, "line_spacing_rule") == WD_LINE_SPACING.EXACTLY
    assert effective(paragraph, "line_spacing") == Pt(28)


def test_filing_docx_headings_are_heiti_and_kaiti_word_headings():
    doc = open_docx(filing_docx(BODY, **FILING))
    level1 = find(doc, "二、存在的不足和原因")
    level2 = find(doc, "（一）健全依法决策机制")
    level3 = find(doc, "1.提升依法行政能力")
    assert (level1.style.name, level2.style.name, level3.style.name) == ("Heading 1", "Heading 2", "Heading 3")
    assert east_asian_font(level1) == "黑体" and not font_value(level1, None, "bold")
    assert east_asian_font(level2) == "楷体_GB2312"
    assert east_asian_font(level3) == "仿宋_GB2312" and font_value(level3, None, "bold")
    assert font_value(level1, None, "size") == Pt(16)

    run_in = find(doc, "（二）规范行政执法行为。全面落实行政执法公示、执法全过程记录、重大执法决定法制审核制度。")
    lead, rest = run_in.runs
    assert lead.text == "（二）规范行政执法行为。" and east_asian_font(run_in, lead) == "楷体_GB2312"
    assert east_asian_font(run_in, rest) == "仿宋_GB2312"
    assert run_in.style.name == "Normal"


def test_filing_docx_signs_and_dates_at_the_end_right_aligned():
    doc = open_docx(filing_docx(BODY, **FILING))
    issuer, issued = body_paragraphs(doc)[-2:]
    assert (issuer.text, issued.text) == ("野鹤镇人民政府", "2026年1月10日")
    assert issuer.alignment == issued.alignment == WD_ALIGN_PARAGRAPH.RIGHT
    # GB/T 9704: the date starts two characters right of the issuer's first character.
    issuer_start = effective(issuer, "right_indent") + Pt(16) * 7
    issued_start = effective(issued, "right_indent") + Pt(16) * 6.5
    assert issuer_start - issued_start == Pt(32)


def test_filing_docx_keeps_the_texts_own_title_addressee_and_signature_without_duplicates():
    text = OWN_FRAME.format(body=BODY)
    doc = open_docx(filing_docx(text, **FILING))
    texts = [p.text for p in body_paragraphs(doc)]
    assert texts[:2] == ["野鹤镇关于2025年度法治政府建设情况的报告", "中共XX县委、XX县人民政府："]
    assert texts[-3:] == ["中共野鹤镇委员会", "野鹤镇人民政府", "2026年1月8日"]
    assert texts.count("野鹤镇关于2025年度法治政府建设情况的报告") == 1
    assert "2026年1月10日" not in texts and "野鹤镇人民政府" in texts[-2:]
    assert find(doc, "野鹤镇关于2025年度法治政府建设情况的报告").alignment == WD_ALIGN_PARAGRAPH.CENTER
    assert find(doc, "中共野鹤镇委员会").alignment == WD_ALIGN_PARAGRAPH.RIGHT


def test_filing_docx_reads_a_two_line_title_and_fills_an_unfilled_date():
    text = "野鹤镇人民政府\n关于2025年度法治政府建设情况的报告\n" + BODY + "\n野鹤镇人民政府\n2026年  月  日"
    doc = open_docx(filing_docx(text, **FILING))
    texts = [p.text for p in body_paragraphs(doc)]
    assert texts[:3] == ["野鹤镇人民政府", "关于2025年度法治政府建设情况的报告", "中共XX县委、XX县人民政府："]
    assert texts[-2:] == ["野鹤镇人民政府", "2026年1月10日"]
    assert texts.count("野鹤镇人民政府") == 2  # once in the title, once as 落款


def test_filing_docx_moves_a_byline_printed_under_the_title_to_the_end():
    text = "徂汶景区党工委、管委会\n2024年1月20日\n" + BODY
    texts = [p.text for p in body_paragraphs(open_docx(filing_docx(text, **FILING)))]
    assert texts[-2:] == ["徂汶景区党工委、管委会", "2024年1月20日"]
    assert texts.count("徂汶景区党工委、管委会") == 1 and "2026年1月10日" not in texts


def test_filing_docx_keeps_every_paragraph_of_the_text_in_order():
    text = OWN_FRAME.format(body=BODY)
    texts = [p.text for p in body_paragraphs(open_docx(filing_docx(text, **FILING)))]
    assert texts == [line for line in text.split("\n")]


def test_filing_docx_is_the_same_bytes_for_the_same_report_and_survives_control_characters():
    assert filing_docx(BODY, **FILING) == filing_docx(BODY, **FILING)
    doc = open_docx(filing_docx(BODY.replace("无。", "无。\x0c\x07"), **FILING))
    assert "无。" in [p.text for p in doc.paragraphs]


def test_filing_docx_of_a_markdown_draft_drops_the_heading_marks():
    text = "# 野鹤镇2025年度法治政府建设工作报告\n\n## 一、主要举措和成效\n\n全年审查合同12件。\n"
    texts = [p.text for p in body_paragraphs(open_docx(filing_docx(text, **FILING)))]
    assert texts[:3] == ["野鹤镇2025年度法治政府建设工作报告", "中共XX县委、XX县人民政府：", "一、主要举措和成效"]


# ---- the public web page ----

def page(text: str) -> BeautifulSoup:
    return BeautifulSoup(publication_html(text, unit_name="野鹤镇", year=2025, issued_on=ISSUED), "html.parser")


def block_texts(soup: BeautifulSoup) -> list[tuple[str, str]]:
    return [(el.name, el.get_text()) for el in soup.find("article").find_all(["h1", "h2", "h3", "h4", "p"])]


def test_publication_page_is_a_standalone_chinese_page():
    html = publication_html(BODY, unit_name="野鹤镇", year=2025, issued_on=ISSUED)
    soup = BeautifulSoup(html, "html.parser")
    assert soup.html["lang"] == "zh-CN"
    assert soup.find("meta", charset=True)["charset"].lower() == "utf-8"
    assert "width=device-width" in soup.find("meta", attrs={"name": "viewport"})["content"]
    assert soup.title.get_text() == "野鹤镇关于2025年度法治政府建设情况的报告"
    assert not soup.find_all(["link", "script", "img"]) and "http" not in html
    assert soup.find("style")


def test_publication_page_has_title_byline_headings_and_paragraphs_in_order():
    soup = page(BODY)
    blocks = block_texts(soup)
    assert blocks[0] == ("h1", "野鹤镇关于2025年度法治政府建设情况的报告")
    assert soup.find("time")["datetime"] == "2026-01-10"
    assert blocks[1] == ("p", "野鹤镇2026年1月10日")
    assert blocks[2:] == [("h3" if line.startswith("（一）") else "h4" if line.startswith("1.") else
                           "h2" if line[1] == "、" else "p", line) for line in BODY.split("\n")]
    lead = soup.find("span", class_="lead")
    assert lead.get_text() == "（二）规范行政执法行为。"


def test_publication_page_keeps_the_texts_own_title_and_signature_once():
    blocks = block_texts(page(OWN_FRAME.format(body=BODY)))
    texts = [text for _, text in blocks]
    assert texts.count("野鹤镇关于2025年度法治政府建设情况的报告") == 1
    assert texts[-3:] == ["中共野鹤镇委员会", "野鹤镇人民政府", "2026年1月8日"]
    assert ("p", "中共XX县委、XX县人民政府：") in blocks


def test_publication_page_shows_markup_in_the_report_as_text():
    text = BODY + "\n<script>alert('x')</script>见<a href=\"http://x\">链接</a>&nbsp;"
    html = publication_html(text, unit_name="<b>野鹤镇</b>", year=2025, issued_on=ISSUED)
    soup = BeautifulSoup(html, "html.parser")
    assert not soup.find_all(["script", "a", "b"])
    assert "<script>alert('x')</script>见<a href=\"http://x\">链接</a>&nbsp;" in soup.get_text()
    assert "&lt;script&gt;" in html


# ---- the five real reports ----

def seed_files() -> list[Path]:
    return sorted(SEEDS.glob("*.txt")) if SEEDS.is_dir() else []


@pytest.mark.parametrize("seed", seed_files() or [None], ids=lambda p: p.name if p else "absent")
def test_seed_report_renders_with_every_line(seed: Path | None):
    if seed is None:
        if os.environ.get("CI"):
            pytest.fail(f"the seed reports are missing: {SEEDS}")
        pytest.skip(f"no seed reports at {SEEDS}")
    text = seed.read_bytes().decode("utf-8")  # the seeds are UTF-8: fail loudly if one is not
    lines = [line.strip() for line in text.split("\n") if line.strip()]

    doc = open_docx(filing_docx(text, **FILING))
    paragraphs = [p.text for p in doc.paragraphs]
    assert [line for line in lines if line not in paragraphs] == []

    soup = page(text)
    shown = {el.get_text() for el in soup.find("article").find_all(["span", "h2", "h3", "h4", "p"])}
    assert [line for line in lines if line not in shown] == []
    assert soup.find("h2")
