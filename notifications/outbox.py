"""The transactional outbox: mails are rendered and written with the change that causes them.

`enqueue` runs inside the caller's transaction. Each row has a unique idempotency key (the same
logical mail is never written twice) and a fixed Message-ID (a re-delivery is recognisably the
same message). `deliver` is the separate step that hands pending rows to a backend.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session, select

from models.db import utcnow
from models.tables import OutboxMessage
from notifications.backends import MailBackend
from notifications.message import build_message
from reportchain.settings import Settings
from reportchain.texts import render, render_block

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recipient:
    name: str
    email: str


def message_id_for(key: str, domain: str) -> str:
    return f"<rc.{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def join_addrs(recipients: Sequence[Recipient | str]) -> str:
    return ", ".join(r if isinstance(r, str) else f"{r.name} <{r.email}>" for r in recipients)


def enqueue(
    session: Session,
    settings: Settings,
    *,
    key: str,
    kind: str,
    to: Sequence[Recipient | str],
    context: dict,
    cc: Sequence[Recipient | str] = (),
    report_id: int | None = None,
    in_reply_to: str | None = None,
    attachment_version_id: int | None = None,
) -> OutboxMessage:
    """Write one mail (templates/email/KIND.txt and .html) unless a row with this key exists."""
    existing = session.exec(select(OutboxMessage).where(OutboxMessage.idempotency_key == key)).first()
    if existing is not None:
        return existing
    context = {"settings": settings, **context}
    row = OutboxMessage(
        idempotency_key=key,
        message_id=message_id_for(key, settings.message_id_domain),
        kind=kind,
        report_id=report_id,
        to_addrs=join_addrs(to),
        cc_addrs=join_addrs(cc),
        subject=render_block(f"email/{kind}.txt", "subject", **context),
        body_text=render_block(f"email/{kind}.txt", "body", **context) + "\n",
        body_html=render(f"email/{kind}.html", **context),
        in_reply_to=in_reply_to,
        attachment_version_id=attachment_version_id,
    )
    session.add(row)
    session.flush()
    return row


def pending(session: Session, limit: int) -> list[OutboxMessage]:
    query = select(OutboxMessage).where(OutboxMessage.status == "pending").order_by(OutboxMessage.id)
    return list(session.exec(query.limit(limit)))


def deliver(session: Session, settings: Settings, backend: MailBackend, batch_size: int = 200) -> int:
    """Send pending rows in batches and mark each one sent as soon as the backend accepts it."""
    sent = 0
    while rows := pending(session, batch_size):
        messages = [build_message(session, settings, row) for row in rows]
        results = backend.send(messages)
        for row, error in zip(rows, results, strict=True):
            row.attempts += 1
            if error is None:
                row.status, row.sent_at, row.last_error = "sent", utcnow(), None
                sent += 1
            else:
                row.status, row.last_error = "failed", error
                log.warning("outbox %s (%s) failed: %s", row.id, row.message_id, error)
        session.commit()
    return sent
