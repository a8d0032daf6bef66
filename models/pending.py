"""What is open and when it is due: every report waiting on someone, read in a fixed number of queries.

An open item is a report in drafting (waiting on its drafters), an open review round (its
reviewer; the confidentiality review's by the disclosure date), an approved report to be filed by
the filing date, or a filed or confidentiality-cleared report awaiting public disclosure (both: the
unit's coordinators). Its due date comes from the cycle's policy on the
working calendar. The reminder sweep and the status board both read this; neither asks per report.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from models.calendar import WorkingCalendar, load_calendar
from models.chain import DECIDED_KINDS, ChainSet, Role, Stage, StageDef, StageKind, stage_def
from models.deadlines import DeadlinePolicy, draft_due, local_day, round_due
from models.tables import Assignment, Cycle, Person, Report, ReportVersion, ReviewRound, Unit


@dataclass
class Item:
    """One report waiting on someone, with its due date (and, during a sweep, today's ladder step)."""

    key: str  # round:ID | draft:REPORT:N | filing:REPORT | publish:REPORT
    report: Report
    unit: Unit
    year: int
    stage: str
    due: date
    chain: tuple[StageDef, ...]  # the report's own chain, which names its stages
    actors: list[Person]
    thread: str | None = None  # the prompt's Message-ID, for a review round
    draft_number: int = 0  # for a report in drafting: the number of the version it waits for
    step: str | None = None
    overdue: int = 0  # working days late
    escalated: list[str] = field(default_factory=list)  # supervisor, coordinator: told as well

    @property
    def review(self) -> bool:
        """An open review round, decided by replying to its prompt."""
        return self.key.startswith("round:")

    @property
    def publishing(self) -> bool:
        """The coordinators are to publish it: its confidentiality review approved (a filed report waits
        for a reviewer in the roster first)."""
        return self.key.startswith("publish:") and stage_def(self.chain, self.stage).kind is StageKind.CONFIDENTIALITY


@dataclass
class World:
    """What is read: cycles and their policies, open reports, rounds, people by (unit, role)."""

    calendar: WorkingCalendar
    policies: dict[int, DeadlinePolicy]  # cycle id → policy
    chains: dict[int, ChainSet]  # cycle id → the chains it was opened with
    years: dict[int, int]  # cycle id → year
    reports: list[tuple[Report, Unit]]
    rounds: dict[tuple[int, str], ReviewRound]  # (report, stage) → its open round
    reviewers: dict[int, Person]  # round id → its reviewer
    versions: dict[int, int]  # report id → number of versions
    returned: dict[int, datetime]  # report id → when it was last returned
    people: dict[tuple[int, str], list[Person]]  # (unit, role) → people
    roots: set[int]  # the units with no parent: the level(s) running the cycle


def running_cycles(cycles: list[Cycle], today: date) -> list[Cycle]:
    """The cycles still running on `today`: not closed, and not past the day after their disclosure date."""
    return [c for c in cycles if c.closed_at is None
            and DeadlinePolicy.from_json(c.policy).dates["disclosure"] >= today - timedelta(days=1)]


def read_world(session: Session, today: date, year: int | None = None) -> World:
    """Everything open in the cycles still running on `today` (or in the cycle of `year`, closed or not)
    for units not closed: nine queries whatever the number of reports."""
    cycles = session.exec(select(Cycle)).all()
    policies = {c.id: DeadlinePolicy.from_json(c.policy) for c in cycles}
    if year is not None:
        live = [c.id for c in cycles if c.year == year]
    else:
        live = [c.id for c in running_cycles(cycles, today)]
    open_reports = (Report.cycle_id.in_(live), Report.stage != Stage.PUBLISHED, Unit.closed_at.is_(None))
    reports = session.exec(select(Report, Unit).join(Unit, Unit.id == Report.unit_id)
                           .where(*open_reports).order_by(Report.ref)).all()
    rounds, reviewers = {}, {}
    for rnd, reviewer in session.exec(select(ReviewRound, Person).join(Person, Person.id == ReviewRound.reviewer_id)
                                      .where(ReviewRound.decision.is_(None)).order_by(ReviewRound.id)):
        rounds[(rnd.report_id, rnd.stage)], reviewers[rnd.id] = rnd, reviewer
    versions = dict(session.exec(select(ReportVersion.report_id, func.count())
                                 .group_by(ReportVersion.report_id)).all())
    returned = dict(session.exec(select(ReviewRound.report_id, func.max(ReviewRound.decided_at))
                                 .where(ReviewRound.decision == "return").group_by(ReviewRound.report_id)).all())
    people: dict[tuple[int, str], list[Person]] = defaultdict(list)
    for unit_id, role, person in session.exec(
            select(Assignment.unit_id, Assignment.role, Person).join(Person, Person.id == Assignment.person_id)
            .where(Assignment.role.in_([Role.DRAFTER.value, Role.SUPERVISOR.value, Role.COORDINATOR.value]),
                   Assignment.ended_at.is_(None))
            .order_by(Assignment.id)):
        people[(unit_id, role)].append(person)
    roots = set(session.exec(select(Unit.id).where(Unit.parent_id.is_(None))))
    chains = {c.id: ChainSet.from_json(c.chains) for c in cycles}
    return World(load_calendar(session), policies, chains, {c.id: c.year for c in cycles}, list(reports), rounds,
                 reviewers, versions, returned, people, roots)


def open_items(world: World) -> list[Item]:
    """Every report of the world waiting on someone, with the due date of what it waits for."""
    items = []
    for report, unit in world.reports:
        policy, cal, year = world.policies[report.cycle_id], world.calendar, world.years[report.cycle_id]
        chain = world.chains[report.cycle_id].chains[report.chain or "default"]
        stage = stage_def(chain, report.stage)
        if stage.kind is StageKind.DRAFT:
            returned = world.returned.get(report.id)
            due = draft_due(policy, cal, local_day(returned, unit.timezone) if returned else None)
            number = world.versions.get(report.id, 0) + 1
            items.append(Item(f"draft:{report.id}:{number}", report, unit, year, report.stage, due, chain,
                              world.people.get((unit.id, Role.DRAFTER.value), []), draft_number=number))
        elif stage.kind in DECIDED_KINDS and (rnd := world.rounds.get((report.id, report.stage))) is not None:
            due = round_due(policy, cal, stage, local_day(rnd.opened_at, unit.timezone))
            items.append(Item(f"round:{rnd.id}", report, unit, year, report.stage, due, chain,
                              [world.reviewers[rnd.id]], rnd.prompt_message_id))
        elif stage.kind is StageKind.FILING:
            items.append(Item(f"filing:{report.id}", report, unit, year, report.stage,
                              policy.date_due(cal, "filing"), chain, coordinators_of(world, unit)))
        elif stage.kind in (StageKind.FILED, StageKind.CONFIDENTIALITY):  # cleared (or no reviewer yet): publish
            items.append(Item(f"publish:{report.id}", report, unit, year, report.stage,
                              policy.date_due(cal, "disclosure"), chain, coordinators_of(world, unit)))
    return items


def coordinators_of(world: World, unit: Unit) -> list[Person]:
    """The unit's own coordinators, else those of the level above it."""
    return world.people.get((unit.id, Role.COORDINATOR.value)) or upper_coordinators(world, unit)


def upper_coordinators(world: World, unit: Unit) -> list[Person]:
    """The coordinators of the unit's parent (the county, city … it reports to); when it names none,
    those of the roster's root(s), the level running the cycle."""
    own = world.people.get((unit.parent_id, Role.COORDINATOR.value), []) if unit.parent_id else []
    found = own or [p for root in sorted(world.roots) for p in world.people.get((root, Role.COORDINATOR.value), [])]
    return list({p.id: p for p in found}.values())
