"""The drafting kit: a .docx skeleton of the annual report, attached to the kickoff mail.

It has the 公文 frame (title, 主送, 落款, a date to fill) and the five required contents as Word
headings, each with one grey line of guidance. Its texts are in templates/documents/skeleton.j2.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

from docx.enum.style import WD_STYLE_TYPE
from docx.shared import RGBColor

from core.texts import render
from documents.render import (
    LEVEL2_FONT,
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


@lru_cache(maxsize=128)  # the same inputs give the same bytes (fixed file dates); ~40 ms to build one
def drafting_skeleton(unit_name: str, year: int, addressee: str, issuer: str | None = None) -> bytes:
    """The .docx skeleton of `unit_name`'s report on `year`, addressed to `addressee` (the 主送 line)."""
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
