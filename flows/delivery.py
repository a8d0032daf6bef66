"""Prefect, thin: the deliver-outbox flow (services/delivery.py delivers), and how every flow that
delivers ends its run Failed when mails wait on the relay, with the Chinese reason in the run's log."""

from __future__ import annotations

from datetime import datetime

from prefect import flow
from sqlmodel import Session

from core.settings import Settings, load_settings
from core.texts import message
from flows import run_logger
from flows.board import publish_board
from models.db import session_scope
from notifications.backends import DeliveryConfigError
from notifications.outbox import reason
from services import delivery


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


def deliver_all(session: Session, settings: Settings, now: datetime | None = None) -> dict:
    """The service's delivery; a misconfigured relay is said in the run's log (in Chinese, with the
    number of mails waiting) before the error ends the run."""
    try:
        return delivery.deliver_all(session, settings, now)
    except DeliveryConfigError as exc:
        waiting = delivery.waiting(session)
        run_logger().error(message("mail_waiting", reason=reason(str(exc)), waiting=waiting, config=True))
        raise


def fail_if_waiting(result: dict, delivered: dict) -> dict:
    """A flow's result; or, when its delivery left mails waiting on the relay, the reason in the run's
    log and a Failed run (what the run did is committed: nothing is lost or done twice)."""
    if delivered["problem"]:
        run_logger().error(delivered["problem"])
        raise MailWaiting(delivered["problem"], result)
    return result


@flow(name="deliver-outbox")
async def deliver_outbox_flow() -> dict:
    settings = load_settings()
    with session_scope(settings.database_url) as session:
        result = deliver_all(session, settings)
    await publish_board()
    return fail_if_waiting(result, result)
