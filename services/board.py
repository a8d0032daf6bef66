"""The read side the front doors share: the status board of a cycle, its cumulative flow, and a
report's whole story (history, versions with their diffs, mails in and out).

These never write and never start Prefect. The board and the flow read the database in a fixed
number of queries whatever the number of reports; a report's story reads one report.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from core.texts import message
from documents.diff import changes
from models.chain import Role, Stage, get_chain
from models.deadlines import DeadlinePolicy, local_day
from models.pending import open_items, read_world
from models.tables import (
    AuditEvent,
    Cycle,
    InboundMessage,
    OutboxMessage,
    Report,
    ReportVersion,
    ReviewRound,
    Unit,
)
from notifications.outbox import reason

STAGES = tuple(s.name for s in get_chain())  # the board's steps, drafting → published


def step_of(report: Report) -> int:
    """Which of the chain's steps the report stands at (1 drafting … 7 published; 0 a stage of another chain)."""
    return STAGES.index(report.stage) + 1 if report.stage in STAGES else 0


def latest_year(session: Session) -> int | None:
    return session.exec(select(Cycle.year).order_by(Cycle.year.desc())).first()


def years(session: Session) -> list[int]:
    return list(session.exec(select(Cycle.year).order_by(Cycle.year.desc())))


def status(session: Session, year: int, today: date, units: frozenset[int] | None = None) -> dict:
    """`{"year", "reports": [{"ref", "unit", "unit_kind", "stage", "step", "due", "overdue",
    "overdue_days", "waiting_on", "supervisors", "returns"}]}` for one cycle (of the `units` given, or
    of every unit): the due date of what each report waits for now, who it waits on, how many working
    days late, and how often it was returned (a fixed number of queries)."""
    world = read_world(session, today, year=year)
    items = {item.report.id: item for item in open_items(world)}
    returns = dict(session.exec(select(ReviewRound.report_id, func.count())
                                .join(Report, Report.id == ReviewRound.report_id)
                                .join(Cycle, Cycle.id == Report.cycle_id)
                                .where(Cycle.year == year, ReviewRound.decision == "return")
                                .group_by(ReviewRound.report_id)).all())
    query = (
        select(Report, Unit)
        .join(Unit, Unit.id == Report.unit_id)
        .join(Cycle, Cycle.id == Report.cycle_id)
        .where(Cycle.year == year)
        .order_by(Report.ref)
    )
    reports = []
    for report, unit in session.exec(query):
        if units is not None and unit.id not in units:
            continue
        item = items.get(report.id)
        due = item.due if item else None
        late = world.calendar.working_days_between(due, today) if due and today > due else 0
        reports.append({
            "ref": report.ref,
            "unit": unit.name,
            "unit_kind": unit.kind,
            "stage": report.stage,
            "step": step_of(report),
            "due": due.isoformat() if due else None,
            "overdue": bool(due and today > due),
            "overdue_days": late,
            "waiting_on": [person.name for person in item.actors] if item else [],
            "supervisors": [p.name for p in world.people.get((unit.id, Role.SUPERVISOR.value), [])],
            "returns": returns.get(report.id, 0),
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


@dataclass(frozen=True)
class Flow:
    """The cumulative flow of a cycle: for each day since it opened, how many reports stood at each
    stage at the day's end (days after `today` are not counted), and the cycle's marked dates."""

    days: list[date]
    counts: dict[str, list[int]]  # stage → one count per day of `days` up to today
    today: date
    filing: date
    disclosure: date


def cycle_flow(session: Session, year: int, today: date, timezone: str,
               units: frozenset[int] | None = None) -> Flow | None:
    """The cycle's cumulative flow from its reports' stage changes in the audit trail (two queries)."""
    cycle = session.exec(select(Cycle).where(Cycle.year == year)).first()
    if cycle is None:
        return None
    policy = DeadlinePolicy.from_json(cycle.policy)
    moves = session.exec(select(AuditEvent.report_id, AuditEvent.at, AuditEvent.to_stage, Report.unit_id)
                         .join(Report, Report.id == AuditEvent.report_id)
                         .where(Report.cycle_id == cycle.id, AuditEvent.to_stage.is_not(None))
                         .order_by(AuditEvent.at, AuditEvent.id))
    first = local_day(cycle.opened_at, timezone)
    last = max(today, policy.dates["disclosure"], first)
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    counted = [d for d in days if d <= today]
    counts = {stage: [0] * len(counted) for stage in STAGES}
    where: dict[int, tuple[str, int]] = {}  # report → (its stage, from which day index)

    def close(report_id: int, until: int) -> None:
        stage, since = where[report_id]
        if stage in counts:
            for i in range(max(since, 0), min(until, len(counted))):
                counts[stage][i] += 1

    for report_id, at, to_stage, unit_id in moves:
        if units is not None and unit_id not in units:
            continue
        index = (local_day(at, timezone) - first).days
        if report_id in where:
            close(report_id, index)
        where[report_id] = (to_stage, index)
    for report_id in where:
        close(report_id, len(counted))
    return Flow(days, counts, today, policy.dates["filing"], policy.dates["disclosure"])


def history(session: Session, report: Report) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.report_id == report.id).order_by(AuditEvent.at, AuditEvent.id)
    return list(session.exec(query))


def versions_with_diffs(session: Session, report: Report) -> list[dict]:
    """Every version, newest first, with its check findings and its changes from the version before."""
    rows = list(session.exec(select(ReportVersion).where(ReportVersion.report_id == report.id)
                             .order_by(ReportVersion.number)))
    found = [{"version": v, "changes": changes(before.text, v.text) if before else []}
             for before, v in zip([None, *rows], rows, strict=False)]
    return found[::-1]


def story(session: Session, report: Report) -> dict:
    """Everything about one report: its unit and year, the history, the versions with their diffs,
    the mails that came in about it (how each was read) and the mails we sent (delivery state)."""
    inbound = session.exec(select(InboundMessage).where(InboundMessage.report_id == report.id)
                           .order_by(InboundMessage.received_at, InboundMessage.id))
    sent = session.exec(select(OutboxMessage).where(OutboxMessage.report_id == report.id)
                        .order_by(OutboxMessage.created_at, OutboxMessage.id))
    rounds = session.exec(select(ReviewRound).where(ReviewRound.report_id == report.id)
                          .order_by(ReviewRound.opened_at, ReviewRound.id))
    return {
        "report": report,
        "unit": session.get(Unit, report.unit_id),
        "year": session.get(Cycle, report.cycle_id).year,
        "events": history(session, report),
        "versions": versions_with_diffs(session, report),
        "rounds": list(rounds),
        "inbound": list(inbound),
        "sent": [{"mail": m, "reason": reason(m.last_error)} for m in sent],
        "filed": reached_filing(report),
        "step": step_of(report),
    }


def reached_filing(report: Report) -> bool:
    """Whether the report has a filed version (the filing .docx and the web page can be made)."""
    return report.stage in (Stage.FILING, Stage.FILED, Stage.CONFIDENTIALITY_REVIEW, Stage.PUBLISHED)
