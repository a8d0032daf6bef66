"""Deliver the outbox, then mark as filed the reports whose filing mail went out."""

from __future__ import annotations

from prefect import flow

from flows.filing import confirm_filings
from models.db import session_scope
from notifications.backends import backend_for
from notifications.outbox import deliver
from reportchain.settings import load_settings


@flow(name="deliver-outbox")
async def deliver_outbox_flow() -> dict:
    settings = load_settings()
    with session_scope(settings.database_url) as session:
        report = deliver(session, settings, backend_for(settings))
        filed = confirm_filings(session)
        return {"sent": report.sent, "retrying": report.retrying, "failed": report.failed, "filed": filed}
