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
from models.chain import DECIDED_KINDS, Role, Stage, StageKind, get_chain, stage_def
from models.deadlines import DeadlinePolicy, draft_due, local_day, round_due
from models.tables import Assignment, Cycle, Person, Report, ReportVersion, ReviewRound, Unit

COUNTY_KIND = "county"  # the level that runs the cycle; it gets no report of its own


@dataclass
class Item:
    """One report waiting on someone, with its due date (and, during a sweep, today's ladder step)."""

    key: str  # round:ID | draft:REPORT:N | filing:REPORT | publish:REPORT
    report: Report
    unit: Unit
    year: int
    stage: str
    due: date
    actors: list[Person]
    thread: str | None = None  # the prompt's Message-ID, for a review round
    draft_number: int = 0  # for a report in drafting: the number of the version it waits for
    step: str | None = None
    overdue: int = 0  # working days late
    escalated: list[str] = field(default_factory=list)  # supervisor, coordinator: told as well

    @property
    def publishing(self) -> bool:
        """The coordinators are to publish it: its confidentiality review approved (a filed report waits
        for a reviewer in the roster first)."""
        return self.key.startswith("publish:") and \
            stage_def(get_chain(self.unit.chain), self.stage).kind is StageKind.CONFIDENTIALITY


@dataclass
class World:
    """What is read: cycles and their policies, open reports, rounds, people by (unit, role)."""

    calendar: WorkingCalendar
    policies: dict[int, DeadlinePolicy]  # cycle id → policy
    years: dict[int, int]  # cycle id → year
    reports: list[tuple[Report, Unit]]
    rounds: dict[tuple[int, str], ReviewRound]  # (report, stage) → its open round
    reviewers: dict[int, Person]  # round id → its reviewer
    versions: dict[int, int]  # report id → number of versions
    returned: dict[int, datetime]  # report id → when it was last returned
    people: dict[tuple[int, str], list[Person]]  # (unit, role) → people
    counties: dict[int, Unit]


def read_world(session: Session, today: date, year: int | None = None) -> World:
    """Everything open in the cycles still running on `today` (or in the cycle of `year`): nine
    queries whatever the number of reports."""
    cycles = session.exec(select(Cycle)).all()
    policies = {c.id: DeadlinePolicy.from_json(c.policy) for c in cycles}
    if year is not None:
        live = [c.id for c in cycles if c.year == year]
    else:  # a cycle runs until the day after its disclosure date
        live = [c.id for c in cycles if policies[c.id].dates["disclosure"] >= today - timedelta(days=1)]
    open_reports = (Report.cycle_id.in_(live), Report.stage != Stage.PUBLISHED)
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
            .where(Assignment.role.in_([Role.DRAFTER.value, Role.SUPERVISOR.value, Role.COORDINATOR.value]))
            .order_by(Assignment.id)):
        people[(unit_id, role)].append(person)
    counties = {u.id: u for u in session.exec(select(Unit).where(Unit.kind == COUNTY_KIND))}
    return World(load_calendar(session), policies, {c.id: c.year for c in cycles}, list(reports), rounds,
                 reviewers, versions, returned, people, counties)


def open_items(world: World) -> list[Item]:
    """Every report of the world waiting on someone, with the due date of what it waits for."""
    items = []
    for report, unit in world.reports:
        policy, cal, year = world.policies[report.cycle_id], world.calendar, world.years[report.cycle_id]
        stage = stage_def(get_chain(unit.chain), report.stage)
        kind = stage.kind
        if kind is StageKind.DRAFT:
            returned = world.returned.get(report.id)
            due = draft_due(policy, cal, local_day(returned, unit.timezone) if returned else None)
            number = world.versions.get(report.id, 0) + 1
            items.append(Item(f"draft:{report.id}:{number}", report, unit, year, report.stage, due,
                              world.people.get((unit.id, Role.DRAFTER.value), []), draft_number=number))
        elif kind in DECIDED_KINDS and (rnd := world.rounds.get((report.id, report.stage))) is not None:
            due = round_due(policy, cal, stage, local_day(rnd.opened_at, unit.timezone))
            items.append(Item(f"round:{rnd.id}", report, unit, year, report.stage, due,
                              [world.reviewers[rnd.id]], rnd.prompt_message_id))
        elif kind is StageKind.FILING:
            items.append(Item(f"filing:{report.id}", report, unit, year, report.stage,
                              policy.date_due(cal, "filing"), coordinators_of(world, unit)))
        elif kind in (StageKind.FILED, StageKind.CONFIDENTIALITY):  # cleared (or no reviewer yet): publish
            items.append(Item(f"publish:{report.id}", report, unit, year, report.stage,
                              policy.date_due(cal, "disclosure"), coordinators_of(world, unit)))
    return items


def coordinators_of(world: World, unit: Unit) -> list[Person]:
    """The unit's own coordinators, else those of its county."""
    return world.people.get((unit.id, Role.COORDINATOR.value)) or county_coordinators(world, unit)


def county_coordinators(world: World, unit: Unit) -> list[Person]:
    """The coordinators of the unit's county; of every county when the unit names none."""
    counties = [unit.parent_id] if unit.parent_id in world.counties else list(world.counties)
    found = [p for c in counties for p in world.people.get((c, Role.COORDINATOR.value), [])]
    return list({p.id: p for p in found}.values())
