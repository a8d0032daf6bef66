"""Build the RFC 5322 message of an outbox row — headers (RFC 2047 for Chinese), text + HTML
alternatives, the report as attachment (RFC 2231 Chinese filename), the .ics entry — once, when
the row is written; delivery sends those stored bytes unchanged."""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from datetime import date, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses
from pathlib import PurePath

from icalendar import Calendar, Event

from core.settings import Settings
from models.db import utcnow
from models.tables import OutboxMessage


def calendar_entry(uid: str, due: date, summary: str, timezone: str) -> str:
    """An all-day calendar entry on the due date, as the unit's calendar shows it."""
    cal = Calendar()
    cal.add("prodid", "-//reportchain//法治政府建设年度报告//ZH")
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-timezone", timezone)
    event = Event()
    event.add("uid", uid.strip("<>"))
    event.add("dtstamp", utcnow())
    event.add("dtstart", due)
    event.add("dtend", due + timedelta(days=1))
    event.add("summary", summary)
    event.add("transp", "TRANSPARENT")
    cal.add_component(event)
    return cal.to_ical().decode("utf-8")


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
        name = row.attachment_name or attachment.filename
        if not PurePath(name).suffix:
            name += PurePath(attachment.filename).suffix
        maintype, subtype = attachment_type(attachment.filename)
        msg.add_attachment(attachment.content, maintype=maintype, subtype=subtype, filename=name)
    if row.ics:
        msg.add_attachment(row.ics, subtype="calendar", filename="截止日期.ics", params={"method": "PUBLISH"})
    return msg
