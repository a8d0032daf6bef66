"""Deliver the outbox: send what is due, tell coordinators about mails refused for good (and send that
too), and mark as filed the reports whose filing mail went out.

Mails refused for good (5xx) are the coordinators' to know, by mail. Mails left waiting because the relay
cannot take them (unreachable, refusing everything for now) are the operators': the result's `problem`
says why in Chinese, and the flows end their runs Failed with it. A misconfigured relay raises
DeliveryConfigError before anything is sent.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, func, select

from core.settings import Settings
from core.texts import message
from models.chain import Role
from models.tables import OutboxMessage, OutboxStatus, Report
from notifications.backends import backend_for
from notifications.outbox import deliver, enqueue, reason
from services.filing import confirm_filings
from services.stages import people_with_role, recipients, report_context


def waiting(session: Session) -> int:
    """How many mails wait in the outbox."""
    pending = OutboxMessage.status == OutboxStatus.PENDING
    return session.exec(select(func.count()).select_from(OutboxMessage).where(pending)).one()


def notify_failures(session: Session, settings: Settings, failed_ids: list[int]) -> int:
    """One notice per failed mail to its unit's coordinators (never about a notice itself)."""
    if not failed_ids:
        return 0
    rows = session.exec(select(OutboxMessage).where(OutboxMessage.id.in_(failed_ids))).all()
    notices = 0
    for row in rows:
        if row.kind == "delivery_failed" or row.report_id is None:
            continue
        report = session.get(Report, row.report_id)
        coordinators = people_with_role(session, report.unit_id, Role.COORDINATOR)
        if coordinators:
            enqueue(session, settings, key=f"delivery_failed:{row.message_id}", kind="delivery_failed",
                    to=recipients(coordinators), report_id=report.id,
                    context={**report_context(session, report), "mail": row})
            notices += 1
    return notices


def deliver_all(session: Session, settings: Settings, now: datetime | None = None) -> dict:
    """Send what is due (at `now`, the clock by default), tell coordinators about failures, confirm
    filings. `problem` says in Chinese why mails wait when none could go out."""
    backend = backend_for(settings)
    report = deliver(session, settings, backend, now=now)
    waiting_error = report.last_error
    if notify_failures(session, settings, report.failed):
        session.commit()
        notices = deliver(session, settings, backend, now=now)
        report.sent += notices.sent
        waiting_error = waiting_error or notices.last_error
    filed = confirm_filings(session, settings)
    if filed:  # the confidentiality reviewers' prompts go out now, not with the next delivery
        session.commit()
        report.sent += deliver(session, settings, backend, now=now).sent
    problem = None
    if waiting_error is not None and not report.sent:
        problem = message("mail_waiting", reason=reason(waiting_error), waiting=waiting(session))
    return {"sent": report.sent, "retrying": report.retrying, "failed": report.failed, "filed": filed,
            "problem": problem}
