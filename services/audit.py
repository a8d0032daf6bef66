"""The audit trail: every change to a report, a cycle or the calendar, who made it and how."""

from __future__ import annotations

from sqlmodel import Session

from models.tables import AuditEvent, Report


def audit(session: Session, report: Report | None, actor: str, action: str, **detail) -> None:
    session.add(audit_event(report.id if report else None, actor, action, **detail))


def audit_event(report_id: int | None, actor: str, action: str, **detail) -> AuditEvent:
    """One event, not yet added (a batch writes many as values: `AuditEvent.model_dump`)."""
    return AuditEvent(
        report_id=report_id,
        actor=actor,
        action=action,
        from_stage=detail.pop("from_stage", None),
        to_stage=detail.pop("to_stage", None),
        detail=detail,
    )
