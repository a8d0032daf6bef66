"""Filing upward, publication, and the filing documents."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from core.names import safe_filename
from core.settings import load_settings
from core.texts import message
from models.chain import Stage
from models.tables import Cycle, Report, Unit
from reportchain.cli.common import (
    DryRun,
    Flows,
    app,
    deliver_now,
    dry_run,
    fail,
    out,
    run_flow,
    session_for,
)


@app.command("file")
def file_cmd(
    ref: Annotated[str, typer.Argument(help="报告编号。")],
    dry: DryRun = False,
) -> None:
    """报送：把审议通过的报告发送给上级（主送 + 抄送，附报告全文）。"""
    settings = load_settings()
    from services.filing import file_report
    from services.stages import find_report

    with session_for(settings) as session:
        report = find_report(session, ref)
        unit = session.get(Unit, report.unit_id)
    if dry:
        return dry_run(lambda s, st: file_report(s, st, s.get(Report, report.id)))
    result = run_flow(Flows.file_report, ref=report.ref)
    out.print(message("filing_written", ref=result["ref"], to=unit.filing_to))
    deliver_now()


@app.command()
def publish(
    ref: Annotated[str, typer.Argument(help="报告编号。")],
    url: Annotated[str, typer.Argument(help="报告在门户网站上的公开网址（http:// 或 https://）。")],
    by: Annotated[str, typer.Option("--by", help="操作人，记入流转记录。")] = "coordinator",
) -> None:
    """登记公开：保密审查人回复“同意公开”后，报告在门户网站公开，登记公开网址，流程结束，不再提醒。未通过保密审查的不予登记。"""
    from services.stages import find_report

    if not url.strip().lower().startswith(("http://", "https://")):
        raise typer.BadParameter(message("publish_bad_url", url=url))
    settings = load_settings()
    with session_for(settings) as session:
        report = find_report(session, ref)
    result = run_flow(Flows.publish_report, ref=report.ref, url=url.strip(), actor=by)
    out.print(message("published", ref=result["ref"], url=url.strip(), new=result["new"]))


@app.command("render")
def render_cmd(
    ref: Annotated[str, typer.Argument(help="报告编号。")],
    out_dir: Annotated[Path, typer.Option("--out", help="保存到的目录（默认当前目录）。")] = Path("."),
) -> None:
    """生成定稿的两种版式：报送用的公文格式 Word 文件，和在门户网站公开用的网页（HTML）。"""
    from documents.render import publication_html
    from services.filing import filed_version, filing_day, filing_document
    from services.stages import find_report, latest_version

    settings = load_settings()
    with session_for(settings) as session:
        report = find_report(session, ref)
        if report.stage not in (Stage.FILING, Stage.FILED, Stage.CONFIDENTIALITY_REVIEW, Stage.PUBLISHED):
            fail(message("render_not_approved", ref=report.ref, stage=report.stage))
        unit, version = session.get(Unit, report.unit_id), latest_version(session, report.id)
        filed = filed_version(session, report) or version  # a public version does not change what was filed
        year = session.get(Cycle, report.cycle_id).year
        document, issued_on = filing_document(session, report, filed), filing_day(session, report, filed)
    name = safe_filename(message("render_name", unit=unit.name, year=year), fallback=report.ref)
    out_dir.mkdir(parents=True, exist_ok=True)
    docx, page = out_dir / f"{name}.docx", out_dir / f"{name}.html"
    docx.write_bytes(document)
    page.write_text(publication_html(version.text, unit_name=unit.name, year=year, issued_on=issued_on),
                    encoding="utf-8")
    out.print(message("rendered", ref=report.ref, version=version.number, files=[str(docx), str(page)]))
