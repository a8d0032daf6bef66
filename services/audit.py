"""The audit trail: every change to a report, a cycle or the calendar, who made it and how."""

from __future__ import annotations

from sqlmodel import Session

from models.tables import AuditEvent, Report


def audit(session: Session, report: Report | None, actor: str, action: str, **detail) -> None:
    session.add(
        AuditEvent(
            report_id=report.id if report else None,
            actor=actor,
            action=action,
            from_stage=detail.pop("from_stage", None),
            to_stage=detail.pop("to_stage", None),
            detail=detail,
        )
    )
