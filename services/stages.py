"""The one place where a report changes stage, and what entering a stage does.

`move` applies the chain rules, checks the row version and writes the audit event; entering a
review stage (or the confidentiality review) opens a round and writes the reviewer's prompt; a
return tells the drafters. All of
it happens in the caller's transaction, so a stage change and its mails commit together.
Work that changes no roster and no calendar on many reports at once (a batch of the reply intake)
reads the units' people and the calendar once, with `roster_read_once`.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from sqlmodel import Session, select, update

from core.settings import Settings
from documents.diff import changes
from documents.render import piece
from models.calendar import WorkingCalendar, load_calendar
from models.chain import DECIDED_KINDS, ChainSet, Event, Refused, Role, StageDef, StageKind, stage_def, transition
from models.db import utcnow
from models.deadlines import DeadlinePolicy, draft_due, local_day, round_due
from models.tables import (
    Assignment,
    Cycle,
    OutboxMessage,
    OutboxStatus,
    Person,
    Reminder,
    Report,
    ReportVersion,
    ReviewRound,
    Unit,
)
from notifications.outbox import Recipient, enqueue, keyed, mail_secret
from services.audit import audit

MAX_CHANGES_SHOWN = 40  # paragraphs of a diff in a prompt; the attachment has the rest
REPLY_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L


CHAIN_SETS = "reportchain.chains"  # session.info: cycle id -> (the Cycle instance, its ChainSet)


def chain_of(session: Session, report: Report) -> tuple[StageDef, ...]:
    """The chain the report started on: its name in the chains its cycle was opened with. A cycle's chains
    never change once it is open, so they are read from its JSON once per session (again only when the
    session holds another instance of the cycle, e.g. after a rollback)."""
    cycle = session.get(Cycle, report.cycle_id)
    held = session.info.setdefault(CHAIN_SETS, {}).get(cycle.id)
    if held is None or held[0] is not cycle:
        held = session.info[CHAIN_SETS][cycle.id] = (cycle, ChainSet.from_json(cycle.chains))
    return held[1].chains[report.chain or "default"]


ROSTER = "reportchain.roster"  # the key of a RosterSnapshot in session.info


@dataclass(frozen=True)
class RosterSnapshot:
    units: frozenset[int]
    people: dict[tuple[int, str], list[Person]]  # (unit id, role value) -> people, in assignment order
    calendar: WorkingCalendar


@contextmanager
def roster_read_once(session: Session, unit_ids: set[int]) -> Iterator[None]:
    """Inside the block, `people_with_role` for these units and `working_calendar` answer from one read
    of the roster and one of the calendar, taken here. Only for work that changes neither."""
    people = defaultdict(list)
    rows = session.exec(select(Assignment.unit_id, Assignment.role, Person)
                        .join(Person, Person.id == Assignment.person_id)
                        .where(Assignment.unit_id.in_(unit_ids), Assignment.ended_at.is_(None))
                        .order_by(Assignment.id)) if unit_ids else []
    for unit_id, role, person in rows:
        people[(unit_id, role)].append(person)
    session.info[ROSTER] = RosterSnapshot(frozenset(unit_ids), dict(people), load_calendar(session))
    try:
        yield
    finally:
        del session.info[ROSTER]


def working_calendar(session: Session) -> WorkingCalendar:
    held = session.info.get(ROSTER)
    return held.calendar if held is not None else load_calendar(session)


def people_with_role(session: Session, unit_id: int, role: Role) -> list[Person]:
    held = session.info.get(ROSTER)
    if held is not None and unit_id in held.units:
        return list(held.people.get((unit_id, role.value), ()))
    query = (
        select(Person)
        .join(Assignment, Assignment.person_id == Person.id)
        .where(Assignment.unit_id == unit_id, Assignment.role == role.value, Assignment.ended_at.is_(None))
        .order_by(Assignment.id)
    )
    return list(session.exec(query))


def coordinators_of(session: Session, unit: Unit | None) -> list[Person]:
    """The unit's own coordinators, else its parent's, else those of the roster's root(s) (for no unit,
    too): the same rule as the status board's 待办人 (models/pending.py, which reads it from its batch of rows)."""
    own = people_with_role(session, unit.id, Role.COORDINATOR) if unit is not None else []
    if own:
        return own
    found = people_with_role(session, unit.parent_id, Role.COORDINATOR) if unit is not None and unit.parent_id else []
    if not found:
        roots = session.exec(select(Unit.id).where(Unit.parent_id.is_(None)).order_by(Unit.id))
        found = [p for root in roots for p in people_with_role(session, root, Role.COORDINATOR)]
    return list({p.id: p for p in found}.values())


def recipients(people: Sequence[Person]) -> list[Recipient]:
    return [Recipient(p.name, p.email) for p in people]


def move(session: Session, report: Report, event: Event, *, actor: str, **detail) -> str:
    """Apply `event` to the report or raise Refused (also when its unit was closed); returns the stage it left."""
    unit = session.get(Unit, report.unit_id)
    if unit.closed_at is not None:
        raise Refused("unit_closed", unit=unit.name, reason=unit.closed_reason)
    chain = chain_of(session, report)
    returned_from = last_returned_from(session, report) if event is Event.SUBMIT else None
    t = transition(chain, report.stage, event, returned_from)
    if not t.allowed:
        raise Refused.from_transition(t, chain=chain)
    left = report.stage
    report.stage, report.updated_at = t.to_stage, utcnow()
    session.add(report)
    audit(session, report, actor, event.value, from_stage=left, to_stage=t.to_stage, **detail)
    session.flush()  # the row-version check happens here: a racing writer gets StaleDataError
    cancel_reminders(session, report)
    return left


def last_returned_from(session: Session, report: Report) -> str | None:
    """The stage of the report's latest return, if any (a public version goes back to it)."""
    query = select(ReviewRound.stage).where(ReviewRound.report_id == report.id, ReviewRound.decision == "return")
    return session.exec(query.order_by(ReviewRound.decided_at.desc(), ReviewRound.id.desc()).limit(1)).first()


def cancel_reminders(session: Session, report: Report) -> None:
    """A report that moves is no longer waiting on anyone it was waiting on: unsent reminders that
    ask someone to act on it, or urge them to, are cancelled (coordinators' overviews, which say
    "as of" their day, still go)."""
    about = select(Reminder.outbox_id).where(Reminder.report_id == report.id, Reminder.role != "coordinator")
    session.exec(update(OutboxMessage)
                 .where(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.kind == "reminder",
                        OutboxMessage.id.in_(about))
                 .values(status=OutboxStatus.CANCELLED,
                         last_error=f"{report.ref} moved on before the reminder was sent")
                 .execution_options(synchronize_session=False))  # delivery re-reads the rows it claims


def addressee_of(session: Session, unit: Unit) -> str:
    """The 主送 of the unit's report: its county's party committee and government."""
    parent = session.get(Unit, unit.parent_id) if unit.parent_id else None
    return piece("addressee_of", parent.name if parent else "")


def report_context(session: Session, report: Report) -> dict:
    unit = session.get(Unit, report.unit_id)
    cycle = session.get(Cycle, report.cycle_id)
    return {"report": report, "unit": unit, "cycle": cycle, "policy": DeadlinePolicy.from_json(cycle.policy),
            "chain": chain_of(session, report)}


def hash_reply_code(code: str, *, ref: str, stage: str, number: int, reviewer: str, version_id: int) -> str:
    """The stored form of a 审核码: bound to the reviewer, the round and the version."""
    material = f"{ref}|{stage}|{number}|{reviewer.lower()}|{version_id}|{code.upper()}"
    return hashlib.sha256(material.encode()).hexdigest()


def round_name(report: Report, stage: str, number: int) -> str:
    """A round as the world knows it (the report's ref, the stage, the round's number), never a row id: the
    idempotency keys of its mails are made of it, so they are the same when a database restored from a
    backup writes those mails again."""
    return f"{report.ref}:{stage}:{number}"


def reply_code(secret: str, round_named: str, reviewer: str) -> str:
    """The round's 审核码: unguessable without the installation's secret, and the same for the same round
    and reviewer (a database restored from a backup knows the code the reviewer was sent)."""
    digest = bytes.fromhex(keyed(secret, "reply-code", f"{round_named}|{reviewer.lower()}"))
    return "".join(REPLY_CODE_ALPHABET[b % len(REPLY_CODE_ALPHABET)] for b in digest[:6])


def open_round(session: Session, settings: Settings, report: Report, version: ReportVersion) -> ReviewRound:
    """Entering a review stage: a round for its reviewer and the prompt with the version attached."""
    stage = stage_def(chain_of(session, report), report.stage)
    reviewers = people_with_role(session, report.unit_id, stage.actor)
    if not reviewers:
        unit = session.get(Unit, report.unit_id)
        raise Refused("missing_role", unit=unit.name, role=stage.role_label or stage.actor.value)
    reviewer = reviewers[0]
    earlier = session.exec(select(ReviewRound).where(ReviewRound.report_id == report.id)
                           .order_by(ReviewRound.id.desc())).all()
    number = 1 + sum(r.stage == stage.name for r in earlier)
    code = reply_code(mail_secret(session), round_name(report, stage.name, number), reviewer.email)
    rnd = ReviewRound(
        report_id=report.id,
        stage=stage.name,
        number=number,
        reviewer_id=reviewer.id,
        version_id=version.id,
        reply_code_hash=hash_reply_code(
            code, ref=report.ref, stage=stage.name, number=number, reviewer=reviewer.email, version_id=version.id
        ),
    )
    session.add(rnd)
    session.flush()
    context = report_context(session, report)
    opened = local_day(rnd.opened_at, context["unit"].timezone)
    due = round_due(context["policy"], working_calendar(session), stage, opened)
    prompt = enqueue(
        session,
        settings,
        key=f"prompt:{round_name(report, rnd.stage, rnd.number)}",
        kind="review_prompt",
        to=recipients([reviewer]),
        report_id=report.id,
        attachment_version_id=version.id,
        context={**context, **since_last_seen(session, earlier, reviewer, version), "due": due, "round": rnd,
                 "reviewer": reviewer, "version": version, "reply_code": code,
                 "check_warnings": [f for f in version.findings if f["severity"] == "warning"]},
    )
    rnd.prompt_message_id = prompt.message_id
    session.add(rnd)
    return rnd


def since_last_seen(session: Session, rounds: Sequence[ReviewRound], reviewer: Person,
                    version: ReportVersion) -> dict:
    """For a prompt on version n > 1: what changed since the version this reviewer last saw, and the
    comment of the round that sent the report back (`rounds`: the report's earlier rounds, newest first)."""
    seen = next((r for r in rounds if r.reviewer_id == reviewer.id and r.version_id != version.id), None)
    returned = next((r for r in rounds if r.decision == "return"), None)
    if seen is None:  # first time this reviewer sees the report: nothing to compare with
        return {"seen_version": None, "changes": [], "returned_round": None, "returned_by": None}
    seen_version = session.get(ReportVersion, seen.version_id)
    return {
        "seen_version": seen_version,
        "changes": changes(seen_version.text, version.text)[:MAX_CHANGES_SHOWN],
        "returned_round": returned,
        "returned_by": session.get(Person, returned.reviewer_id) if returned else None,
    }


def enter_stage(session: Session, settings: Settings, report: Report, version: ReportVersion,
                returned_by: ReviewRound | None = None) -> None:
    """What entering the report's current stage does, beyond the move itself."""
    stage = stage_def(chain_of(session, report), report.stage)
    if stage.kind in DECIDED_KINDS:
        open_round(session, settings, report, version)
    elif stage.kind is StageKind.DRAFT and returned_by is not None:
        reviewer = session.get(Person, returned_by.reviewer_id)
        context = report_context(session, report)
        due = draft_due(context["policy"], working_calendar(session),
                        local_day(returned_by.decided_at or utcnow(), context["unit"].timezone))
        for drafter in people_with_role(session, report.unit_id, Role.DRAFTER):
            enqueue(
                session,
                settings,
                key=f"returned:{round_name(report, returned_by.stage, returned_by.number)}:{drafter.email}",
                kind="returned",
                to=recipients([drafter]),
                report_id=report.id,
                context={**context, "due": due, "round": returned_by, "reviewer": reviewer,
                         "drafter": drafter, "version": version},
            )


def latest_version(session: Session, report_id: int) -> ReportVersion | None:
    query = select(ReportVersion).where(ReportVersion.report_id == report_id)
    return session.exec(query.order_by(ReportVersion.number.desc()).limit(1)).first()


def open_round_of(session: Session, report: Report) -> ReviewRound | None:
    query = select(ReviewRound).where(
        ReviewRound.report_id == report.id, ReviewRound.stage == report.stage, ReviewRound.decision.is_(None)
    )
    return session.exec(query.order_by(ReviewRound.id.desc())).first()


def find_report(session: Session, ref: str) -> Report:
    report = session.exec(select(Report).where(Report.ref == ref.strip().upper())).first()
    if report is None:
        raise Refused("unknown_report", ref=ref)
    return report
