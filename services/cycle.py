"""A year's cycle: open it (one report per reporting unit and a kickoff mail to its drafters; run again,
e.g. by a roster import, it opens the reports of units that joined since) and close it (no more reminders;
what was never finished is listed).

Written in batches of BATCH units, a few statements each whatever the batch's size (Core inserts of many
rows, as the reminder sweep writes): the reports (one INSERT, their ids read back in one SELECT), their
audit events (one INSERT) and their kickoff mails (one INSERT)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, insert
from sqlmodel import Session, select, update

from core.clock import today_in
from core.settings import Settings
from core.texts import template_module
from documents.kit import drafting_skeleton
from models.calendar import load_calendar
from models.chain import BUILT_IN, ChainSet, Refused, Role, Stage
from models.chain_file import read_chain_file
from models.db import utcnow
from models.deadlines import DeadlinePolicy, default_policy, policy_with, read_policy_file
from models.tables import Assignment, AuditEvent, Cycle, OutboxMessage, OutboxStatus, Person, Reminder, Report, Unit
from notifications.message import Attachment
from notifications.outbox import mail_secret, mail_values
from services.audit import audit, audit_event
from services.stages import addressee_of, recipients

BATCH = 500  # units per batch of statements


def cycle_under_way(today: date) -> int:
    """The year whose cycle runs on `today`: the cycle for year Y runs from December Y to its public
    disclosure before April Y+1, so from April on the next one is being prepared."""
    return today.year if today.month >= 4 else today.year - 1


def check_cycle_year(year: int, timezone: str) -> None:
    """Refuse a year that is neither the cycle under way nor the next one: a past year's cycle (it would
    send kickoff mails for a finished year) or a far-off one (a typo) must be confirmed by its user."""
    current = cycle_under_way(today_in(timezone))
    if year < current:
        raise Refused("cycle_year_past", year=year, current=current)
    if year > current + 1:
        raise Refused("cycle_year_future", year=year, current=current)


def cycle_policy(settings: Settings, year: int, changes: dict | None = None) -> DeadlinePolicy:
    """The defaults, then the policy file of the settings (REPORTCHAIN_DEADLINES_FILE), then `changes`."""
    policy = default_policy(year)
    if settings.deadlines_file is not None:
        policy = policy_with(policy, read_policy_file(settings.deadlines_file), year)
    return policy_with(policy, changes or {}, year)


def configured_chains(settings: Settings) -> ChainSet:
    """The county's chains: its chain file (REPORTCHAIN_CHAINS_FILE), else the built-in default chain."""
    return read_chain_file(settings.chains_file) if settings.chains_file is not None else BUILT_IN


def open_cycle(session: Session, settings: Settings, year: int, changes: dict | None = None,
               actor: str = "coordinator") -> list[Report]:
    """Create the cycle (or change its deadline policy) and the reports that are missing (of units that
    report and are not closed); returns new reports. Refused for a closed cycle. A new cycle keeps the
    county's chains as they are now; each report starts on its unit's chain in them."""
    cycle = session.exec(select(Cycle).where(Cycle.year == year)).first()
    if cycle is None:
        cycle = Cycle(year=year, policy=cycle_policy(settings, year, changes).as_json(),
                      chains=configured_chains(settings).as_json())
        session.add(cycle)
        session.flush()
        audit(session, None, actor, "cycle_opened", year=year, policy=cycle.policy, chains=cycle.chains)
    elif cycle.closed_at is not None:
        raise Refused("cycle_closed", year=year, on=cycle.closed_at.date().isoformat())
    elif changes:
        change_policy(session, cycle, changes, actor)
    drafting_due = DeadlinePolicy.from_json(cycle.policy).date_due(load_calendar(session), "drafting")

    have = set(session.exec(select(Report.unit_id).where(Report.cycle_id == cycle.id)))
    count = session.exec(select(func.count()).where(Report.cycle_id == cycle.id)).one()
    units = session.exec(select(Unit).where(Unit.reports, Unit.closed_at.is_(None)).order_by(Unit.id)).all()
    missing = [unit for unit in units if unit.id not in have]
    chains = ChainSet.from_json(cycle.chains)
    chain_of_unit = {unit.id: chains.chain_for(unit.code, unit.kind, unit.chain) for unit in missing}
    for unit in missing:
        if chain_of_unit[unit.id] not in chains.chains:  # a unit the roster gave a chain this cycle does not have
            raise Refused("unknown_chain", unit=unit.name, chain=chain_of_unit[unit.id])
    drafters = defaultdict(list)
    assigned = (select(Assignment.unit_id, Person).join(Person, Assignment.person_id == Person.id)
                .where(Assignment.role == Role.DRAFTER.value, Assignment.ended_at.is_(None)).order_by(Assignment.id))
    for unit_id, person in session.exec(assigned):
        drafters[unit_id].append(person)
    context = {"cycle": cycle, "policy": DeadlinePolicy.from_json(cycle.policy), "due": drafting_due}
    schedules = {name: template_module("email/_schedule.j2", **context, chain=chains.chains[name])
                 for name in set(chain_of_unit.values())}  # the same timetable in every kickoff of a chain
    created, addressees, secret = [], {}, mail_secret(session)
    for start in range(0, len(missing), BATCH):
        batch = missing[start:start + BATCH]
        new = Report(ref="", unit_id=0, cycle_id=cycle.id).model_dump(exclude={"id"})  # the model's defaults
        session.execute(insert(Report.__table__), [{**new, "ref": f"R-{year}-{count + start + i:03d}",
                                                    "unit_id": unit.id, "chain": chain_of_unit[unit.id]}
                                                   for i, unit in enumerate(batch, 1)])
        reports = {report.unit_id: report for report in session.exec(  # their ids, in one SELECT
            select(Report).where(Report.cycle_id == cycle.id, Report.unit_id.in_([unit.id for unit in batch])))}
        reports = [reports[unit.id] for unit in batch]
        opened = audit_event(None, actor, "report_opened", to_stage=new["stage"]).model_dump(exclude={"id"})
        session.execute(insert(AuditEvent.__table__), [{**opened, "report_id": report.id} for report in reports])
        mails = []
        for unit, report in zip(batch, reports, strict=True):
            if unit.parent_id not in addressees:
                addressees[unit.parent_id] = addressee_of(session, unit)
            skeleton = Attachment("template.docx", drafting_skeleton(unit.name, year, addressees[unit.parent_id]))
            mails += [mail_values(settings, secret=secret, key=f"kickoff:{report.ref}:{drafter.email}", kind="kickoff",
                                  to=recipients([drafter]), report_id=report.id, attachment=skeleton,
                                  context={**context, "schedule": schedules[report.chain], "report": report,
                                           "unit": unit, "drafter": drafter})
                      for drafter in drafters[unit.id]]
        if mails:  # new reports: no mail of theirs can exist yet
            session.execute(insert(OutboxMessage.__table__), mails)
        created += reports
    return created


def change_policy(session: Session, cycle: Cycle, changes: dict, actor: str) -> bool:
    """Change an open cycle's deadline policy (audited); False when nothing changes."""
    policy = policy_with(DeadlinePolicy.from_json(cycle.policy), changes, cycle.year).as_json()
    if policy == cycle.policy:
        return False
    audit(session, None, actor, "policy_changed", year=cycle.year, before=cycle.policy, after=policy)
    cycle.policy = policy
    session.add(cycle)
    return True


@dataclass(frozen=True)
class ClosedCycle:
    year: int
    unfinished: list[tuple[str, str, str]]  # (ref, unit name, stage) of every report never published
    cancelled: int  # reminders written and not yet sent, now cancelled


def close_cycle(session: Session, year: int, actor: str) -> ClosedCycle:
    """End the cycle of `year`: no more reminders about it (the sweep leaves closed cycles out, and its
    unsent reminders are cancelled); refused for a year never opened or a cycle closed before."""
    cycle = session.exec(select(Cycle).where(Cycle.year == year)).first()
    if cycle is None:
        raise Refused("no_cycle_to_close", year=year)
    if cycle.closed_at is not None:
        raise Refused("cycle_already_closed", year=year, by=cycle.closed_by, on=cycle.closed_at.date().isoformat())
    cycle.closed_at, cycle.closed_by = utcnow(), actor
    session.add(cycle)
    unfinished = session.exec(select(Report.ref, Unit.name, Report.stage).join(Unit, Unit.id == Report.unit_id)
                              .where(Report.cycle_id == cycle.id, Report.stage != Stage.PUBLISHED)
                              .order_by(Report.ref)).all()
    audit(session, None, actor, "cycle_closed", year=year, unfinished=[ref for ref, _, _ in unfinished])
    cancelled = session.exec(update(OutboxMessage).where(
        OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.kind == "reminder",
        OutboxMessage.id.in_(select(Reminder.outbox_id).join(Report, Report.id == Reminder.report_id)
                             .where(Report.cycle_id == cycle.id)))
        .values(status=OutboxStatus.CANCELLED, last_error=f"cycle {year} closed"))
    session.flush()
    return ClosedCycle(year, [tuple(row) for row in unfinished], cancelled.rowcount)
