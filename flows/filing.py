"""Prefect, thin: the file-report and publish-report flows (services/filing.py does the work)."""

from __future__ import annotations

from datetime import date

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
async def publish_report_flow(ref: str, url: str, reviewed_by: str, reviewed_on: date | None = None,
                              actor: str = "coordinator") -> dict:
    """Record that report `ref` is on the website at `url`, after the confidentiality review (保密审查)
    that `reviewed_by` confirmed on `reviewed_on`.

    Args:
        ref: 报告编号，如 R-2026-017（已报送的报告）。
        url: 报告在门户网站上的公开网址（http:// 或 https://）。
        reviewed_by: 确认保密审查通过的人（姓名）。
        reviewed_on: 保密审查通过的日期（默认今天；不能晚于今天，不能早于报送日）。
        actor: 操作人，记入流转记录。
    """
    settings = load_settings()
    with session_scope(settings.database_url) as session:
        report = find_report(session, ref)
        new = publish_report(session, report, url, actor, reviewed_by=reviewed_by, reviewed_on=reviewed_on)
        result = {"ref": report.ref, "new": new}
    await publish_board(ref=result["ref"])
    return result
