"""Build the RFC 5322 messages for outbox rows: headers (RFC 2047 for Chinese), text + HTML
alternatives, the report as attachment (RFC 2231 Chinese filename), and the .ics entry."""

from __future__ import annotations

import mimetypes
from datetime import date, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import PurePath

from icalendar import Calendar, Event
from sqlmodel import Session, select

from models.db import utcnow
from models.tables import OutboxMessage, ReportVersion
from reportchain.settings import Settings


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


def build_messages(session: Session, settings: Settings, rows: list[OutboxMessage]) -> list[EmailMessage]:
    """Messages for a batch of rows; the attached versions are loaded in one query."""
    ids = {r.attachment_version_id for r in rows if r.attachment_version_id is not None}
    versions = {v.id: v for v in session.exec(select(ReportVersion).where(ReportVersion.id.in_(ids)))} if ids else {}
    return [build_message(settings, row, versions.get(row.attachment_version_id)) for row in rows]


def build_message(settings: Settings, row: OutboxMessage, version: ReportVersion | None = None) -> EmailMessage:
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
    if version is not None:
        name = row.attachment_name or version.filename
        if not PurePath(name).suffix:
            name += PurePath(version.filename).suffix
        maintype, subtype = attachment_type(version.filename)
        msg.add_attachment(version.content, maintype=maintype, subtype=subtype, filename=name)
    if row.ics:
        msg.add_attachment(row.ics, subtype="calendar", filename="截止日期.ics", params={"method": "PUBLISH"})
    return msg
