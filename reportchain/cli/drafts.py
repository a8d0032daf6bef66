"""Drafts: submit one, send a held one on anyway, check what a report says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from core.settings import load_settings
from core.texts import message
from documents.reading import read_draft
from models.chain import Stage
from models.tables import Report
from reportchain.cli.common import DryRun, Flows, app, deliver_now, dry_run, fail, out, run_flow, session_for

draft_app = typer.Typer(help="报告稿件：提交初稿或修改稿；检查有问题的稿件可决定仍送审。", no_args_is_help=True)


app.add_typer(draft_app, name="draft")


@draft_app.command("submit")
def draft_submit(
    unit: Annotated[str, typer.Argument(help="单位名称或代码。")],
    file: Annotated[Path, typer.Argument(help="稿件文件：.docx、.txt 或 .md。")],
    year: Annotated[int | None, typer.Option(help="年度（默认最新周期）。")] = None,
    by: Annotated[str | None, typer.Option("--by", help="提交人（姓名或邮箱），记入流转记录。")] = None,
    dry: DryRun = False,
) -> None:
    """提交初稿或退回后的修改稿，报告转入法律顾问审核。"""
    settings = load_settings()
    if not file.is_file():
        fail(message("file_not_found", path=str(file)))
    draft = read_draft(file.name, file.read_bytes())  # refuse unreadable files before anything runs
    from services.drafts import report_for_unit, submit_draft
    from services.stages import chain_of

    with session_for(settings) as session:
        report = report_for_unit(session, unit, year)
        chain = chain_of(session, report)
    by = by or message("cli_actor")
    if dry:
        return dry_run(lambda s, st: submit_draft(s, st, s.get(Report, report.id), draft, by))
    result = run_flow(Flows.submit_draft, report_id=report.id, path=str(file.resolve()),
                      submitted_by=by)
    if result["new"] and result["stage"] == Stage.DRAFTING:
        fail(message("draft_held", ref=result["ref"], version=result["version"], findings=result["findings"]))
    if result["new"]:
        out.print(message("draft_submitted", ref=result["ref"], version=result["version"], stage=result["stage"],
                          chain=chain))
        if warnings := message("draft_warnings", findings=result["findings"]):
            out.print(warnings)
    else:
        out.print(message("draft_unchanged", ref=result["ref"], version=result["version"]))
    deliver_now()


@draft_app.command("accept")
def draft_accept(
    ref: Annotated[str, typer.Argument(help="报告编号。")],
    by: Annotated[str, typer.Option("--by", help="作出决定的统筹协调人（姓名），记入流转记录。")],
) -> None:
    """检查发现问题而暂未送审的稿件，由统筹协调人决定仍按此稿送审（记入流转记录）。"""
    from services.stages import chain_of, find_report

    settings = load_settings()
    with session_for(settings) as session:
        report = find_report(session, ref)
        chain = chain_of(session, report)
    result = run_flow(Flows.accept_draft, report_id=report.id, actor=by)
    out.print(message("draft_accepted", **result, chain=chain))
    deliver_now()


@app.command("check")
def check_cmd(
    file: Annotated[Path, typer.Argument(help="报告稿件：.docx、.txt 或 .md。")],
    year: Annotated[int | None, typer.Option(help="报告年度（默认按标题或正文所写的年度）。")] = None,
    unit: Annotated[str | None, typer.Option(help="单位名称，用于核对报告中的单位。")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出。")] = False,
) -> None:
    """检查报告稿：五项必备内容是否齐全，以及标题编号、未填写的占位内容、年份、落款和成文日期。

    只读取文件，不连接数据库、不作任何改动。退出码：0 表示没有错误（可能有提醒），1 表示有错误或文件无法读取。
    """
    from documents.check import ELEMENTS, check

    if not file.is_file():
        fail(message("file_not_found", path=str(file)))
    draft = read_draft(file.name, file.read_bytes())
    report = check(draft.text, year=year, unit=unit)
    if as_json:
        print(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
    else:
        out.print(message("check.header", filename=draft.filename, year=report.year, source=report.year_source))
        table = Table()
        for column in message("check.columns").split("|"):
            table.add_column(column)
        for key in ELEMENTS:
            element = report.elements[key]
            state = message("check.state", element=key, present=element.present, as_section=element.as_section)
            style = "green" if element.as_section else "yellow" if element.present else (
                "red" if key != "other_matters" else "dim")
            where = element.heading or (message("check.paragraph", line=element.line) if element.present else "—")
            table.add_row(message("check.element_short", element=key), Text(state, style=style), where)
        out.print(table)
        for finding in report.findings:
            out.print(message("check.finding", line=finding.line, severity=finding.severity, text=finding.message),
                      style="red" if finding.severity == "error" else "yellow")
        out.print(message("check.summary", errors=len(report.errors), warnings=len(report.warnings)))
    raise typer.Exit(1 if report.errors else 0)
