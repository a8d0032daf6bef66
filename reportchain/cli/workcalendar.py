"""The working calendar: the official holidays and the local corrections."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Annotated

import typer
from sqlmodel import select

from core.settings import load_settings
from core.texts import message
from models.calendar import load_calendar, published
from models.tables import CalendarOverride
from reportchain.cli.common import app, err, out, session_for, valid_year

calendar_app = typer.Typer(help="工作日历：法定节假日和调休（国务院公布），以及本地调整。", no_args_is_help=True)


app.add_typer(calendar_app, name="calendar")


@calendar_app.command("show")
def calendar_show(
    year: Annotated[int, typer.Argument(help="年份，例如 2027。", callback=valid_year)],
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出。")] = False,
) -> None:
    """列出一年中不上班的工作日（节假日）和要上班的周末（调休），以及本地调整。"""
    settings = load_settings()
    with session_for(settings) as session:
        cal = load_calendar(session)
        overrides = {o.day: o for o in session.exec(select(CalendarOverride).where(
            CalendarOverride.working.is_not(None)))}
    days = [date(year, 1, 1) + timedelta(days=n) for n in range((date(year + 1, 1, 1) - date(year, 1, 1)).days)]
    special = [{"day": d.isoformat(), "working": cal.is_working_day(d), "holiday": cal.holiday_name(d),
                "override": overrides[d].note or True if d in overrides else None}
               for d in days if cal.is_working_day(d) != (d.weekday() < 5) or d in overrides]
    view = {"year": year, "published": published(year), "days": special}
    if as_json:
        print(json.dumps(view, ensure_ascii=False, indent=2))
        return
    out.print(message("calendar.view", **view))
    if not view["published"]:
        err.print(message("calendar.unpublished", year=year), style="yellow")


@calendar_app.command("set")
def calendar_set(
    day: Annotated[str, typer.Argument(help="日期 YYYY-MM-DD。")],
    kind: Annotated[str, typer.Argument(help="workday（上班）、holiday（放假）或 official（取消调整，按国家公布）。")],
    note: Annotated[str, typer.Option(help="说明，如“2027年春节调休”。")] = "",
    by: Annotated[str, typer.Option("--by", help="操作人，记入流转记录。")] = "coordinator",
) -> None:
    """调整工作日历：把某天设为上班或放假（用于国家安排公布前，或本地特殊安排）。"""
    from services.calendar import KINDS, set_calendar_day

    if kind not in KINDS:
        raise typer.BadParameter(message("calendar.bad_kind", kind=kind))
    try:
        when = date.fromisoformat(day.strip())
    except ValueError:
        raise typer.BadParameter(message("calendar.bad_day", day=day)) from None
    settings = load_settings()
    with session_for(settings) as session:
        set_calendar_day(session, when, kind, note, by)
        session.commit()
    out.print(message("calendar.set", day=when, kind=kind))
