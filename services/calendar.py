"""Coordinators' corrections of the working calendar (before the State Council's notice, or local
arrangements): one row per day, changed in place and audited, never deleted."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, select

from models.db import utcnow
from models.tables import CalendarOverride
from services.audit import audit

KINDS = {"workday": True, "holiday": False, "official": None}  # official: as the State Council published


def set_calendar_day(session: Session, day: date, kind: str, note: str, actor: str) -> CalendarOverride:
    """Make `day` a working day, a day off, or the official calendar's again."""
    row = session.exec(select(CalendarOverride).where(CalendarOverride.day == day)).first()
    row = row or CalendarOverride(day=day, working=KINDS[kind], set_by=actor)
    row.working, row.note, row.set_by, row.set_at = KINDS[kind], note, actor, utcnow()
    session.add(row)
    audit(session, None, actor, "calendar_override", day=day.isoformat(), kind=kind, note=note)
    return row
