"""Prefect, thin: the file-report and publish-report flows (services/filing.py does the work)."""

from __future__ import annotations

from prefect import flow

from core.settings import load_settings
from flows.board import publish_board
from models.db import session_scope
from services.filing import file_report, publish_report
from services.stages import find_report


@flow(name="file-report")
async def file_report_flow(ref: str, actor: str = "coordinator") -> dict:
    """Write the filing mail of the approved report `ref`; it goes out with the next delivery.

    Args:
        ref: 报告编号，如 R-2026-017（党委审议通过、待报送的报告）。
        actor: 操作人，记入流转记录。
    """
    settings = load_settings()
    with session_scope(settings.database_url) as session:
        report = find_report(session, ref)
        mail = file_report(session, settings, report, actor)
        result = {"ref": report.ref, "message_id": mail.message_id}
    await publish_board(ref=result["ref"])
    return result


@flow(name="publish-report")
async def publish_report_flow(ref: str, url: str, actor: str = "coordinator") -> dict:
    """Record that report `ref` is on the website at `url`, once its confidentiality review (保密审查)
    has approved it.

    Args:
        ref: 报告编号，如 R-2026-017（已通过保密审查的报告）。
        url: 报告在门户网站上的公开网址（http:// 或 https://）。
        actor: 操作人，记入流转记录。
    """
    settings = load_settings()
    with session_scope(settings.database_url) as session:
        report = find_report(session, ref)
        new = publish_report(session, report, url, actor)
        result = {"ref": report.ref, "new": new}
    await publish_board(ref=result["ref"])
    return result
