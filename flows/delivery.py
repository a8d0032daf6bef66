"""Deliver the outbox, tell coordinators about mails that failed for good, and mark as filed the
reports whose filing mail went out."""

from __future__ import annotations

from datetime import datetime

from prefect import flow
from sqlmodel import Session, select

from core.settings import Settings, load_settings
from models.chain import Role
from models.db import session_scope
from models.tables import OutboxMessage, Report
from notifications.backends import backend_for
from notifications.outbox import deliver, enqueue
from services.filing import confirm_filings
from services.stages import people_with_role, recipients, report_context


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
            enqueue(session, settings, key=f"delivery_failed:{row.id}", kind="delivery_failed",
                    to=recipients(coordinators), report_id=report.id,
                    context={**report_context(session, report), "mail": row})
            notices += 1
    return notices


def deliver_all(session: Session, settings: Settings, now: datetime | None = None) -> dict:
    """Send what is due (at `now`, the clock by default), tell coordinators about failures (and send
    that too), confirm filings."""
    backend = backend_for(settings)
    report = deliver(session, settings, backend, now=now)
    if notify_failures(session, settings, report.failed):
        session.commit()
        report.sent += deliver(session, settings, backend, now=now).sent
    filed = confirm_filings(session)
    return {"sent": report.sent, "retrying": report.retrying, "failed": report.failed, "filed": filed}


@flow(name="deliver-outbox")
async def deliver_outbox_flow() -> dict:
    settings = load_settings()
    with session_scope(settings.database_url) as session:
        return deliver_all(session, settings)
