"""Prefect, thin: the record-decision flow (services/decisions.py does the work)."""

from __future__ import annotations

from prefect import flow

from core.settings import load_settings
from flows.board import publish_board
from models.db import session_scope
from models.tables import Report, ReviewRound
from services.decisions import record_decision


@flow(name="record-decision")
async def record_decision_flow(round_id: int, decision: str, comment: str = "", via: str = "phone",
                         actor: str = "coordinator") -> dict:
    settings = load_settings()
    with session_scope(settings.database_url) as session:
        applied = record_decision(session, settings, round_id, decision, comment=comment, via=via, actor=actor)
        report = session.get(Report, session.get(ReviewRound, round_id).report_id)
        result = {"ref": report.ref, "applied": applied, "stage": report.stage}
    await publish_board(ref=result["ref"])
    return result
