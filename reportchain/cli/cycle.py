"""The year's cycle: open it (one report per unit, kickoff mails) and close it (no more reminders)."""

from __future__ import annotations

from typing import Annotated

import typer

from core.settings import load_settings
from core.texts import message
from reportchain.cli.common import (
    DryRun,
    Flows,
    SetOption,
    app,
    deliver_now,
    dry_run,
    out,
    parse_assignments,
    run_flow,
    session_for,
    titled_table,
    valid_year,
)

cycle_app = typer.Typer(help="报告周期：按年度开启、关闭。", no_args_is_help=True)


app.add_typer(cycle_app, name="cycle")


@cycle_app.command("open")
def cycle_open(
    year: Annotated[int, typer.Argument(help="报告所属年度，例如 2026。", callback=valid_year)],
    settings_: SetOption = [],  # noqa: B006
    confirm_year: Annotated[bool, typer.Option(
        "--confirm-year", help="确认开启已经结束的往年周期，或两年以后的周期（默认只能开启当前和下一年度）。")] = False,
    dry: DryRun = False,
) -> None:
    """开启年度报告周期：为每个报告单位建立报告，并向起草人发送启动通知。"""
    changes = parse_assignments(settings_)
    settings = load_settings()  # a broken setting is refused before Prefect is imported
    from services.cycle import check_cycle_year, open_cycle

    if not confirm_year:
        check_cycle_year(year, settings.timezone)
    if dry:
        return dry_run(lambda s, st: open_cycle(s, st, year, changes))
    result = run_flow(Flows.open_cycle, year=year, changes=changes)
    out.print(message("cycle_opened", year=year, created=len(result["created"]), mails=result["mails"]))
    deliver_now()


@cycle_app.command("close")
def cycle_close(
    year: Annotated[int, typer.Argument(help="要关闭的报告年度，例如 2026。", callback=valid_year)],
    by: Annotated[str, typer.Option("--by", help="操作人，记入流转记录。")] = "coordinator",
) -> None:
    """关闭年度报告周期：不再发送催办提醒，并列出始终未完成的报告（流转记录全部保留）。"""
    settings = load_settings()
    from services.cycle import close_cycle

    with session_for(settings) as session:
        closed = close_cycle(session, year, by)
        session.commit()
    out.print(message("cycle_closed", year=year, count=len(closed.unfinished), cancelled=closed.cancelled))
    if closed.unfinished:
        table = titled_table("", "cycle_unfinished_columns")
        for ref, unit, stage in closed.unfinished:
            table.add_row(ref, unit, message("stage_label", stage=stage))
        out.print(table)
