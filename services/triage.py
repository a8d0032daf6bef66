"""Triage: the inbound mails a coordinator must look at, and the two things they can do with one.

The list holds what the intake could not act on but a person can: unclear words, a mail that matches
no round, a sender who is not the reviewer, a From line that cannot be trusted, a mail our own server
found unauthenticated, and a mail the reader could not parse (its raw .eml may still be readable by a
person). Refused drafts and too-large mails are not listed: the drafter was already told why, and
they carry no decision.

- `decide`: the coordinator records the decision the mail carries for a named round. It goes through
  the same `record_decision` as a decision given by phone (the same receipt, prompts and notices),
  with `via="triage"`, so the report's history says the decision came from a mail a coordinator read.
- `dismiss`: the coordinator sets the mail aside with a reason.

Either way the message's outcome becomes `triaged` or `dismissed` (what the intake had read stays in
`read_as`), it leaves the coordinators' daily digest, and the audit event names who did it and the
message as evidence (inbound id, Message-ID, sha256). The outcome changes by one compare-and-set
UPDATE, so two coordinators (or a decide and a dismiss) racing on one message cannot both win.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import update
from sqlmodel import Session, select

from core.settings import Settings
from models.chain import Refused
from models.db import utcnow
from models.tables import InboundMessage, InboundOutcome, Report, ReviewRound
from notifications.reply import UnreadableMessage, read_reply
from services.audit import audit
from services.decisions import record_decision, round_to_decide
from services.replies import is_coordinator

TO_TRIAGE = (InboundOutcome.UNCLEAR, InboundOutcome.UNMATCHED, InboundOutcome.NOT_REVIEWER,
             InboundOutcome.BAD_SENDER, InboundOutcome.UNAUTHENTICATED, InboundOutcome.UNREADABLE)
TRIAGED = (InboundOutcome.TRIAGED, InboundOutcome.DISMISSED)
EXCERPT = 120  # characters of the writer's words shown in the list


@dataclass
class TriageItem:
    inbound_id: int
    received_at: object
    from_address: str
    subject: str
    outcome: str
    ref: str | None
    stage: str | None
    round: int | None
    excerpt: str
    under_header: bool  # the excerpt sits under somebody else's header: maybe a forwarded original's words


@dataclass
class TriageResult:
    inbound_id: int
    ref: str | None
    outcome: str  # triaged | dismissed
    decision: str | None = None
    stage: str | None = None  # the report's stage after the decision
    round: int | None = None


def excerpt(raw: bytes) -> tuple[str, bool]:
    """The writer's own words (without the quoted mail under them), shortened, and whether they sit under
    somebody else's header (see writer_words)."""
    words, under_header = writer_words(raw)
    words = " ".join(words.split())
    return (words if len(words) <= EXCERPT else words[:EXCERPT - 1] + "…"), under_header


def pending(session: Session, limit: int = 100) -> list[TriageItem]:
    """The messages waiting for a coordinator's eye, newest first."""
    query = (select(InboundMessage, Report.ref, ReviewRound.stage, ReviewRound.number)
             .join(Report, Report.id == InboundMessage.report_id, isouter=True)
             .join(ReviewRound, ReviewRound.id == InboundMessage.round_id, isouter=True)
             .where(InboundMessage.outcome.in_(TO_TRIAGE))
             .order_by(InboundMessage.id.desc()).limit(limit))
    return [TriageItem(row.id, row.received_at, row.from_address, row.subject, row.outcome, ref, stage, number,
                       *excerpt(row.raw))
            for row, ref, stage, number in session.exec(query)]


def message_to_triage(session: Session, inbound_id: int, actor: str) -> InboundMessage:
    """The message, if it is one to triage and `actor` is a coordinator; else refused, saying why."""
    if not is_coordinator(session, actor.strip().lower()):
        raise Refused("triage_not_coordinator", actor=actor)
    inbound = session.get(InboundMessage, inbound_id)
    if inbound is None:
        raise Refused("triage_unknown_message", inbound_id=inbound_id)
    if inbound.outcome in TRIAGED:
        raise Refused("triage_done_before", inbound_id=inbound_id, outcome=inbound.outcome,
                      by=inbound.triaged_by, at=inbound.triaged_at)
    if inbound.outcome not in TO_TRIAGE:
        raise Refused("triage_not_listed", inbound_id=inbound_id, outcome=inbound.outcome)
    return inbound


def mark(session: Session, inbound: InboundMessage, outcome: InboundOutcome, actor: str) -> None:
    """Outcome → triaged/dismissed, if nobody triaged it meanwhile (one compare-and-set UPDATE)."""
    read_as = inbound.outcome
    taken = session.execute(update(InboundMessage).where(
        InboundMessage.id == inbound.id, InboundMessage.outcome == read_as)
        .values(outcome=outcome.value, read_as=read_as, triaged_by=actor, triaged_at=utcnow()))
    if taken.rowcount != 1:
        raise Refused("triage_done_before", inbound_id=inbound.id, outcome=outcome, by=None, at=None)


def evidence(inbound: InboundMessage) -> dict:
    return {"inbound_id": inbound.id, "message_id": inbound.message_id, "sha256": inbound.sha256,
            "read_as": inbound.outcome, "sender": inbound.from_address}


def decide(session: Session, settings: Settings, inbound_id: int, decision: str, *, stage: str | None,
           number: int | None = None, ref: str | None = None, comment: str = "", actor: str) -> TriageResult:
    """Record the decision message `inbound_id` carries for the open round of `stage` (and `number`)
    of its report (`ref` when the intake could not tell which report it is about). Refused, with
    nothing written, when the message was triaged before, when it is about another report or another
    round, when that round is not the open one (decided meanwhile, by reply or by phone), or when
    `actor` is not a coordinator."""
    inbound = message_to_triage(session, inbound_id, actor)
    about = session.get(Report, inbound.report_id) if inbound.report_id else None
    if about is None and not (ref or "").strip():
        raise Refused("triage_ref_required", inbound_id=inbound.id)
    named = (ref or about.ref).strip().upper()
    if about is not None and named != about.ref:
        raise Refused("triage_other_report", inbound_id=inbound.id, ref=about.ref, named=named)
    rnd = round_to_decide(session, named, stage, number)
    if inbound.round_id is not None and inbound.round_id != rnd.id:
        asked = session.get(ReviewRound, inbound.round_id)
        raise Refused("triage_other_round", inbound_id=inbound.id, ref=named, stage=asked.stage, number=asked.number,
                      now_stage=rnd.stage, now_number=rnd.number)
    words = comment.strip() or excerpt_whole(inbound)
    detail = evidence(inbound)
    mark(session, inbound, InboundOutcome.TRIAGED, actor)
    record_decision(session, settings, rnd.id, decision, comment=words, via="triage", actor=actor)
    report = session.get(Report, rnd.report_id)
    audit(session, report, actor, "triage_decided", decision=decision, stage=rnd.stage, round=rnd.number, **detail)
    session.flush()
    return TriageResult(inbound.id, report.ref, InboundOutcome.TRIAGED, decision, report.stage, rnd.number)


def excerpt_whole(inbound: InboundMessage) -> str:
    """The writer's words as the reviewer's comment (a return needs one; the drafters read it)."""
    return writer_words(inbound.raw)[0]


def writer_words(raw: bytes) -> tuple[str, bool]:
    """The writer's words ("" if unreadable) and whether they sit under somebody else's header (a forward, an
    attribution above the text): then they may be the original's, and the console and CLI say so."""
    try:
        reply = read_reply(raw)
    except UnreadableMessage:
        return "", False
    return reply.comment.strip(), reply.under_header


def dismiss(session: Session, inbound_id: int, reason: str, *, actor: str) -> TriageResult:
    """Set the message aside with a reason (required); a second dismissal is refused."""
    inbound = message_to_triage(session, inbound_id, actor)
    if not reason.strip():
        raise Refused("triage_reason_required", inbound_id=inbound_id)
    detail = evidence(inbound)
    mark(session, inbound, InboundOutcome.DISMISSED, actor)
    report = session.get(Report, inbound.report_id) if inbound.report_id else None
    audit(session, report, actor, "triage_dismissed", reason=reason.strip(), **detail)
    session.flush()
    return TriageResult(inbound.id, report.ref if report else None, InboundOutcome.DISMISSED)
