"""Prefect, thin: the file-report and publish-report flows (services/filing.py does the work)."""

from __future__ import annotations

from prefect import flow

from core.settings import load_settings
from models.db import session_scope
from models.tables import Report
from services.filing import file_report, publish_report


@flow(name="file-report")
async def file_report_flow(report_id: int, actor: str = "coordinator") -> dict:
    settings = load_settings()
    with session_scope(settings.database_url) as session:
        report = session.get(Report, report_id)
        mail = file_report(session, settings, report, actor)
        return {"ref": report.ref, "message_id": mail.message_id}


@flow(name="publish-report")
async def publish_report_flow(report_id: int, url: str, actor: str = "coordinator") -> dict:
    settings = load_settings()
    with session_scope(settings.database_url) as session:
        report = session.get(Report, report_id)
        return {"ref": report.ref, "new": publish_report(session, report, url, actor)}
