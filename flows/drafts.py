"""Prefect, thin: the submit-draft and accept-draft flows (services/drafts.py does the work)."""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from core.settings import load_settings
from documents.reading import read_draft
from flows.board import publish_board
from models.db import session_scope
from models.tables import Report
from services.drafts import accept_anyway, submit_draft
from services.stages import latest_version


@flow(name="submit-draft")
async def submit_draft_flow(report_id: int, path: str, submitted_by: str) -> dict:
    settings = load_settings()
    file = Path(path)
    draft = read_draft(file.name, file.read_bytes())
    with session_scope(settings.database_url) as session:
        report = session.get(Report, report_id)
        previous = latest_version(session, report.id)
        version = submit_draft(session, settings, report, draft, submitted_by)
        new = previous is None or version.id != previous.id
        result = {"ref": report.ref, "version": version.number, "stage": report.stage, "new": new,
                  "findings": version.findings}
    await publish_board(ref=result["ref"])
    return result


@flow(name="accept-draft")
async def accept_draft_flow(report_id: int, actor: str) -> dict:
    settings = load_settings()
    with session_scope(settings.database_url) as session:
        report = session.get(Report, report_id)
        version = accept_anyway(session, settings, report, actor)
        result = {"ref": report.ref, "version": version.number, "stage": report.stage}
    await publish_board(ref=result["ref"])
    return result
