"""Submit a draft: a new version, the move to review and the reviewer's prompt, in one transaction."""

from __future__ import annotations

import hashlib
from pathlib import Path

from prefect import flow
from sqlmodel import Session, select

from documents.reading import Draft, read_draft
from flows.stages import enter_stage, latest_version, move
from models.chain import Event, Refused, get_chain
from models.db import session_scope
from models.tables import Cycle, Report, ReportVersion, Unit
from reportchain.settings import Settings, load_settings


def report_for_unit(session: Session, unit_name_or_code: str, year: int | None = None) -> Report:
    """The report of a unit (by code or name), in the given year or the newest cycle."""
    unit = session.exec(
        select(Unit).where((Unit.code == unit_name_or_code) | (Unit.name == unit_name_or_code))
    ).first()
    if unit is None:
        raise Refused("unknown_unit", unit=unit_name_or_code)
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
    """Store the draft as a new version and send it to review; the same file twice is one version."""
    sha = hashlib.sha256(draft.content).hexdigest()
    latest = latest_version(session, report.id)
    first_stage = get_chain(session.get(Unit, report.unit_id).chain)[0]
    if report.stage != first_stage.name:
        if latest is not None and latest.sha256 == sha:
            return latest  # already submitted: nothing to do
        raise Refused("not_in_drafting", ref=report.ref, stage=report.stage)
    if latest is not None and latest.sha256 == sha:
        raise Refused("same_as_returned", ref=report.ref, version=latest.number)
    version = ReportVersion(
        report_id=report.id,
        number=(latest.number + 1) if latest else 1,
        filename=draft.filename,
        content=draft.content,
        text=draft.text,
        sha256=sha,
        submitted_by=submitted_by,
    )
    session.add(version)
    session.flush()
    move(session, report, Event.SUBMIT, actor=submitted_by, version=version.number)
    enter_stage(session, settings, report, version)
    return version


@flow(name="submit-draft")
async def submit_draft_flow(report_id: int, path: str, submitted_by: str) -> dict:
    settings = load_settings()
    file = Path(path)
    draft = read_draft(file.name, file.read_bytes())
    with session_scope(settings.database_url) as session:
        report = session.get(Report, report_id)
        previous = latest_version(session, report.id)
        version = submit_draft(session, settings, report, draft, submitted_by)
        new = previous is None or version.id != previous.id
        return {"ref": report.ref, "version": version.number, "stage": report.stage, "new": new}
