"""Deliver the outbox, tell coordinators about mails that failed for good, and mark as filed the
reports whose filing mail went out.

A run that leaves mails waiting because the relay cannot take them (unreachable, refusing every mail
for now, or misconfigured) ends Failed, with the reason and the number of waiting mails in Chinese in
its log, so that operators see it in Prefect. Mails refused for good (5xx) are not a failed run: the
coordinators are told by mail.
"""

from __future__ import annotations

import logging
from datetime import datetime

from prefect import flow, get_run_logger
from prefect.exceptions import MissingContextError
from sqlmodel import Session, func, select

from core.settings import Settings, load_settings
from core.texts import message
from models.chain import Role
from models.db import session_scope
from models.tables import OutboxMessage, OutboxStatus, Report
from notifications.backends import DeliveryConfigError, backend_for
from notifications.outbox import deliver, enqueue, reason
from services.filing import confirm_filings
from services.stages import people_with_role, recipients, report_context

log = logging.getLogger(__name__)


class MailWaiting(Exception):
    """Mails were left waiting on the relay. A flow raises it once everything it did is committed, so
    that its run ends Failed; `result` is what the run did, for the CLI to print."""

    def __init__(self, reason: str, result: dict) -> None:
        super().__init__(reason, result)
        self.reason, self.result = reason, result

    def __str__(self) -> str:
        return self.reason

    def __repr__(self) -> str:
        return f"MailWaiting({self.reason!r})"


def run_logger() -> logging.Logger | logging.LoggerAdapter:
    """The flow run's logger (its lines reach the Prefect server), or this module's outside a run."""
    try:
        return get_run_logger()
    except MissingContextError:
        return log


def waiting(session: Session) -> int:
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
            enqueue(session, settings, key=f"delivery_failed:{row.id}", kind="delivery_failed",
                    to=recipients(coordinators), report_id=report.id,
                    context={**report_context(session, report), "mail": row})
            notices += 1
    return notices


def deliver_all(session: Session, settings: Settings, now: datetime | None = None) -> dict:
    """Send what is due (at `now`, the clock by default), tell coordinators about failures (and send
    that too), confirm filings. `problem` says in Chinese why mails wait when none could go out; a
    misconfigured relay (DeliveryConfigError) is logged likewise and raised."""
    backend = backend_for(settings)
    try:
        report = deliver(session, settings, backend, now=now)
    except DeliveryConfigError as exc:
        run_logger().error(message("mail_waiting", reason=reason(str(exc)), waiting=waiting(session), config=True))
        raise
    waiting_error = report.last_error
    if notify_failures(session, settings, report.failed):
        session.commit()
        notices = deliver(session, settings, backend, now=now)
        report.sent += notices.sent
        waiting_error = waiting_error or notices.last_error
    filed = confirm_filings(session)
    problem = None
    if waiting_error is not None and not report.sent:
        problem = message("mail_waiting", reason=reason(waiting_error), waiting=waiting(session))
    return {"sent": report.sent, "retrying": report.retrying, "failed": report.failed, "filed": filed,
            "problem": problem}


def fail_if_waiting(result: dict, delivery: dict) -> dict:
    """A flow's result; or, when its delivery left mails waiting on the relay, the reason in the run's
    log and a Failed run (what the run did is committed: nothing is lost or done twice)."""
    if delivery["problem"]:
        run_logger().error(delivery["problem"])
        raise MailWaiting(delivery["problem"], result)
    return result


@flow(name="deliver-outbox")
async def deliver_outbox_flow() -> dict:
    settings = load_settings()
    with session_scope(settings.database_url) as session:
        result = deliver_all(session, settings)
    return fail_if_waiting(result, result)
