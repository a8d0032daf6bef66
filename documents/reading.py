"""Turn a submitted draft (.docx, .txt, .md) into plain text; anything else is refused clearly."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import PurePath

SUPPORTED = (".docx", ".txt", ".md")


class UnreadableDocument(ValueError):
    """The draft cannot be read; `code` names the reason for the user-facing message."""

    def __init__(self, code: str, filename: str, detail: str = "") -> None:
        super().__init__(f"{code}: {filename}: {detail}")
        self.code, self.filename, self.detail = code, filename, detail


@dataclass(frozen=True)
class Draft:
    filename: str
    content: bytes
    text: str


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM) first, then the Chinese national encodings."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UnicodeDecodeError("gb18030", data, 0, 1, "neither UTF-8 nor GB18030")


def docx_text(data: bytes) -> str:
    from docx import Document  # imported here: python-docx is only needed for Word files

    doc = Document(io.BytesIO(data))
    lines = [p.text for p in doc.paragraphs]
    for table in doc.tables:
        for row in table.rows:
            lines.append("\t".join(cell.text for cell in row.cells))
    return "\n".join(lines)


def read_draft(filename: str, data: bytes) -> Draft:
    suffix = PurePath(filename).suffix.lower()
    if suffix not in SUPPORTED:
        raise UnreadableDocument("unsupported_type", filename, suffix or "(none)")
    try:
        text = docx_text(data) if suffix == ".docx" else decode_text(data)
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise UnreadableDocument("corrupt", filename, str(exc)) from exc
    text = text.replace("\r\n", "\n").strip()
    if not text:
        raise UnreadableDocument("empty", filename)
    return Draft(PurePath(filename).name, data, text)
