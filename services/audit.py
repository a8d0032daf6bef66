"""The audit trail: every change to a report, a cycle or the calendar, who made it and how.

A front door that is not the CLI says so once around its work (`with through("console"):`): every
event written meanwhile carries `how` = that door, so the report's story can tell "in the console"
from "by the CLI" without each service taking one more parameter."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlmodel import Session

from models.tables import AuditEvent, Report

FRONT_DOOR: ContextVar[str | None] = ContextVar("front_door", default=None)


@contextmanager
def through(door: str) -> Iterator[None]:
    """Every audit event written inside the block records `how=door` (e.g. "console")."""
    token = FRONT_DOOR.set(door)
    try:
        yield
    finally:
        FRONT_DOOR.reset(token)


def audit(session: Session, report: Report | None, actor: str, action: str, **detail) -> None:
    session.add(audit_event(report.id if report else None, actor, action, **detail))


def audit_event(report_id: int | None, actor: str, action: str, **detail) -> AuditEvent:
    """One event, not yet added (a batch writes many as values: `AuditEvent.model_dump`)."""
    if (door := FRONT_DOOR.get()) is not None:
        detail.setdefault("how", door)
    return AuditEvent(
        report_id=report_id,
        actor=actor,
        action=action,
        from_stage=detail.pop("from_stage", None),
        to_stage=detail.pop("to_stage", None),
        detail=detail,
    )
