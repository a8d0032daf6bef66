"""Open a year's cycle: one report per reporting unit and a kickoff mail to its drafters."""

from __future__ import annotations

from prefect import flow
from sqlalchemy import func
from sqlmodel import Session, select

from flows.stages import audit, people_with_role, recipients, report_context
from models.chain import Role
from models.db import session_scope
from models.deadlines import default_due_dates
from models.tables import Cycle, OutboxMessage, Report, Unit
from notifications.outbox import enqueue
from reportchain.settings import Settings, load_settings

COUNTY_KIND = "county"  # the level that runs the cycle; it gets no report of its own here


def open_cycle(session: Session, settings: Settings, year: int, due_dates: dict[str, str] | None = None,
               actor: str = "coordinator") -> list[Report]:
    """Create the cycle (or update its due dates) and the reports that are missing; returns new reports."""
    cycle = session.exec(select(Cycle).where(Cycle.year == year)).first()
    if cycle is None:
        cycle = Cycle(year=year, due_dates={**default_due_dates(year), **(due_dates or {})})
        session.add(cycle)
        session.flush()
        audit(session, None, actor, "cycle_opened", year=year, due_dates=cycle.due_dates)
    elif due_dates and {**cycle.due_dates, **due_dates} != cycle.due_dates:
        cycle.due_dates = {**cycle.due_dates, **due_dates}
        session.add(cycle)
        audit(session, None, actor, "due_dates_changed", year=year, due_dates=cycle.due_dates)

    have = set(session.exec(select(Report.unit_id).where(Report.cycle_id == cycle.id)))
    count = session.exec(select(func.count()).where(Report.cycle_id == cycle.id)).one()
    units = session.exec(select(Unit).where(Unit.kind != COUNTY_KIND).order_by(Unit.id)).all()
    created = []
    for unit in units:
        if unit.id in have:
            continue
        count += 1
        report = Report(ref=f"R-{year}-{count:03d}", unit_id=unit.id, cycle_id=cycle.id)
        session.add(report)
        session.flush()
        audit(session, report, actor, "report_opened", to_stage=report.stage)
        for drafter in people_with_role(session, unit.id, Role.DRAFTER):
            enqueue(
                session, settings,
                key=f"kickoff:{report.id}:{drafter.id}",
                kind="kickoff",
                to=recipients([drafter]),
                report_id=report.id,
                context={**report_context(session, report), "drafter": drafter},
            )
        created.append(report)
    return created


@flow(name="open-cycle")
async def open_cycle_flow(year: int, due_dates: dict[str, str] | None = None, actor: str = "coordinator") -> dict:
    settings = load_settings()
    with session_scope(settings.database_url) as session:
        created = open_cycle(session, settings, year, due_dates, actor)
        mails = session.exec(select(func.count()).where(
            OutboxMessage.kind == "kickoff", OutboxMessage.report_id.in_([r.id for r in created]))).one()
        return {"year": year, "created": [r.ref for r in created], "mails": mails}
