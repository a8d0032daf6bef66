"""Build the RFC 5322 message of an outbox row — headers (RFC 2047 for Chinese), text + HTML
alternatives, the report as attachment (RFC 2231 Chinese filename), the .ics entry — once, when
the row is written; delivery sends those stored bytes unchanged.

`message_bytes` writes the common case directly (`fast_message`: plain addresses, any subject and
display name as RFC 2047 encoded words, every part base64, lines folded within 78 characters) at a
fraction of the email package's cost; anything outside it (an odd address, a strange In-Reply-To)
goes through `build_message`, the standard library's reference, which tests/test_message.py holds the
fast path equal to.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, getaddresses
from functools import lru_cache
from pathlib import PurePath
from urllib.parse import quote

from core.settings import Settings
from models.tables import OutboxMessage

ICS_NAME = "截止日期.ics"


def calendar_entry(uid: str, due: date, summary: str, timezone: str, stamp: datetime) -> str:
    """An all-day calendar entry on the due date, as the unit's calendar shows it (RFC 5545, written
    directly: the content lines icalendar writes for it, which tests/test_message.py holds it equal to)."""
    return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:{ICS_PRODID}\r\nMETHOD:PUBLISH\r\n"
            f"{ics_line('X-WR-TIMEZONE', timezone)}BEGIN:VEVENT\r\n{ics_line('SUMMARY', summary)}"
            f"DTSTART;VALUE=DATE:{due:%Y%m%d}\r\nDTEND;VALUE=DATE:{due + timedelta(days=1):%Y%m%d}\r\n"
            f"DTSTAMP:{stamp.astimezone(UTC):%Y%m%dT%H%M%SZ}\r\n{ics_line('UID', uid.strip('<>'))}"
            "TRANSP:TRANSPARENT\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


ICS_PRODID = "-//reportchain//法治政府建设年度报告//ZH"
ICS_ESCAPES = str.maketrans({"\\": "\\\\", ";": "\\;", ",": "\\,", "\n": "\\n", "\r": "\\n"})
ICS_LINE = 75  # octets of a content line, the folding space of a continuation line included


def ics_line(name: str, value: str) -> str:
    """A content line of a TEXT value: escaped (RFC 5545 §3.3.11; a CRLF is one line break) and folded
    within ICS_LINE octets, never inside a character or a backslash escape."""
    line = name + ":" + value.replace("\r\n", "\n").translate(ICS_ESCAPES)
    if len(line.encode()) < ICS_LINE:
        return line + "\r\n"
    pieces, current, size = [], "", 0
    for token in re.findall(r"\\.|.", line, re.S):
        width = len(token.encode())
        if current and size + width >= ICS_LINE:
            pieces.append(current)
            current, size = "", 0
        current += token
        size += width
    return "\r\n ".join([*pieces, current]) + "\r\n"


def attachment_type(filename: str) -> tuple[str, str]:
    ctype = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    if ctype.startswith("text/"):  # the original bytes may be GBK: send them untouched, not as text
        ctype = "application/octet-stream"
    maintype, subtype = ctype.split("/", 1)
    return maintype, subtype


@dataclass(frozen=True)
class Attachment:
    """A file a mail carries: a submitted version as it came, a rendering, the drafting kit."""

    filename: str
    content: bytes


@dataclass(frozen=True)
class Envelope:
    """What a backend sends: the stored bytes and who gets them."""

    message_id: str
    sender: str
    recipients: list[str]
    data: bytes


def envelope(settings: Settings, row: OutboxMessage) -> Envelope:
    addresses = [row.pending_recipients] if row.pending_recipients else [row.to_addrs, row.cc_addrs]
    recipients = [addr for _, addr in getaddresses(addresses) if addr]
    return Envelope(row.message_id, settings.mail_from, recipients, row.raw)


def attachment_name(row: OutboxMessage, attachment: Attachment) -> str:
    """The name the recipient sees: the row's (a rendered name, given the file's suffix) or the file's."""
    name = row.attachment_name or attachment.filename
    if not PurePath(name).suffix:
        name += PurePath(attachment.filename).suffix
    return name


def message_bytes(settings: Settings, row: OutboxMessage, attachment: Attachment | None = None) -> bytes:
    """The bytes to store and send: the fast path when the row is within it, else the email package's."""
    fast = fast_message(settings, row, attachment)
    return fast if fast is not None else build_message(settings, row, attachment).as_bytes(policy=SMTP)


def build_message(settings: Settings, row: OutboxMessage, attachment: Attachment | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = Address(settings.mail_from_name, addr_spec=settings.mail_from)
    msg["To"] = row.to_addrs
    if row.cc_addrs:
        msg["Cc"] = row.cc_addrs
    msg["Reply-To"] = settings.reply_to
    msg["Subject"] = row.subject
    msg["Date"] = format_datetime(row.created_at)
    msg["Message-ID"] = row.message_id
    if row.in_reply_to:
        msg["In-Reply-To"] = row.in_reply_to
        msg["References"] = row.in_reply_to
    msg["X-Reportchain-Kind"] = row.kind
    msg.set_content(row.body_text)
    msg.add_alternative(row.body_html, subtype="html")
    if attachment is not None:
        maintype, subtype = attachment_type(attachment.filename)
        msg.add_attachment(attachment.content, maintype=maintype, subtype=subtype,
                           filename=attachment_name(row, attachment))
    if row.ics:
        msg.add_attachment(row.ics, subtype="calendar", filename=ICS_NAME, params={"method": "PUBLISH"})
    return msg


# The fast path. Everything it writes is ASCII: the stdlib parser reads back exactly the row's texts.
MAX_LINE = 78
WORD_BYTES = 39  # UTF-8 bytes per encoded word: "=?utf-8?b?" + 52 base64 + "?=" = 64 characters
ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
DOT_ATOM = rf"{ATEXT}+(?:\.{ATEXT}+)*"
ADDR_SPEC = rf"{DOT_ATOM}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
NAME_CHAR = r'[^\x00-\x1f\x7f"(),.:;<>@\[\\\]]'  # no specials, no controls: the name needs no quoting
NAMED = re.compile(rf"((?![\s]){NAME_CHAR}(?:{NAME_CHAR}*(?<![\s]))?) <({ADDR_SPEC})>")  # name <addr>
BARE = re.compile(ADDR_SPEC)
PLAIN_PHRASE = re.compile(rf"{ATEXT}+(?: {ATEXT}+)*")
PLAIN_TEXT = re.compile(r"[\x21-\x7e]+(?: [\x21-\x7e]+)*")
MSG_ID = re.compile(r"<[\x21-\x3b\x3d\x3f-\x7e]+>")
TOKEN = re.compile(r"[A-Za-z0-9!#$&+.^_`|~-]+")  # an RFC 2231 value written as is


def encoded_words(text: str) -> list[str]:
    """`text` as RFC 2047 encoded words (UTF-8, base64), none splitting a character: its UTF-8 bytes cut
    every WORD_BYTES, each cut moved back off a continuation byte (10xxxxxx)."""
    data, words, start = text.encode(), [], 0
    while len(data) - start > WORD_BYTES:
        end = start + WORD_BYTES
        while data[end] & 0xC0 == 0x80:
            end -= 1
        words.append(data[start:end])
        start = end
    words.append(data[start:])
    return [f"=?utf-8?b?{base64.b64encode(word).decode()}?=" for word in words]


def fold(name: str, atoms: list[str]) -> str:
    """A header line of space-separated atoms, folded before an atom that would pass MAX_LINE."""
    if len(atoms) == 1 and len(name) + 2 + len(atoms[0]) <= MAX_LINE:  # most headers: one short line
        return f"{name}: {atoms[0]}\r\n"
    lines = [f"{name}:"]
    for atom in atoms:
        if len(lines[-1]) + 1 + len(atom) > MAX_LINE and lines[-1]:  # "Name:" alone may be the first line
            lines.append("")
        lines[-1] += " " + atom
    return "\r\n".join(lines) + "\r\n"


def unstructured(name: str, text: str) -> str:
    """Subject and the like: as is when it is short plain ASCII that cannot be mistaken for encoded words."""
    if len(name) + 2 + len(text) <= MAX_LINE and PLAIN_TEXT.fullmatch(text) and "=?" not in text:
        return f"{name}: {text}\r\n"
    return fold(name, encoded_words(text))


def phrase(name: str) -> list[str] | None:
    """A display name's atoms: as is when plain ASCII, else one encoded word. None when it needs more than
    one: the email package's parser reads a space between encoded words in a name (the reference path
    writes them so too, but what a reader then sees is for the reference to answer)."""
    if PLAIN_PHRASE.fullmatch(name) and "=?" not in name:
        return name.split(" ")
    words = encoded_words(name)
    return words if len(words) == 1 else None


def address_list(name: str, value: str) -> str | None:
    """To/Cc/From/Reply-To from "name <addr>, addr, ..." (join_addrs), or None for anything unusual."""
    atoms = []
    for item in value.split(", "):
        if BARE.fullmatch(item):
            atoms.append(f"{item},")
        elif (match := NAMED.fullmatch(item)) and (words := phrase(match[1])):
            atoms += [*words, f"<{match[2]}>,"]
        else:
            return None
    atoms[-1] = atoms[-1].rstrip(",")
    return fold(name, atoms)


def message_id(name: str, value: str) -> str | None:
    """A header of one message id, on the header's line or alone on the next; None when it is not a plain
    id or too long for a line of its own."""
    return fold(name, [value]) if MSG_ID.fullmatch(value) and len(value) < MAX_LINE else None


@lru_cache(maxsize=4096)
def percent_encoded(char: str) -> str:
    return quote(char, safe="!#$&+-.^_`|~")


def rfc2231(param: str, value: str) -> list[str]:
    """`param` as RFC 2231 parameter(s): as is when a token, else UTF-8 percent-encoded in continuations."""
    if TOKEN.fullmatch(value) and len(value) < 60:
        return [f'{param}="{value}"']
    sections = ["utf-8''"]
    for char in value:  # a section ends between characters: the parser decodes each on its own
        escaped = percent_encoded(char)
        if len(sections[-1]) + len(escaped) > 60:
            sections.append("")
        sections[-1] += escaped
    if len(sections) == 1:
        return [f"{param}*={sections[0]}"]
    return [f"{param}*{i}*={section}" for i, section in enumerate(sections)]


def params_header(name: str, value: str, params: list[str]) -> str:
    """A header of a value and its parameters, folded between them."""
    return fold(name, [f"{atom};" for atom in [value, *params[:-1]]] + params[-1:] if params else [value])


B64_LINE = re.compile(rb".{1,76}", re.S)


def b64_lines(data: bytes) -> bytes:
    """`data` in base64 lines of 76 characters, each ended by CRLF (base64.encodebytes' lines)."""
    encoded = binascii.b2a_base64(data, newline=False)
    return b"\r\n".join(B64_LINE.findall(encoded)) + b"\r\n" if encoded else b""


def text_data(text: str) -> bytes:
    """A text part's content as the email package stores it: each line ended by a line feed."""
    lines = text.encode().splitlines()
    return b"\n".join(lines) + b"\n" if lines else b""


def leaf(content_type: str, params: tuple[str, ...], data: bytes, filename: str | None = None) -> bytes:
    return part_head(content_type, params, filename) + b64_lines(data)


@lru_cache(maxsize=256)
def part_head(content_type: str, params: tuple[str, ...], filename: str | None) -> bytes:
    """A base64 part's headers (the same for every mail's text and HTML parts: written once)."""
    head = params_header("Content-Type", content_type, list(params))
    if filename is not None:
        head += params_header("Content-Disposition", "attachment", rfc2231("filename", filename))
    return (head + "Content-Transfer-Encoding: base64\r\n\r\n").encode()


def multipart(subtype: str, parts: list[bytes]) -> tuple[str, bytes]:
    """(the Content-Type header, the body) of a multipart of `parts`; base64 never holds "=_"."""
    boundary = f"=_rc{secrets.token_hex(12)}"
    body = b"".join(f"--{boundary}\r\n".encode() + part for part in parts) + f"--{boundary}--\r\n".encode()
    return f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n', body


@lru_cache(maxsize=8)
def fixed_headers(from_name: str, from_addr: str, reply_to: str) -> tuple[str, str] | None:
    """From and Reply-To: the same in every mail of a settings, encoded once."""
    sender = address_list("From", f"{from_name} <{from_addr}>" if from_name else from_addr)
    answer = address_list("Reply-To", reply_to)
    return (sender, answer) if sender and answer else None


@lru_cache(maxsize=1)  # the mails of a batch are written within a second or two
def date_header(when: datetime) -> str:
    return f"Date: {format_datetime(when)}\r\n"


def fast_message(settings: Settings, row: OutboxMessage, attachment: Attachment | None = None) -> bytes | None:
    """The row's message as `build_message` would parse back, written directly; None outside the common case."""
    fixed = fixed_headers(settings.mail_from_name, settings.mail_from, settings.reply_to)
    to = address_list("To", row.to_addrs)
    cc = address_list("Cc", row.cc_addrs) if row.cc_addrs else ""
    ids = [message_id("Message-ID", row.message_id)]
    if row.in_reply_to:
        ids += [message_id("In-Reply-To", row.in_reply_to), message_id("References", row.in_reply_to)]
    if fixed is None or to is None or cc is None or None in ids or not TOKEN.fullmatch(row.kind):
        return None
    head = [fixed[0], to, cc, fixed[1], unstructured("Subject", row.subject),
            date_header(row.created_at.replace(microsecond=0)), *ids,
            f"X-Reportchain-Kind: {row.kind}\r\n", "MIME-Version: 1.0\r\n"]
    content_type, body = multipart("alternative", [
        leaf("text/plain", ('charset="utf-8"',), text_data(row.body_text)),
        leaf("text/html", ('charset="utf-8"',), text_data(row.body_html))])
    extras = []
    if attachment is not None:
        extras.append(leaf("/".join(attachment_type(attachment.filename)), (), attachment.content,
                           attachment_name(row, attachment)))
    if row.ics:
        extras.append(leaf("text/calendar", ('charset="utf-8"', 'method="PUBLISH"'), text_data(row.ics), ICS_NAME))
    if extras:
        content_type, body = multipart("mixed", [(content_type + "\r\n").encode() + body, *extras])
    return ("".join(head) + content_type + "\r\n").encode() + body
