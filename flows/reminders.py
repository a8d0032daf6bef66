"""Prefect, thin: the sweep-reminders flow (services/reminders.py writes the day's reminders)."""

from __future__ import annotations

from prefect import flow

from core.settings import load_settings
from flows.board import publish_board
from flows.delivery import deliver_all, fail_if_waiting
from models.db import session_scope
from models.reminders import parse_now
from services.reminders import sweep


@flow(name="sweep-reminders")
async def sweep_flow(now: str | None = None) -> dict:
    """The daily sweep (09:00 in December–March): write today's reminders, then deliver them. `now`
    (an ISO date-time) replays the sweep at another moment; delivery then runs at that moment too."""
    settings = load_settings()
    moment = parse_now(now, settings.timezone)
    with session_scope(settings.database_url) as session:
        plan = sweep(session, settings, moment)
        result = plan.as_json()
        result["delivery"] = deliver_all(session, settings, moment if now else None)
    await publish_board()
    return fail_if_waiting(result, result["delivery"])
