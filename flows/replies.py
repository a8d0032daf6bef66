"""Prefect, thin: the fetch-replies flow (services/replies.py takes the replies in)."""

from __future__ import annotations

from prefect import flow
from sqlmodel import Session

from core.settings import load_settings
from core.texts import message
from flows import run_logger
from flows.board import publish_board
from flows.delivery import deliver_all, fail_if_waiting
from models.db import get_engine
from notifications.mailbox import MailboxError, opened_inbox
from services.replies import busy_since, intake


@flow(name="fetch-replies")
async def fetch_replies_flow() -> dict:
    """Take in new replies, then deliver the receipts, prompts and notices they caused. A mailbox that
    cannot be read, or mails left waiting on the relay, end the run Failed (what was read is kept)."""
    settings = load_settings()
    with Session(get_engine(settings.database_url), expire_on_commit=False) as session:
        try:
            with opened_inbox(settings) as inbox:
                report = intake(session, settings, inbox)
        except MailboxError as exc:
            run_logger().error(message("replies.mailbox_error", detail=str(exc)))
            raise
        delivered = deliver_all(session, settings)
    result = {"fetched": report.fetched, "duplicates": report.duplicates, "outcomes": dict(report.outcomes),
              "rows": report.rows, "delivery": delivered, "busy_since": busy_since(settings, report)}
    await publish_board()
    return fail_if_waiting(result, delivered)
