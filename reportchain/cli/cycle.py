"""The year's cycle: open it (one report per unit, kickoff mails)."""

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
    valid_year,
)

cycle_app = typer.Typer(help="报告周期：按年度开启。", no_args_is_help=True)


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
