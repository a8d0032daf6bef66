"""The read side the front doors share: the status board of a cycle and a report's history.

These never write and never start Prefect: they read the database in a fixed number of queries.
"""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, select

from core.texts import message
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


def columns() -> list[str]:
    """The board's Chinese column names (templates/cli/messages.j2, status_columns)."""
    return message("status_columns").split("|")


def rows(board: dict) -> list[list[str]]:
    """The board's rows as the people who read it see them: stage and state in Chinese, "—" for none."""
    return [[r["ref"], r["unit"], message("stage_label", stage=r["stage"]), "、".join(r["waiting_on"]) or "—",
             r["due"] or "—", message("overdue") if r["overdue"] else message("on_time")]
            for r in board["reports"]]


def history(session: Session, report: Report) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.report_id == report.id).order_by(AuditEvent.at, AuditEvent.id)
    return list(session.exec(query))
