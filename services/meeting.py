"""The committee meeting that approved a report: the approval body, the meeting's day and its minutes
number. Read from the approval reply when it says so (documents/meeting.py), else from the contact's answer
to the receipt that asks for it, or set by a coordinator (CLI `report meeting`, the console). It is printed
on the filing mail and written to the report's history."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session

from core.names import has_control
from documents.meeting import Meeting, read_meeting
from models.chain import Refused, StageKind, stage_def
from models.db import utcnow
from models.deadlines import local_day
from models.tables import Report, ReviewRound, Unit
from services.audit import audit
from services.stages import chain_of

MINUTES_MAX = 100  # characters of a minutes number (纪要〔2026〕15号 has 11)
APPROVED = (StageKind.FILING, StageKind.FILED, StageKind.DONE)  # the committee has approved the report


def unit_day(session: Session, report: Report) -> date:
    return local_day(utcnow(), session.get(Unit, report.unit_id).timezone)


def meeting_complete(report: Report) -> bool:
    return report.meeting_on is not None and bool(report.meeting_minutes)


def approved_to_filing(session: Session, report: Report, rnd: ReviewRound) -> bool:
    """Whether the round is the committee's approval: the one that sent the report on to filing."""
    chain = chain_of(session, report)
    following = [s for before, s in zip(chain, chain[1:], strict=False) if before.name == rnd.stage]
    return (rnd.decision == "approve" and bool(following) and following[0].kind is StageKind.FILING
            and stage_def(chain, report.stage).kind in APPROVED)


def meeting_in(session: Session, report: Report, text: str) -> Meeting | None:
    """The meeting the approval contact's words name, judged on the unit's today."""
    return read_meeting(text, unit_day(session, report))


def record_meeting(session: Session, report: Report, *, on: date | None, minutes: str | None, actor: str,
                   via: str) -> bool:
    """Record the meeting (what is not given stays as recorded); False when nothing changes. Refused before
    the committee approved the report, for a day in the future, and for nothing or a bad minutes number."""
    if stage_def(chain_of(session, report), report.stage).kind not in APPROVED:
        raise Refused("meeting_before_approval", ref=report.ref, stage=report.stage)
    minutes = " ".join((minutes or "").split()) or None
    if on is None and minutes is None:
        raise Refused("meeting_empty", ref=report.ref)
    if minutes is not None and (len(minutes) > MINUTES_MAX or has_control(minutes)):
        raise Refused("meeting_bad_minutes", ref=report.ref, limit=MINUTES_MAX)
    today = unit_day(session, report)
    if on is not None and on > today:
        raise Refused("meeting_in_future", ref=report.ref, day=on, today=today)
    body = session.get(Unit, report.unit_id).approval_body
    new = (on or report.meeting_on, minutes or report.meeting_minutes, body)
    if new == (report.meeting_on, report.meeting_minutes, report.meeting_body):
        return False
    report.meeting_on, report.meeting_minutes, report.meeting_body = new
    session.add(report)
    audit(session, report, actor, "meeting_recorded", via=via, meeting_body=body,
          meeting_on=report.meeting_on.isoformat() if report.meeting_on else None, minutes=report.meeting_minutes)
    return True
