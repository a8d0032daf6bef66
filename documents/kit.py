"""The drafting kit: a .docx skeleton of the annual report, attached to the kickoff mail.

It has the 公文 frame (title, 主送, 落款, a date to fill) and the five required contents as Word
headings, each with one grey line of guidance. Its texts are in templates/documents/skeleton.j2.

python-docx builds the kit once per cycle and layout (whether there is a 主送 line, the issuer's width,
which sets the 落款's indent) with placeholder characters for the unit's texts; each unit's copy is that
prepared document with the texts substituted (XML-escaped) into the two parts that hold them, appended
to a zip of the unchanged parts: the same document python-docx would build for the unit, ~100× faster.
"""

from __future__ import annotations

import io
import re
import zipfile
from datetime import UTC, datetime
from functools import lru_cache
from xml.sax.saxutils import escape

from docx.enum.style import WD_STYLE_TYPE
from docx.shared import RGBColor

from core.texts import render
from documents.render import (
    LEVEL2_FONT,
    _width,
    add_flush_left,
    add_signature,
    add_title,
    docx_bytes,
    official_document,
    set_fonts,
)

GUIDANCE_COLOR = RGBColor(0x80, 0x80, 0x80)


def skeleton_blocks(unit_name: str, year: int, addressee: str, issuer: str | None = None) -> list[tuple[str, str]]:
    """The skeleton as (kind, text) pairs, in order, from templates/documents/skeleton.j2."""
    rendered = render("documents/skeleton.j2", unit_name=unit_name, year=year,
                      addressee=addressee.strip().rstrip("：:"), issuer=(issuer or unit_name).strip())
    blocks = []
    for line in rendered.splitlines():
        if line.strip():
            kind, sep, text = line.partition(": ")
            if not sep:
                raise ValueError(f"documents/skeleton.j2: a line must read `kind: text`, got {line!r}")
            blocks.append((kind.strip(), text.strip()))
    return blocks


# Placeholders: private-use characters (never in a template), half a character wide like Latin letters
# (documents/render._width), so a run of 2w of them lays the 落款 out as a text w characters wide.
UNIT, ADDRESSEE, ISSUER = "\ue000", "\ue001", "\ue002"
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]|[\ue000-\ue002]")


def drafting_skeleton(unit_name: str, year: int, addressee: str, issuer: str | None = None) -> bytes:
    """The .docx skeleton of `unit_name`'s report on `year`, addressed to `addressee` (the 主送 line)."""
    issuer = (issuer or unit_name).strip()
    addressee = addressee.strip().rstrip("：:")
    texts = {UNIT: unit_name.lstrip(), ADDRESSEE: addressee, ISSUER: issuer}
    if any(NOT_XML.search(text) for text in texts.values()):
        return build_skeleton(unit_name, year, addressee, issuer)  # python-docx refuses it, as it should
    base, parts = prepared_skeleton(year, bool(addressee), round(2 * _width(issuer)))
    out = io.BytesIO(base)
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED) as kit:
        for name, xml in parts:
            for placeholder, text in texts.items():
                xml = re.sub(f"{placeholder}+", lambda _, text=text: escape(text), xml)
            kit.writestr(zipfile.ZipInfo(name, date_time=FIXED_DATE), xml.encode(), compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


FIXED_DATE = (1980, 1, 1, 0, 0, 0)


@lru_cache(maxsize=64)
def prepared_skeleton(year: int, has_addressee: bool, issuer_halves: int) -> tuple[bytes, tuple[tuple[str, str], ...]]:
    """The kit built once with placeholders: (a zip of the parts without them, the parts with them as text)."""
    built = build_skeleton(UNIT, year, ADDRESSEE if has_addressee else "", ISSUER * issuer_halves)
    base = io.BytesIO()
    parts = []
    with zipfile.ZipFile(io.BytesIO(built)) as src, zipfile.ZipFile(base, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if any(p.encode() in data for p in (UNIT, ADDRESSEE, ISSUER)):
                parts.append((info.filename, data.decode()))
            else:
                dst.writestr(zipfile.ZipInfo(info.filename, date_time=FIXED_DATE), data,
                             compress_type=zipfile.ZIP_DEFLATED)
    return base.getvalue(), tuple(parts)


@lru_cache(maxsize=128)  # the same inputs give the same bytes (fixed file dates); ~40 ms to build one
def build_skeleton(unit_name: str, year: int, addressee: str, issuer: str | None = None) -> bytes:
    """The skeleton built by python-docx (drafting_skeleton personalises a prepared one instead)."""
    blocks = skeleton_blocks(unit_name, year, addressee, issuer)
    by_kind = dict(blocks)  # single-valued kinds: guidance_style, title, signature, date
    doc = official_document(title=by_kind["title"], author=by_kind["signature"])
    guidance = doc.styles.add_style(by_kind["guidance_style"], WD_STYLE_TYPE.PARAGRAPH)
    guidance.base_style = doc.styles["Normal"]
    guidance.next_paragraph_style = doc.styles["Normal"]
    set_fonts(guidance.element.get_or_add_rPr(), LEVEL2_FONT)
    guidance.font.italic = True
    guidance.font.color.rgb = GUIDANCE_COLOR

    for kind, text in blocks:
        if kind == "title":
            add_title(doc, [text])
        elif kind == "addressee" and text.rstrip("：:"):
            add_flush_left(doc, text)
        elif kind == "heading":
            doc.add_paragraph(text, style="Heading 1")
        elif kind == "guidance":
            doc.add_paragraph(text, style=guidance)
            doc.add_paragraph()  # where the drafter starts typing, in body style
    add_signature(doc, [by_kind["signature"]], by_kind["date"])
    return docx_bytes(doc, when=datetime(year, 12, 1, tzinfo=UTC))
