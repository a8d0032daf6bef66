"""Mail a coordinator acts on: put a mail that failed for good back in line, audited with who did it.

(The delivery itself lives with the flows for now; this is the one state change a person makes on
the outbox.)"""

from __future__ import annotations

from sqlmodel import Session, select

from models.chain import Refused
from models.tables import AuditEvent, OutboxMessage, OutboxStatus, Report
from notifications.outbox import retry
from services.audit import audit

RETRIED = "mail_retried"  # the audit action


def retry_mail(session: Session, outbox_id: int, actor: str) -> OutboxMessage:
    """The failed mail `outbox_id`, pending again for the next delivery. Refused when there is no such
    mail, when it was retried already and waits for that delivery, or when it has not failed (sent,
    waiting for its own retry, cancelled or expired)."""
    row = session.get(OutboxMessage, outbox_id)
    if row is None:
        raise Refused("mail_unknown", outbox_id=outbox_id)
    if row.status != OutboxStatus.FAILED:
        retried = session.exec(select(AuditEvent.actor).where(
            AuditEvent.action == RETRIED, AuditEvent.detail["outbox_id"].as_integer() == outbox_id)
            .order_by(AuditEvent.id.desc())).first()
        if row.status == OutboxStatus.PENDING and retried is not None:
            raise Refused("mail_retried_before", outbox_id=outbox_id, by=retried)
        raise Refused("mail_not_failed", outbox_id=outbox_id, status=row.status)
    retry(session, outbox_id)
    report = session.get(Report, row.report_id) if row.report_id else None
    audit(session, report, actor, RETRIED, outbox_id=row.id, subject=row.subject, to=row.to_addrs,
          attempts=row.attempts, last_error=row.last_error)
    session.flush()
    return row
