"""What we accept from users as a name or a mail address, and how we name the files we write from
what users typed: one line, no path, a sensible length, and never over an existing file."""

from __future__ import annotations

import unicodedata
from pathlib import Path

from email_validator import EmailNotValidError, validate_email

# Control, format (zero-width, bidi overrides), unassigned and private characters, and the Unicode
# line and paragraph separators that splitlines() breaks on.
_INVISIBLE = ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")
_SEPARATORS = ("/", "\\")
MAX_FILENAME_BYTES = 240  # below the 255-byte limit of common file systems, with room for "-12"


def _invisible(c: str) -> bool:
    return unicodedata.category(c) in _INVISIBLE


def has_control(text: str) -> bool:
    return any(map(_invisible, text))


def visible(text: str, keep: str = "") -> str:
    """`text` with control characters (terminal escape sequences among them) written as escapes,
    safe to print; the characters in `keep` (e.g. line breaks) stay as they are."""
    return "".join(c.encode("unicode_escape").decode() if _invisible(c) and c not in keep else c for c in text)


def name_problem(name: str, limit: int) -> str | None:
    """Why `name` cannot be a unit's or a person's name ("control", "path", "length"), or None."""
    if has_control(name):
        return "control"
    if name in (".", "..") or any(s in name for s in _SEPARATORS):
        return "path"
    if len(name) > limit:
        return "length"
    return None


def normalised_address(value: str) -> str | None:
    """`value` as one plain mail address (its domain in lower case), or None when mail servers would
    not read it so (full-width letters, an empty or trailing label, an IP literal, a display name …)."""
    if not value.isascii():
        return None
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError:
        return None


def safe_filename(name: str, fallback: str) -> str:
    """A file name made from user data: one path component, no control characters, no leading dot,
    at most MAX_FILENAME_BYTES in UTF-8 (the extension kept); `fallback` when nothing is left."""
    cleaned = "".join("_" if c in _SEPARATORS or _invisible(c) else c for c in name)
    cleaned = cleaned.strip().lstrip(".").strip()
    if not cleaned:
        cleaned = fallback
    stem, dot, suffix = cleaned.rpartition(".")
    if not dot or len(suffix.encode()) > 16:
        stem, suffix = cleaned, ""
    suffix = f".{suffix}" if suffix else ""
    while len((stem + suffix).encode()) > MAX_FILENAME_BYTES:
        stem = stem[:-1]
    return stem + suffix


def write_new(folder: Path, name: str, data: bytes) -> Path:
    """Write `data` to `folder / name`, or to `name` with -1, -2 … before its extension when that file
    exists already: an existing file is never overwritten."""
    path, n = folder / name, 0
    while True:
        try:
            with path.open("xb") as f:
                f.write(data)
            return path
        except FileExistsError:
            n += 1
            path = folder / f"{Path(name).stem}-{n}{Path(name).suffix}"
