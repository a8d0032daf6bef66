"""Who is reminded of what today: the reminder ladder applied to every open item, as one mail per person.

On a working day, in working hours, each person gets at most one mail: their own items whose ladder
step falls today (before the due date, on the day, overdue), the overdue items of the units they
supervise, and — for coordinators — what is overdue or due soon across their units, with the
filing deadline when it is near. Nothing on days off, outside working hours, or when there is
nothing to say. This module only plans (it is what `reportchain sweep --dry-run` shows); the sweep
flow writes the plan (flows/reminders.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from models.chain import Role, StageKind, stage_def
from models.db import utcnow
from models.deadlines import local_day
from models.pending import Item, coordinators_of, open_items, read_world, upper_coordinators
from models.tables import OutboxMessage, Person

MAX_LISTED = 100  # overview lines in one coordinator's digest; the most overdue first


@dataclass
class Line:
    """An item as told to one person: as the one who acts, or as supervisor or coordinator."""

    item: Item
    role: str  # actor | supervisor | coordinator
    step: str  # a ladder step, or "digest" in a coordinator's overview
    position: int  # n of 提醒 n/k (0 in an overview)
    total: int


@dataclass
class PersonMail:
    person: Person
    own: list[Line] = field(default_factory=list)
    urge: list[Line] = field(default_factory=list)  # overdue items of the units they supervise
    overview: list[Line] = field(default_factory=list)  # a coordinator's overdue / due-soon items
    filing: list[dict] = field(default_factory=list)  # a coordinator's filing deadline: {year, due, ahead, left}
    late: int = 0  # overview items overdue …
    soon: int = 0  # … and due soon, listed or not
    unlisted: int = 0  # overview items beyond MAX_LISTED (a province-wide coordinator's digest stays readable)

    @property
    def lines(self) -> list[Line]:
        return self.own + self.urge + self.overview

    def count_unfiled(self, year: int, due: date, ahead: int) -> None:
        summary = next((f for f in self.filing if f["year"] == year), None)
        if summary is None:
            self.filing.append(summary := {"year": year, "due": due, "ahead": ahead, "left": 0})
        summary["left"] += 1

    def settle(self) -> None:
        """Each item told once, in the first section that has it; the overview most overdue first,
        cut at MAX_LISTED lines."""
        own = {ln.item.key for ln in self.own}
        self.urge = [ln for ln in self.urge if ln.item.key not in own]
        told = own | {ln.item.key for ln in self.urge}
        overview = sorted((ln for ln in self.overview if ln.item.key not in told),
                          key=lambda ln: (-ln.item.overdue, ln.item.due, ln.item.report.ref))
        self.late = sum(1 for ln in overview if ln.item.overdue)
        self.soon = len(overview) - self.late
        self.overview, self.unlisted = overview[:MAX_LISTED], max(0, len(overview) - MAX_LISTED)


@dataclass
class Plan:
    """What a sweep at `now` sends, or why it sends nothing."""

    now: datetime
    today: date
    quiet: str | None = None  # day_off | before_hours | after_hours | no_cycle
    hours: tuple[time, time] | None = None  # working hours (of the latest cycle's policy)
    holiday: str | None = None
    unpublished_years: list[int] = field(default_factory=list)
    mails: list[PersonMail] = field(default_factory=list)
    already_sent: int = 0  # people whose mail of the day was written by an earlier sweep

    def as_json(self) -> dict:
        return {
            "now": self.now.isoformat(),
            "today": self.today.isoformat(),
            "quiet": self.quiet,
            "holiday": self.holiday,
            "unpublished_years": self.unpublished_years,
            "already_sent": self.already_sent,
            "mails": [{
                "to": m.person.email,
                "name": m.person.name,
                "items": [{"item": ln.item.key, "ref": ln.item.report.ref, "unit": ln.item.unit.name,
                           "stage": ln.item.stage, "role": ln.role, "step": ln.step,
                           "reminder": f"{ln.position}/{ln.total}" if ln.position else None,
                           "due": ln.item.due.isoformat(), "overdue_days": ln.item.overdue} for ln in m.lines],
                "filing": [{**f, "due": f["due"].isoformat()} for f in m.filing],
                "unlisted": m.unlisted,
            } for m in self.mails],
        }


# -- planning -----------------------------------------------------------------------------------------

def plan_sweep(session: Session, now: datetime, timezone: str) -> Plan:
    """What a sweep at `now` (in the county's `timezone`) would send; nothing is written."""
    today = local_day(now, timezone)
    plan = Plan(now=now, today=today)
    world = read_world(session, today)
    cal = world.calendar
    plan.unpublished_years = cal.warnings(today, today + timedelta(days=120))
    if not world.policies:
        plan.quiet = "no_cycle"
        return plan
    if not cal.is_working_day(today):
        plan.quiet, plan.holiday = "day_off", cal.holiday_name(today)
        return plan
    plan.hours = hours = world.policies[max(world.years, key=world.years.get)].working_hours
    local_time = now.astimezone(ZoneInfo(timezone)).time()
    if not hours[0] <= local_time < hours[1]:
        plan.quiet = "before_hours" if local_time < hours[0] else "after_hours"
        return plan

    mails: dict[int, PersonMail] = {}

    def mail_for(person: Person) -> PersonMail:
        return mails.setdefault(person.id, PersonMail(person))

    for item in open_items(world):
        policy = world.policies[item.report.cycle_id]
        steps, soon = policy.steps, max(policy.remind_before or (0,))
        item.overdue = max(0, cal.working_days_between(item.due, today))
        item.step = policy.step_on(cal, item.due, today) if item.actors else None
        if item.step:
            item.escalated = policy.escalation(item.overdue)
            line = Line(item, "actor", item.step, steps.index(item.step) + 1, len(steps))
            for person in item.actors:
                mail_for(person).own.append(line)
            if "supervisor" in item.escalated:
                for person in world.people.get((item.unit.id, Role.SUPERVISOR.value), []):
                    mail_for(person).urge.append(Line(item, "supervisor", item.step, 0, len(steps)))
        watching = {p.id: p for p in coordinators_of(world, item.unit) + upper_coordinators(world, item.unit)}
        if item.overdue or cal.working_days_between(today, item.due) <= soon:
            for person in watching.values():
                mail_for(person).overview.append(Line(item, "coordinator", item.step or "digest", 0, len(steps)))
        filing_due = policy.date_due(cal, "filing")
        ahead = cal.working_days_between(today, filing_due)
        filed = stage_def(item.chain, item.stage).kind in (StageKind.FILED, StageKind.CONFIDENTIALITY)
        if not filed and ahead <= soon:  # not filed yet, and the filing date is near or past
            for person in watching.values():
                mail_for(person).count_unfiled(item.year, filing_due, ahead)
    for mail in mails.values():
        mail.settle()

    sent = set(session.exec(select(OutboxMessage.idempotency_key).where(
        OutboxMessage.idempotency_key.like(mail_key("%", today)))))
    for _, mail in sorted(mails.items()):
        if mail_key(mail.person.email, today) in sent:
            plan.already_sent += 1
        elif mail.own or mail.urge or mail.overview or mail.filing:
            plan.mails.append(mail)
    return plan


def mail_key(person: str, day: date) -> str:
    """One reminder mail per person (their address) per day: the outbox's unique key says so."""
    return f"reminder:{person}:{day.isoformat()}"


def parse_now(value: str | None, timezone: str) -> datetime:
    """`--now` as given (an ISO date-time; without an offset it is local time), else the clock."""
    if not value:
        return utcnow()
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(timezone))
