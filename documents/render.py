"""Renderings of an approved report: the .docx filed upward, laid out like a 公文, and the public web page.

Pure functions of plain values. The text is one paragraph a line, as `documents.reading` gives it;
`documents.layout` reads the report's own title, 主送 line, headings and 落款 (as the check does),
so nothing is added twice.
The .docx helpers here (page setup, fonts, styles) are shared with the drafting kit.
"""

from __future__ import annotations

import io
import unicodedata
import zipfile
from dataclasses import dataclass
from datetime import UTC, date, datetime

from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.oxml import OxmlElement, parse_xml
from docx.oxml.ns import qn
from docx.shared import Mm, Pt, RGBColor
from docx.text.paragraph import Paragraph
from lxml import etree

from core.texts import environment, render
from documents.layout import Heading, Layout, read

# GB/T 9704 type: 二号 title, 三号 body and headings, 四号 page numbers; fonts with the fallback Word
# uses when the first is not installed (written to the font table as altName).
TITLE_FONT, BODY_FONT, PAGE_FONT = "方正小标宋简体", "仿宋_GB2312", "宋体"
LEVEL1_FONT, LEVEL2_FONT = "黑体", "楷体_GB2312"  # 一、 and （一） headings; 1. is bold body type
FALLBACK_FONTS = {
    "方正小标宋简体": "宋体", "仿宋_GB2312": "仿宋", "楷体_GB2312": "楷体", "黑体": "SimHei", "宋体": "SimSun",
}
TITLE_SIZE, BODY_SIZE, PAGE_SIZE = Pt(22), Pt(16), Pt(14)
LINE_PITCH, TITLE_LINE_PITCH = Pt(28), Pt(36)
MARGINS_MM = {"top": 37, "bottom": 35, "left": 28, "right": 26}
BLACK = RGBColor(0, 0, 0)

TYPE_LEVELS = {"chapter": 1, "cn": 1, "paren_cn": 2, "arabic_dun": 3, "arabic_dot": 3}  # GB/T 9704 numbering layers


@dataclass(frozen=True)
class Block:
    """One body paragraph. `level` 1–3 for headings (一、 / （一） / 1.) and run-in leads, 0 for plain text."""

    kind: str  # heading | paragraph
    level: int
    text: str
    lead: str = ""  # the run-in heading at the start of `text`, e.g. "（一）健全依法决策机制。"

    @property
    def rest(self) -> str:
        return self.text[len(self.lead):]


def type_level(heading: Heading) -> int:
    """The heading's typeface layer: by its numbering (一、 黑体, （一） 楷体, 1. bold), an unnumbered heading (a
    Markdown ## line, or a line naming a content) by its level; 0 for numbering no layer has ((1), ①)."""
    return min(heading.level, 3) if heading.style == "plain" else TYPE_LEVELS.get(heading.style, 0)


def blocks(layout: Layout) -> list[Block]:
    """The body as the renderings lay it out, in the order of the text."""
    headings = {h.line: h for h in layout.headings if h.level}
    out = []
    for number, text in layout.body():
        heading = headings.get(number)
        level = type_level(heading) if heading else 0
        if level and heading.standalone:
            out.append(Block("heading", level, text))
        elif level and heading.run_in:
            out.append(Block("paragraph", level, text, lead=heading.run_in))
        else:
            out.append(Block("paragraph", 0, text))
    return out


def piece(name: str, *args) -> str:
    """A text piece (a macro) of templates/documents/report.j2, e.g. piece("report_title", "野鹤镇", 2026)."""
    return str(getattr(environment().get_template("documents/report.j2").module, name)(*args))


# ---- .docx building blocks (shared with documents/kit.py) ----

def set_fonts(rpr, font: str) -> None:
    """Use `font` for Chinese and Western text alike, dropping the template's theme fonts."""
    rfonts = rpr.get_or_add_rFonts()
    for attr in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        rfonts.attrib.pop(qn(attr), None)
    for attr in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        rfonts.set(qn(attr), font)


def set_indent(paragraph_format, *, first_chars: float = 0, right_chars: float = 0, size: Pt = BODY_SIZE) -> None:
    """Indents in characters, as Word's 字符 unit (firstLineChars/rightChars) with the length as fallback."""
    paragraph_format.first_line_indent = int(size * first_chars)
    paragraph_format.right_indent = int(size * right_chars) if right_chars else None
    ind = paragraph_format.element.get_or_add_pPr().get_or_add_ind()
    ind.set(qn("w:firstLineChars"), str(round(first_chars * 100)))
    if right_chars:
        ind.set(qn("w:rightChars"), str(round(right_chars * 100)))


def _line_pitch(paragraph_format, pitch: Pt = LINE_PITCH) -> None:
    paragraph_format.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    paragraph_format.line_spacing = pitch
    paragraph_format.space_before = Pt(0)
    paragraph_format.space_after = Pt(0)


def _style(doc: DocxDocument, name: str, font: str, *, size: Pt = BODY_SIZE, bold: bool = False):
    style = doc.styles[name]
    set_fonts(style.element.get_or_add_rPr(), font)
    style.font.size = size
    style.font.bold = bold
    style.font.italic = False
    style.font.color.rgb = BLACK
    return style


def _font_table(doc: DocxDocument) -> None:
    """Declare the 公文 fonts with the font Word substitutes when one is missing (e.g. 仿宋_GB2312 → 仿宋)."""
    part = doc.part.part_related_by(RT.FONT_TABLE)
    fonts = parse_xml(part.blob)
    for name, alt in FALLBACK_FONTS.items():
        font = OxmlElement("w:font")
        font.set(qn("w:name"), name)
        for tag, value in (("w:altName", alt), ("w:charset", "86"), ("w:family", "auto"), ("w:pitch", "variable")):
            child = OxmlElement(tag)
            child.set(qn("w:val"), value)
            font.append(child)
        fonts.append(font)
    # python-docx keeps the font table as an opaque part: replace its bytes.
    part._blob = etree.tostring(fonts, xml_declaration=True, encoding="UTF-8", standalone=True)


def _page_number(paragraph: Paragraph) -> None:
    def field_char(kind: str) -> None:
        element = OxmlElement("w:fldChar")
        element.set(qn("w:fldCharType"), kind)
        paragraph.add_run()._r.append(element)

    paragraph.add_run(piece("page_number_before"))
    field_char("begin")
    instr = OxmlElement("w:instrText")
    instr.set(qn("xml:space"), "preserve")
    instr.text = " PAGE "
    paragraph.add_run()._r.append(instr)
    field_char("separate")
    paragraph.add_run("1")
    field_char("end")
    paragraph.add_run(piece("page_number_after"))


def official_document(*, title: str, author: str) -> DocxDocument:
    """An empty A4 document set up like a 公文: margins, fonts and styles, page numbers "— n —" in the footer."""
    doc = Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(MARGINS_MM["top"]), Mm(MARGINS_MM["bottom"])
    section.left_margin, section.right_margin = Mm(MARGINS_MM["left"]), Mm(MARGINS_MM["right"])
    section.footer_distance = Mm(23)  # the page number sits about 7 mm below the text block

    normal = _style(doc, "Normal", BODY_FONT)
    lang = OxmlElement("w:lang")
    lang.set(qn("w:val"), "en-US")
    lang.set(qn("w:eastAsia"), "zh-CN")
    normal.element.get_or_add_rPr().append(lang)
    normal.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
    normal.paragraph_format.widow_control = False
    _line_pitch(normal.paragraph_format)
    set_indent(normal.paragraph_format, first_chars=2)
    for name, font, bold in (("Heading 1", LEVEL1_FONT, False), ("Heading 2", LEVEL2_FONT, False),
                             ("Heading 3", BODY_FONT, True)):
        style = _style(doc, name, font, bold=bold)
        _line_pitch(style.paragraph_format)
        style.paragraph_format.keep_with_next = True

    footer_style = _style(doc, "Footer", PAGE_FONT, size=PAGE_SIZE)
    footer_style.paragraph_format.line_spacing_rule = WD_LINE_SPACING.SINGLE
    set_indent(footer_style.paragraph_format, first_chars=0, size=PAGE_SIZE)
    doc.settings.odd_and_even_pages_header_footer = True  # odd pages: number on the right; even: on the left
    for footer, alignment in ((section.footer, WD_ALIGN_PARAGRAPH.RIGHT),
                              (section.even_page_footer, WD_ALIGN_PARAGRAPH.LEFT)):
        footer.is_linked_to_previous = False
        paragraph = footer.paragraphs[0]
        paragraph.style = footer_style
        paragraph.alignment = alignment
        if alignment == WD_ALIGN_PARAGRAPH.RIGHT:
            paragraph.paragraph_format.right_indent = PAGE_SIZE
        else:
            paragraph.paragraph_format.left_indent = PAGE_SIZE
        _page_number(paragraph)

    _font_table(doc)
    props = doc.core_properties
    props.title, props.author, props.last_modified_by = title, author, author
    props.comments, props.language = "", "zh-CN"
    return doc


def add_title(doc: DocxDocument, lines: tuple[str, ...] | list[str]) -> None:
    for i, line in enumerate(lines):
        paragraph = doc.add_paragraph()
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
        fmt = paragraph.paragraph_format
        _line_pitch(fmt, TITLE_LINE_PITCH)
        set_indent(fmt, first_chars=0, size=TITLE_SIZE)
        if i == len(lines) - 1:
            fmt.space_after = LINE_PITCH  # 标题下空一行
        run = paragraph.add_run(line)
        set_fonts(run._r.get_or_add_rPr(), TITLE_FONT)
        run.font.size, run.font.bold = TITLE_SIZE, True


def add_flush_left(doc: DocxDocument, text: str) -> Paragraph:
    paragraph = doc.add_paragraph(text)
    set_indent(paragraph.paragraph_format, first_chars=0)
    return paragraph


def _width(text: str) -> float:
    """Width in characters of 三号 type: CJK full width, digits and Latin half width."""
    return sum(1 if unicodedata.east_asian_width(c) in "WF" else 0.5 for c in text)


def add_signature(doc: DocxDocument, issuer_lines: tuple[str, ...] | list[str], date_line: str) -> None:
    """落款 without seal (GB/T 9704 7.3.5.2): issuer 右空二字; the date starts two characters to the right
    of the issuer; if the date is the longer, it takes 右空二字 and the issuer moves left."""
    issuer_width = max((_width(line) for line in issuer_lines), default=0)
    date_right = issuer_width - _width(date_line) if issuer_lines else 2
    issuer_right = 2.0
    if date_right < 2:
        date_right = 2
        issuer_right = date_right + _width(date_line) + 2 - issuer_width
    for i, line in enumerate(issuer_lines):
        paragraph = doc.add_paragraph(line)
        paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        set_indent(paragraph.paragraph_format, right_chars=issuer_right + issuer_width - _width(line))
        if i == 0:
            paragraph.paragraph_format.space_before = LINE_PITCH  # 正文下空一行
    paragraph = doc.add_paragraph(date_line)
    paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    set_indent(paragraph.paragraph_format, right_chars=date_right)
    if not issuer_lines:
        paragraph.paragraph_format.space_before = LINE_PITCH


def _add_block(doc: DocxDocument, block: Block) -> None:
    if block.kind == "heading":
        doc.add_paragraph(block.text, style=f"Heading {block.level}")
        return
    paragraph = doc.add_paragraph()
    if block.lead:
        lead = paragraph.add_run(block.lead)
        if block.level == 3:
            lead.font.bold = True
        else:
            set_fonts(lead._r.get_or_add_rPr(), LEVEL1_FONT if block.level == 1 else LEVEL2_FONT)
    paragraph.add_run(block.rest)


def docx_bytes(doc: DocxDocument, *, when: datetime | None = None) -> bytes:
    """The document's bytes; with `when`, identical for identical input (fixed zip and property dates)."""
    if when is not None:
        doc.core_properties.created = doc.core_properties.modified = when
    raw = io.BytesIO()
    doc.save(raw)
    if when is None:
        return raw.getvalue()
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0)), src.read(info),
                         compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


# ---- the two renderings ----

def _closing_date(layout: Layout, issued_on: date) -> str:
    """The report's own date line, unless it is missing or left unfilled ("2026年  月  日")."""
    if layout.date and layout.date_filled:
        return layout.date.text
    return piece("issued_date", issued_on)


def _texts(parts) -> tuple[str, ...]:
    return tuple(part.text for part in parts)


def filing_docx(text: str, *, unit_name: str, year: int, addressee: str, issuer: str, issued_on: date) -> bytes:
    """The approved report as the .docx filed upward: title, 主送, body, 落款 and date, page numbers.

    Whatever the text already carries (title, 主送 line, 落款, date) is used as it is and not added again;
    lines after its date (附注 such as （此件公开发布）) follow the date.
    """
    layout = read(text)
    title = _texts(layout.title) or (piece("report_title", unit_name, year),)
    addressee = addressee.strip().rstrip("：:")
    addressee_line = layout.addressee.text if layout.addressee else (
        piece("addressee_line", addressee) if addressee else None)
    issuer_lines = _texts(layout.signature) or ((issuer or unit_name).strip(),)
    date_line = _closing_date(layout, issued_on)

    doc = official_document(title="".join(title), author="、".join(issuer_lines))
    add_title(doc, title)
    if addressee_line:
        add_flush_left(doc, addressee_line)
    for block in blocks(layout):
        _add_block(doc, block)
    add_signature(doc, issuer_lines, date_line)
    for note in layout.notes:
        doc.add_paragraph(note.text)
    return docx_bytes(doc, when=datetime(issued_on.year, issued_on.month, issued_on.day, tzinfo=UTC))


def publication_html(text: str, *, unit_name: str, year: int, issued_on: date) -> str:
    """The approved report as a standalone, phone-friendly web page for the unit's site (UTF-8, zh-CN)."""
    layout = read(text)
    title = _texts(layout.title) or (piece("report_title", unit_name, year),)
    tags = {1: "h2", 2: "h3", 3: "h4"}
    body = [{"tag": tags[b.level] if b.kind == "heading" else "p", "text": b.text, "lead": b.lead, "rest": b.rest}
            for b in blocks(layout)]
    signature = [*_texts(layout.signature), *([_closing_date(layout, issued_on)] if layout.date else [])]
    return render("documents/publication.html", title=title, unit_name=unit_name, issued_on=issued_on,
                  addressee=layout.addressee and layout.addressee.text, blocks=body, signature=signature,
                  notes=_texts(layout.notes))
