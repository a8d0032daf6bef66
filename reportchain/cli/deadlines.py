"""A cycle's deadline policy: show it, change it."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from sqlmodel import Session

from core.settings import load_settings
from core.texts import message
from models.calendar import load_calendar
from models.deadlines import DeadlinePolicy
from models.tables import Cycle
from reportchain.cli.common import DryRun, app, cycle_of, err, out, parse_assignments, session_for

deadlines_app = typer.Typer(help="截止日期：查看或调整年度周期的截止日期、审核时限和提醒安排。", no_args_is_help=True)


app.add_typer(deadlines_app, name="deadlines")


def deadlines_view(session: Session, cycle: Cycle) -> dict:
    policy, cal = DeadlinePolicy.from_json(cycle.policy), load_calendar(session)
    dates = {key: policy.date_due(cal, key) for key in policy.dates}
    return {"year": cycle.year, "policy": policy.as_json(), "steps": policy.steps, "overdue_days": policy.overdue_days,
            "due": {key: day.isoformat() for key, day in dates.items()},
            "unpublished_years": cal.warnings(min(dates.values()), max(dates.values()))}


@deadlines_app.command("show")
def deadlines_show(
    year: Annotated[int | None, typer.Option(help="年度（默认最新周期）。")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出。")] = False,
) -> None:
    """查看年度周期的截止日期、审核时限（工作日）和提醒安排。"""
    settings = load_settings()
    with session_for(settings) as session:
        view = deadlines_view(session, cycle_of(session, year))
    if as_json:
        print(json.dumps(view, ensure_ascii=False, indent=2))
        return
    out.print(message("policy.view", **view))
    for year_ in view["unpublished_years"]:
        err.print(message("calendar.unpublished", year=year_), style="yellow")


@deadlines_app.command("set")
def deadlines_set(
    values: Annotated[list[str], typer.Argument(help="键=值，如 filing=2027-01-25 committee_review=5 "
                                                     "remind_overdue=1,3,5 working_hours=08:30-17:30。")],
    year: Annotated[int | None, typer.Option(help="年度（默认最新周期）。")] = None,
    by: Annotated[str, typer.Option("--by", help="操作人，记入流转记录。")] = "coordinator",
    dry: DryRun = False,
) -> None:
    """调整已开启周期的截止日期、审核时限或提醒安排（记入流转记录）；之后的提醒按新安排计算。"""
    from services.cycle import change_policy

    changes = parse_assignments(values)
    settings = load_settings()
    with session_for(settings) as session:
        cycle = cycle_of(session, year)
        changed = change_policy(session, cycle, changes, by)
        view = deadlines_view(session, cycle)
        session.rollback() if dry else session.commit()
    out.print(message("policy.changed" if changed else "policy.unchanged", dry=dry, year=view["year"]))
    out.print(message("policy.view", **view))
