"""Record a reviewer's decision on a round: approve moves on, return goes back to drafting.

The decision, the receipt to the reviewer and the next stage's prompt (or the drafters' notice, or,
after the last review, the coordinators' word that the report is ready to file, or, after the
confidentiality review, that it may be published) commit together.
Recording the same decision on the same round again changes nothing. A decision given by phone
names the stage it decides, so the same command run twice cannot decide the next one.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from core.settings import Settings
from core.texts import message
from documents.meeting import Meeting
from models.chain import Event, Refused, StageDef, StageKind, review_stages, stage_def
from models.db import utcnow
from models.tables import Person, Report, ReportVersion, ReviewRound, Unit
from notifications.outbox import enqueue
from services.filing import ready_to_file, ready_to_publish
from services.meeting import meeting_complete, record_meeting
from services.stages import (
    chain_of,
    enter_stage,
    find_report,
    move,
    open_round_of,
    recipients,
    report_context,
    round_name,
)

DECISIONS = {"approve": Event.APPROVE, "return": Event.RETURN}


def round_to_decide(session: Session, ref: str, stage: str | None, number: int | None = None) -> ReviewRound:
    """The open round of the named review stage (its name or Chinese label), for a decision given by
    phone or CLI; refused, saying what the report waits for now, when that stage is not the open one.
    A second or later round of a stage (after a return) must be named by its number too, so a line
    repeated from before the return cannot decide the new round."""
    report = find_report(session, ref)
    chain = chain_of(session, report)
    rnd = open_round_of(session, report)
    waiting = {"ref": report.ref, "now": report.stage, "now_is_review": rnd is not None, "chain": chain}
    if stage is None or not stage.strip():
        raise Refused("stage_required", **waiting)
    named = review_stage(chain, stage.strip())
    if rnd is not None and rnd.stage == named:
        if number != rnd.number and (number is not None or rnd.number > 1):
            raise Refused("round_required", ref=report.ref, stage=named, number=rnd.number, given=number, chain=chain)
        return rnd
    last = session.exec(select(ReviewRound).where(
        ReviewRound.report_id == report.id, ReviewRound.stage == named, ReviewRound.decision.is_not(None))
        .order_by(ReviewRound.id.desc())).first()
    if last is None:
        raise Refused("stage_not_reached", stage=named, **waiting)
    timezone = ZoneInfo(session.get(Unit, report.unit_id).timezone)
    raise Refused("stage_decided", stage=named, decision=last.decision, via=last.decided_via,
                  decided_at=last.decided_at.astimezone(timezone).strftime("%Y-%m-%d %H:%M"), **waiting)


def review_stage(chain: tuple[StageDef, ...], stage: str) -> str:
    """The review stage of the chain a user names, by its identifier or its Chinese label (the chain's, or
    the built-in one)."""
    reviews = review_stages(chain)
    for s in reviews:
        if stage.lower() == s.name or stage in (s.label, message("stage_label", stage=s.name)):
            return s.name
    raise Refused("not_a_review_stage", stage=stage, known=[s.name for s in reviews], chain=chain)


def record_decision(session: Session, settings: Settings, round_id: int, decision: str, *,
                    comment: str = "", via: str, actor: str, meeting: Meeting | None = None) -> bool:
    """Apply the decision; False when this very decision was already recorded (nothing done). An approval
    that sends the report to filing records the committee `meeting` its reply named; the receipt asks for
    what is still missing of it."""
    if decision not in DECISIONS:
        raise Refused("unknown_decision", decision=decision)
    rnd = session.get(ReviewRound, round_id)
    if rnd is None:
        raise Refused("unknown_round", round_id=round_id)
    report = session.get(Report, rnd.report_id)
    if rnd.decision is not None:
        if rnd.decision == decision:
            return False
        raise Refused("round_already_decided", ref=report.ref, decision=rnd.decision)
    if decision == "return" and not comment.strip():
        raise Refused("return_needs_comment", ref=report.ref)
    if report.stage != rnd.stage:
        raise Refused("round_closed", ref=report.ref, stage=report.stage, chain=chain_of(session, report))

    rnd.decision, rnd.comment = decision, comment.strip() or None
    rnd.decided_at, rnd.decided_via, rnd.decided_by = utcnow(), via, actor
    session.add(rnd)
    left = move(session, report, DECISIONS[decision], actor=actor, via=via, round=rnd.number, comment=rnd.comment)
    to_filing = stage_def(chain_of(session, report), report.stage).kind is StageKind.FILING
    if to_filing and meeting is not None:
        record_meeting(session, report, on=meeting.on, minutes=meeting.minutes, actor=actor, via=via)
    reviewer = session.get(Person, rnd.reviewer_id)
    version = session.get(ReportVersion, rnd.version_id)
    enqueue(
        session, settings,
        key=f"receipt:{round_name(report, rnd.stage, rnd.number)}",
        kind="receipt",
        to=recipients([reviewer]),
        report_id=report.id,
        in_reply_to=rnd.prompt_message_id,
        context={**report_context(session, report), "round": rnd, "reviewer": reviewer, "version": version,
                 "ask_meeting": to_filing and not meeting_complete(report)},
    )
    if report.stage == left:  # a confidentiality review's approval: the report waits to be published
        ready_to_publish(session, settings, report, rnd)
        return True
    enter_stage(session, settings, report, version, returned_by=rnd if decision == "return" else None)
    if to_filing:
        ready_to_file(session, settings, report, version)
    return True
