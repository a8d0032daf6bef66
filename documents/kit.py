"""The drafting kit: a .docx skeleton of the annual report, attached to the kickoff mail.

It has the 公文 frame (title, 主送, 落款, a date to fill) and the five required contents as Word
headings, each with one grey line of guidance. Its texts are in templates/documents/skeleton.j2.

python-docx builds the kit once per cycle and layout (whether there is a 主送 line, the issuer's width,
which sets the 落款's indent) with placeholder characters for the unit's texts; each unit's copy is that
prepared document with the texts substituted (XML-escaped) into the two parts that hold them, deflated
and written after the unchanged parts' zip entries: the same document python-docx would build for the
unit, in a fraction of a millisecond instead of ~40 ms.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass
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
    kit = prepared_skeleton(year, bool(addressee), round(2 * _width(issuer)))
    escaped = {placeholder: escape(text).encode() for placeholder, text in texts.items()}
    return kit.personalised([(name, b"".join(escaped[piece] if i % 2 else piece for i, piece in enumerate(pieces)))
                             for name, pieces in kit.parts])


PLACEHOLDERS = re.compile(f"([{UNIT}{ADDRESSEE}{ISSUER}])\\1*")  # a run of one placeholder: one text
FIXED_DATE = (1980, 1, 1, 0, 0, 0)
DOS_DATE = 1 << 5 | 1  # FIXED_DATE as a zip entry's date and time (0)


@dataclass(frozen=True)
class Prepared:
    """The kit built once with placeholders: the zip entries of the parts without them (the local entries,
    then their central directory records) and the parts with them, each cut at its placeholders (the
    pieces between them as bytes, each run of a placeholder as its character)."""

    entries: bytes
    directory: bytes
    count: int
    parts: tuple[tuple[str, tuple[bytes | str, ...]], ...]

    def personalised(self, parts: list[tuple[str, bytes]]) -> bytes:
        """The kit with `parts` (the parts with placeholders, substituted) deflated and added: a zip written
        directly, not read back and rewritten per unit."""
        entries, directory = [self.entries], [self.directory]
        for name, data in parts:
            deflate = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)  # raw, as zipfile's
            packed = deflate.compress(data) + deflate.flush()
            # method, time, date, CRC-32, sizes, name length: the fields a local header and a directory record share
            fields = (zipfile.ZIP_DEFLATED, 0, DOS_DATE, zlib.crc32(data), len(packed), len(data), len(name.encode()))
            directory.append(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, *fields, 0, 0, 0, 0, 0,
                                         sum(map(len, entries))) + name.encode())  # ... and the entry's offset
            entries.append(struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, *fields, 0) + name.encode() + packed)
        count, records = self.count + len(parts), b"".join(directory)
        offset = sum(map(len, entries))
        return b"".join(entries) + records + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count,
                                                          len(records), offset, 0)


@lru_cache(maxsize=64)
def prepared_skeleton(year: int, has_addressee: bool, issuer_halves: int) -> Prepared:
    """The kit built once with placeholders, its parts without them zipped."""
    built = build_skeleton(UNIT, year, ADDRESSEE if has_addressee else "", ISSUER * issuer_halves)
    base = io.BytesIO()
    parts = []
    with zipfile.ZipFile(io.BytesIO(built)) as src, zipfile.ZipFile(base, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if any(p.encode() in data for p in (UNIT, ADDRESSEE, ISSUER)):
                pieces = PLACEHOLDERS.split(data.decode())
                parts.append((info.filename, tuple(p if i % 2 else p.encode() for i, p in enumerate(pieces))))
            else:
                dst.writestr(zipfile.ZipInfo(info.filename, date_time=FIXED_DATE), data,
                             compress_type=zipfile.ZIP_DEFLATED)
    zipped = base.getvalue()  # no comment: the end record is its last 22 bytes
    _, _, _, count, _, size, offset, _ = struct.unpack("<4s4H2LH", zipped[-22:])
    return Prepared(zipped[:offset], zipped[offset:offset + size], count, tuple(parts))


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
