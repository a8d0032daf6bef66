"""Submit a draft: a new version, the move to review and the reviewer's prompt, in one transaction."""

from __future__ import annotations

import hashlib

from sqlmodel import Session, select

from core.settings import Settings
from documents.check import check
from documents.reading import Draft
from models.chain import Event, Refused, Role
from models.tables import Cycle, Report, ReportVersion, ReviewRound, Unit
from notifications.outbox import enqueue
from services.audit import audit
from services.stages import chain_of, enter_stage, latest_version, move, people_with_role, recipients, report_context


def find_unit(session: Session, unit_name_or_code: str) -> Unit:
    unit = session.exec(
        select(Unit).where((Unit.code == unit_name_or_code) | (Unit.name == unit_name_or_code))
    ).first()
    if unit is None:
        raise Refused("unknown_unit", unit=unit_name_or_code)
    return unit


def report_for_unit(session: Session, unit_name_or_code: str, year: int | None = None) -> Report:
    """The report of a unit (by code or name), in the given year or the newest cycle."""
    unit = find_unit(session, unit_name_or_code)
    query = select(Report).join(Cycle, Cycle.id == Report.cycle_id).where(Report.unit_id == unit.id)
    if year is not None:
        query = query.where(Cycle.year == year)
    report = session.exec(query.order_by(Cycle.year.desc())).first()
    if report is None:
        raise Refused("no_report", unit=unit.name, year=year)
    return report


def submit_draft(
    session: Session, settings: Settings, report: Report, draft: Draft, submitted_by: str
) -> ReportVersion:
    """Store the draft as a new version, check what it says, and send it to review — or, when the check
    finds errors, keep it in drafting and tell the drafters what to fix. The same file twice is one
    version."""
    sha = hashlib.sha256(draft.content).hexdigest()
    latest = latest_version(session, report.id)
    chain = chain_of(session, report)
    if report.stage != chain[0].name:
        if latest is not None and latest.sha256 == sha:
            return latest  # already submitted: nothing to do
        raise Refused("not_in_drafting", ref=report.ref, stage=report.stage, chain=chain)
    if latest is not None and latest.sha256 == sha:
        raise Refused("same_as_held" if is_held(session, latest) else "same_as_returned", ref=report.ref,
                      version=latest.number)
    year = session.get(Cycle, report.cycle_id).year
    version = ReportVersion(
        report_id=report.id,
        number=(latest.number + 1) if latest else 1,
        filename=draft.filename,
        content=draft.content,
        text=draft.text,
        sha256=sha,
        submitted_by=submitted_by,
        findings=check(draft.text, year=year, unit=session.get(Unit, report.unit_id).name).as_json()["findings"],
    )
    session.add(version)
    session.flush()
    errors = [f for f in version.findings if f["severity"] == "error"]
    if errors:
        hold(session, settings, report, version, errors, submitted_by)
    else:
        send_to_review(session, settings, report, version, submitted_by)
    return version


def is_held(session: Session, version: ReportVersion) -> bool:
    """A version the check kept in drafting: it has errors and no review round (once sent to review
    it has one, and a later return asks for a new version)."""
    reviewed = session.exec(select(ReviewRound.id).where(ReviewRound.version_id == version.id)).first()
    return reviewed is None and any(f["severity"] == "error" for f in version.findings)


def hold(session: Session, settings: Settings, report: Report, version: ReportVersion, errors: list[dict],
         submitted_by: str) -> None:
    audit(session, report, submitted_by, "draft_held", version=version.number, errors=[f["code"] for f in errors])
    context = {**report_context(session, report), "version": version, "errors": errors,
               "warnings": [f for f in version.findings if f["severity"] == "warning"]}
    for drafter in people_with_role(session, report.unit_id, Role.DRAFTER):
        enqueue(session, settings, key=f"draft_problems:{report.ref}:v{version.number}:{drafter.email}",
                kind="draft_problems", to=recipients([drafter]), report_id=report.id,
                context={**context, "drafter": drafter})


def send_to_review(session: Session, settings: Settings, report: Report, version: ReportVersion,
                   actor: str, **detail) -> None:
    move(session, report, Event.SUBMIT, actor=actor, version=version.number, **detail)
    enter_stage(session, settings, report, version)


def accept_anyway(session: Session, settings: Settings, report: Report, actor: str) -> ReportVersion:
    """A coordinator sends a held version to review despite its errors (audited, with the errors)."""
    version = latest_version(session, report.id)
    if version is None or not is_held(session, version):
        raise Refused("nothing_held", ref=report.ref)
    errors = [f["code"] for f in version.findings if f["severity"] == "error"]
    send_to_review(session, settings, report, version, actor, accepted_despite=errors)
    return version
