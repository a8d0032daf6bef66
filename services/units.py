"""A unit's end: a township merged or abolished (乡镇撤并) is closed with a reason, never deleted.

Its reports keep their history; nothing of theirs moves any more (services/stages.move refuses), the
reminder sweep and the coordinators' digests leave them out (models/pending.read_world), a cycle opened
later gives it no report, and the status board shows it closed. Its mails not yet sent are cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select, update

from models.chain import Refused, Stage
from models.db import utcnow
from models.tables import OutboxMessage, OutboxStatus, Report
from services.audit import audit
from services.drafts import find_unit

LONGEST_REASON = 500


@dataclass(frozen=True)
class ClosedUnit:
    unit: str
    reason: str
    unfinished: list[tuple[str, str]]  # (ref, stage) of its reports that had not reached publication
    cancelled: int  # its mails not yet sent, now cancelled


def close_unit(session: Session, unit_name_or_code: str, reason: str, actor: str) -> ClosedUnit:
    """Close the unit (by code or name) with `reason`; refused for an unknown unit, a missing reason or a
    unit closed before (which keeps its first closing)."""
    reason = " ".join(reason.split())
    if not reason:
        raise Refused("unit_close_needs_reason")
    if len(reason) > LONGEST_REASON:
        raise Refused("unit_close_reason_too_long", limit=LONGEST_REASON)
    unit = find_unit(session, unit_name_or_code)
    if unit.closed_at is not None:
        raise Refused("unit_already_closed", unit=unit.name, by=unit.closed_by, reason=unit.closed_reason,
                      on=unit.closed_at.date().isoformat())
    unit.closed_at, unit.closed_by, unit.closed_reason = utcnow(), actor, reason
    session.add(unit)
    reports = session.exec(select(Report).where(Report.unit_id == unit.id).order_by(Report.ref)).all()
    unfinished = [report for report in reports if report.stage != Stage.PUBLISHED]
    for report in unfinished:
        audit(session, report, actor, "unit_closed", unit=unit.code, reason=reason)
    audit(session, None, actor, "unit_closed", unit=unit.code, reason=reason,
          unfinished=[report.ref for report in unfinished])
    cancelled = session.exec(update(OutboxMessage)
                             .where(OutboxMessage.status == OutboxStatus.PENDING,
                                    OutboxMessage.report_id.in_([report.id for report in reports]))
                             .values(status=OutboxStatus.CANCELLED, last_error=f"{unit.code} closed: {reason}"))
    session.flush()
    return ClosedUnit(unit.name, reason, [(r.ref, r.stage) for r in unfinished], cancelled.rowcount)
