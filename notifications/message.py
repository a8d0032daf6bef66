"""Build the RFC 5322 message for an outbox row: headers, text + HTML alternatives, attachment."""

from __future__ import annotations

import mimetypes
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from sqlmodel import Session

from models.tables import OutboxMessage, ReportVersion
from reportchain.settings import Settings


def build_message(session: Session, settings: Settings, row: OutboxMessage) -> EmailMessage:
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
    if row.attachment_version_id is not None:
        version = session.get(ReportVersion, row.attachment_version_id)
        ctype = mimetypes.guess_type(version.filename)[0] or "application/octet-stream"
        if ctype.startswith("text/"):  # the original bytes may be GBK: send them untouched, not as text
            ctype = "application/octet-stream"
        maintype, subtype = ctype.split("/", 1)
        msg.add_attachment(version.content, maintype=maintype, subtype=subtype, filename=version.filename)
    return msg
