"""Read-only views for the coordinator: the status board and a report's history.

These never start Prefect: they read the database and answer at once.
"""

from __future__ import annotations

from datetime import date

from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlmodel import Session, select

from core.texts import message
from models.chain import Stage
from models.pending import open_items, read_world
from models.tables import AuditEvent, Cycle, Report, Unit


def latest_year(session: Session) -> int | None:
    return session.exec(select(Cycle.year).order_by(Cycle.year.desc())).first()


def status(session: Session, year: int, today: date) -> dict:
    """`{"year", "reports": [{"ref", "unit", "stage", "due", "overdue", "waiting_on"}]}` for one cycle:
    the due date of what each report waits for now, and who it waits on (a fixed number of queries)."""
    items = {item.report.id: item for item in open_items(read_world(session, today, year=year))}
    query = (
        select(Report, Unit)
        .join(Unit, Unit.id == Report.unit_id)
        .join(Cycle, Cycle.id == Report.cycle_id)
        .where(Cycle.year == year)
        .order_by(Report.ref)
    )
    reports = []
    for report, unit in session.exec(query):
        item = items.get(report.id)
        due = item.due if item else None
        reports.append({
            "ref": report.ref,
            "unit": unit.name,
            "stage": report.stage,
            "due": due.isoformat() if due else None,
            "overdue": bool(due and today > due),
            "waiting_on": [person.name for person in item.actors] if item else [],
        })
    return {"year": year, "reports": reports}


def history(session: Session, report: Report) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.report_id == report.id).order_by(AuditEvent.at, AuditEvent.id)
    return list(session.exec(query))


def print_board(console: Console, board: dict) -> None:
    """The status board as a table, with the summary line under it."""
    reports = board["reports"]
    if not reports:
        console.print(message("no_reports", year=board["year"]))
        return
    table = Table(title=message("status_title", year=board["year"]))
    for column in message("status_columns").split("|"):
        table.add_column(column)
    for r in reports:
        state = Text(message("overdue"), style="red") if r["overdue"] else message("on_time")
        table.add_row(r["ref"], r["unit"], message("stage_label", stage=r["stage"]), "、".join(r["waiting_on"]) or "—",
                      r["due"] or "—", state)
    console.print(table)
    done = sum(r["stage"] in (Stage.FILED, Stage.PUBLISHED) for r in reports)
    console.print(message("status_summary", total=len(reports), filed=done, overdue=sum(r["overdue"] for r in reports)))
