"""Where every report stands: the status board and one report's history."""

from __future__ import annotations

import json
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from core.clock import today_in
from core.settings import load_settings
from core.texts import message, stage_label
from models.tables import Unit
from reportchain.board import print_board
from reportchain.cli.common import app, fail, out, session_for, shown, titled_table
from services.board import history, latest_year, status


@app.command("status")
def status_cmd(
    year: Annotated[int | None, typer.Option(help="年度（默认最新周期）。")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出。")] = False,
) -> None:
    """流转情况一览：每份报告所处环节、等谁办理、截止日期、是否逾期。"""
    settings = load_settings()
    with session_for(settings) as session:
        year = year or latest_year(session)
        if year is None:
            fail(message("no_cycle"))
        board = status(session, year, today_in(settings.timezone))
    if as_json:
        print(json.dumps(board, ensure_ascii=False, indent=2))
        return
    print_board(out, board)


@app.command("history")
def history_cmd(ref: Annotated[str, typer.Argument(help="报告编号。")]) -> None:
    """一份报告的完整流转记录（谁、何时、做了什么）。"""
    from services.stages import chain_of, find_report

    settings = load_settings()
    tz = ZoneInfo(settings.timezone)
    with session_for(settings) as session:
        report = find_report(session, ref)
        unit = session.get(Unit, report.unit_id)
        events = history(session, report)
        chain = chain_of(session, report)
    table = titled_table(message("history_title", ref=report.ref, unit=unit.name), "history_columns")
    for e in events:
        stages = " → ".join(stage_label(s, chain) for s in (e.from_stage, e.to_stage) if s)
        note = "；".join(message("detail", key=k, value=v) for k, v in e.detail.items() if v not in (None, ""))
        table.add_row(e.at.astimezone(tz).strftime("%Y-%m-%d %H:%M"), shown(e.actor),
                      message("event_label", event=e.action), stages, shown(note))
    out.print(table)
