"""Prefect, thin: the open-cycle flow (services/cycle.py does the work)."""

from __future__ import annotations

from prefect import flow
from sqlalchemy import func
from sqlmodel import select

from core.settings import load_settings
from flows.board import publish_board
from models.db import session_scope
from models.tables import OutboxMessage
from services.cycle import open_cycle


@flow(name="open-cycle")
async def open_cycle_flow(year: int, changes: dict[str, str] | None = None, actor: str = "coordinator") -> dict:
    settings = load_settings()
    with session_scope(settings.database_url) as session:
        created = open_cycle(session, settings, year, changes, actor)
        mails = session.exec(select(func.count()).where(
            OutboxMessage.kind == "kickoff", OutboxMessage.report_id.in_([r.id for r in created]))).one()
        result = {"year": year, "created": [r.ref for r in created], "mails": mails}
    await publish_board(year=year)
    return result
