"""The read side the front doors share: the status board of a cycle, its cumulative flow, and a
report's whole story (history, versions with their diffs, mails in and out).

These never write and never start Prefect. The board and the flow read the database in a fixed
number of queries whatever the number of reports; a report's story reads one report.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from core.texts import message, stage_label
from documents.diff import changes
from models.chain import DEFAULT_CHAIN, ChainSet, Role, Stage, StageDef
from models.deadlines import DeadlinePolicy, local_day
from models.pending import World, open_items, read_world
from models.tables import (
    AuditEvent,
    Cycle,
    InboundMessage,
    OutboxMessage,
    OutboxStatus,
    Report,
    ReportVersion,
    ReviewRound,
    Unit,
)
from notifications.outbox import reason
from services.filing import FILING_MAIL
from services.stages import chain_of

STAGES = tuple(s.name for s in DEFAULT_CHAIN)  # the default chain's steps, drafting → published


def step_of(report: Report, chain: tuple[StageDef, ...]) -> int:
    """Which step of its chain the report stands at (1 drafting … len(chain) published)."""
    names = [s.name for s in chain]
    return names.index(report.stage) + 1 if report.stage in names else 0


def latest_year(session: Session) -> int | None:
    return session.exec(select(Cycle.year).order_by(Cycle.year.desc())).first()


def years(session: Session) -> list[int]:
    return list(session.exec(select(Cycle.year).order_by(Cycle.year.desc())))


def status(session: Session, year: int, today: date, units: frozenset[int] | None = None) -> dict:
    """`{"year", "reports": [{"ref", "unit", "unit_kind", "stage", "stage_label", "step", "steps", "due",
    "overdue", "overdue_days", "waiting_on", "supervisors", "returns", "acknowledged_on", "unacknowledged_days",
    "closed"}]}` for one cycle (of the `units` given, or of every unit): where each report stands in its own
    chain (named as that chain names it), the due date of what it waits for now, who it waits on, how many
    working days late, how often it was returned, whether the upper level acknowledged its filing, and why
    its unit was closed (None: open); a closed unit's report waits on nobody (a fixed number of queries)."""
    world = read_world(session, today, year=year)
    items = {item.report.id: item for item in open_items(world)}
    returns = dict(session.exec(select(ReviewRound.report_id, func.count())
                                .join(Report, Report.id == ReviewRound.report_id)
                                .join(Cycle, Cycle.id == Report.cycle_id)
                                .where(Cycle.year == year, ReviewRound.decision == "return")
                                .group_by(ReviewRound.report_id)).all())
    filed = dict(session.exec(
        select(OutboxMessage.report_id, OutboxMessage.sent_at)
        .join(Report, Report.id == OutboxMessage.report_id)
        .join(Cycle, Cycle.id == Report.cycle_id)
        .where(Cycle.year == year, Report.stage.in_((Stage.FILED, Stage.CONFIDENTIALITY_REVIEW)),
               Report.acknowledged_at.is_(None),
               OutboxMessage.kind == FILING_MAIL, OutboxMessage.status == OutboxStatus.SENT)).all())
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
        chain = world.chains[report.cycle_id].chains[report.chain or "default"]
        due = item.due if item else None
        late = world.calendar.working_days_between(due, today) if due and today > due else 0
        reports.append({
            "ref": report.ref,
            "unit": unit.name,
            "unit_kind": unit.kind,
            "stage": report.stage,
            "stage_label": stage_label(report.stage, chain),
            "step": step_of(report, chain),
            "steps": len(chain),
            "due": due.isoformat() if due else None,
            "overdue": bool(due and today > due),
            "overdue_days": late,
            "waiting_on": [person.name for person in item.actors] if item else [],
            "supervisors": [p.name for p in world.people.get((unit.id, Role.SUPERVISOR.value), [])],
            "returns": returns.get(report.id, 0),
            "acknowledged_on": local_day(report.acknowledged_at, unit.timezone).isoformat()
            if report.acknowledged_at else None,
            "unacknowledged_days": unacknowledged_days(world, report, unit, filed.get(report.id), today),
            "closed": unit.closed_reason if unit.closed_at else None,
        })
    return {"year": year, "reports": reports}


def unacknowledged_days(world: World, report: Report, unit: Unit, sent_at: datetime | None, today: date) -> int:
    """Working days since the filing mail went out, once the cycle's `acknowledgement` days have passed
    without the upper level's answer (0 before, and for a report not filed or acknowledged)."""
    if sent_at is None:
        return 0
    days = world.calendar.working_days_between(local_day(sent_at, unit.timezone), today)
    return days if days >= world.policies[report.cycle_id].acknowledgement else 0


def state(row: dict) -> str:
    """The board's 状态 cell: overdue, filed but not acknowledged, or on time."""
    if row["overdue"]:
        return message("overdue")
    if row["unacknowledged_days"]:
        return message("unacknowledged", days=row["unacknowledged_days"])
    return message("on_time")


def columns() -> list[str]:
    """The board's Chinese column names (templates/cli/messages.j2, status_columns)."""
    return message("status_columns").split("|")


def rows(board: dict) -> list[list[str]]:
    """The board's rows as the people who read it see them: stage and state in Chinese, "—" for none."""
    return [[r["ref"], r["unit"], message("unit_closed_mark", reason=r["closed"]) if r["closed"]
             else r["stage_label"], "、".join(r["waiting_on"]) or "—", r["due"] or "—", state(r)]
            for r in board["reports"]]


@dataclass(frozen=True)
class Flow:
    """The cumulative flow of a cycle: for each day since it opened, how many reports stood at each
    stage at the day's end (days after `today` are not counted), and the cycle's marked dates."""

    days: list[date]
    counts: dict[str, list[int]]  # stage → one count per day of `days` up to today, in the order of the chains
    labels: dict[str, str]  # stage → its name (as the first of the cycle's chains having it calls it)
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
    labels = stage_names(ChainSet.from_json(cycle.chains))
    counts = {stage: [0] * len(counted) for stage in labels}
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
    return Flow(days, counts, labels, today, policy.dates["filing"], policy.dates["disclosure"])


def stage_names(chains: ChainSet) -> dict[str, str]:
    """Every stage of the chains, drafting → published (a stage only some chains have follows the stage
    before it in the first of them), each with its name in the first chain having it."""
    order = list(STAGES)
    labels: dict[str, str] = {}
    for chain in chains.chains.values():
        for before, stage in zip([None, *chain], chain, strict=False):
            if stage.name not in order:
                order.insert(order.index(before.name) + 1, stage.name)
            labels.setdefault(stage.name, stage_label(stage.name, chain))
    return {stage: labels.get(stage) or stage_label(stage) for stage in order}


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
    chain = chain_of(session, report)
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
        "chain": chain,
        "step": step_of(report, chain),
    }


def reached_filing(report: Report) -> bool:
    """Whether the report has a filed version (the filing .docx and the web page can be made)."""
    return report.stage in (Stage.FILING, Stage.FILED, Stage.CONFIDENTIALITY_REVIEW, Stage.PUBLISHED)
