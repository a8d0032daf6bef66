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
    """Open a year's cycle: a report for every reporting unit and the kickoff mails (once per year).

    Args:
        year: 报告年度，如 2026。
        changes: 对默认截止日期安排的调整（键=值，如 {"drafting": "2026-12-18", "legal_review": "5"}；
            键见 reportchain deadlines show）。不填则按默认安排。
        actor: 操作人，记入流转记录。
    """
    settings = load_settings()
    with session_scope(settings.database_url) as session:
        created = open_cycle(session, settings, year, changes, actor)
        mails = session.exec(select(func.count()).where(
            OutboxMessage.kind == "kickoff", OutboxMessage.report_id.in_([r.id for r in created]))).one()
        result = {"year": year, "created": [r.ref for r in created], "mails": mails}
    await publish_board(year=year)
    return result
