"""File an approved report upward: the filing mail (To + Cc, document attached) goes through the
outbox, and the report becomes `filed` once delivery has accepted that mail. Once the coordinator
has had it through the confidentiality review and put it on the website, it is `published`.

When the last review approves, the unit's coordinators are told the report is ready to file (how,
and by when) — or, in a cycle whose policy says `auto_file`, it is filed at once and they are told
it went out."""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Session, select

from core.settings import Settings
from documents.render import filing_docx
from models.calendar import load_calendar
from models.chain import Event, Refused, Stage, StageKind, stage_def
from models.db import utcnow
from models.deadlines import local_day
from models.tables import Cycle, OutboxMessage, OutboxStatus, Report, ReportVersion, Unit
from notifications.message import Attachment
from notifications.outbox import enqueue
from services.audit import audit
from services.stages import (
    addressee_of,
    chain_of,
    coordinators_of,
    latest_version,
    move,
    recipients,
    report_context,
)

FILING_MAIL = "filing"  # the mail kind (templates/email/filing.*) that carries the report upward


def file_report(session: Session, settings: Settings, report: Report, actor: str = "coordinator") -> OutboxMessage:
    """Write the filing mail for the approved version (once per version), the version laid out as a 公文."""
    chain = chain_of(session, report)
    if stage_def(chain, report.stage).kind is not StageKind.FILING:
        raise Refused("not_ready_to_file", ref=report.ref, stage=report.stage, chain=chain)
    version = latest_version(session, report.id)
    key = filing_key(report, version)
    existing = session.exec(select(OutboxMessage).where(OutboxMessage.idempotency_key == key)).first()
    if existing is not None:
        return existing
    unit = session.get(Unit, report.unit_id)
    audit(session, report, actor, "filing_written", version=version.number, to=unit.filing_to)
    return enqueue(
        session, settings,
        key=key,
        kind=FILING_MAIL,
        to=[unit.filing_to],  # the roster stores these already joined with ", "
        cc=[unit.filing_cc] if unit.filing_cc else [],
        report_id=report.id,
        attachment_version_id=version.id,
        attachment=Attachment("filing.docx", filing_document(session, report, version)),
        context={**report_context(session, report), "version": version},
    )


def ready_to_file(session: Session, settings: Settings, report: Report, version: ReportVersion) -> None:
    """The last review approved `version`: its coordinators are told to file it by the filing date, or,
    with the cycle's `auto_file`, it is filed now and they are told so (once per version and person)."""
    context = report_context(session, report)
    policy, calendar = context["policy"], load_calendar(session)
    if policy.auto_file:
        file_report(session, settings, report, actor="system")
        kind, due = "auto_filed", policy.date_due(calendar, "disclosure")
    else:
        kind, due = "ready_to_file", policy.date_due(calendar, "filing")
    for person in coordinators_of(session, context["unit"]):
        enqueue(session, settings, key=f"{kind}:{report.id}:{version.id}:{person.id}", kind=kind,
                to=recipients([person]), report_id=report.id,
                context={**context, "version": version, "coordinator": person, "due": due})


def filing_key(report: Report, version: ReportVersion) -> str:
    return f"filing:{report.id}:{version.id}"


def filing_day(session: Session, report: Report, version: ReportVersion) -> date:
    """The day the version was filed (today if it is being filed now), in the unit's time zone."""
    key = filing_key(report, version)
    filed = session.exec(select(OutboxMessage.created_at).where(OutboxMessage.idempotency_key == key)).first()
    return local_day(filed or utcnow(), session.get(Unit, report.unit_id).timezone)


def filing_document(session: Session, report: Report, version: ReportVersion) -> bytes:
    """The approved version as the .docx filed upward (the same bytes whenever it is made again)."""
    unit = session.get(Unit, report.unit_id)
    return filing_docx(version.text, unit_name=unit.name, year=session.get(Cycle, report.cycle_id).year,
                       addressee=addressee_of(session, unit), issuer=unit.name,
                       issued_on=filing_day(session, report, version))


def confirm_filings(session: Session) -> list[str]:
    """Reports still at a filing stage whose filing mail was delivered become `filed` (one query)."""
    query = (
        select(Report, OutboxMessage)
        .join(OutboxMessage, OutboxMessage.report_id == Report.id)
        .where(OutboxMessage.kind == FILING_MAIL, OutboxMessage.status == OutboxStatus.SENT,
               Report.stage == Stage.FILING)
    )
    moved = []
    for report, mail in session.exec(query):
        move(session, report, Event.FILING_SENT, actor="system", message_id=mail.message_id)
        moved.append(report.ref)
    return moved


def acknowledge_filing(session: Session, report: Report, *, by: str, at: datetime, message_id: str) -> bool:
    """The upper level answered the filing mail (回执): recorded once, with when and who; False if it was
    acknowledged before (a second answer changes nothing). The report stays at its stage."""
    if report.acknowledged_at is not None:
        return False
    report.acknowledged_at, report.acknowledged_by = at, by
    session.add(report)
    audit(session, report, by, Event.ACKNOWLEDGE.value, message_id=message_id)
    return True


def publish_report(session: Session, report: Report, url: str, actor: str = "coordinator", *, reviewed_by: str,
                   reviewed_on: date | None = None) -> bool:
    """Record the public disclosure after the confidentiality review (保密审查) that `reviewed_by`
    confirmed on `reviewed_on` (default: today, in the unit's time zone; not in the future, not before
    the report was filed); False if this URL was already recorded."""
    if report.stage == Stage.PUBLISHED and report.publication_url == url:
        return False
    chain = chain_of(session, report)
    if stage_def(chain, report.stage).kind is not StageKind.FILED:
        raise Refused("not_filed_yet", ref=report.ref, stage=report.stage, chain=chain)
    if not reviewed_by.strip():
        raise Refused("review_by_required", ref=report.ref)
    today = local_day(utcnow(), session.get(Unit, report.unit_id).timezone)
    reviewed_on = reviewed_on or today
    filed_on = filing_day(session, report, latest_version(session, report.id))
    if reviewed_on > today:
        raise Refused("review_in_future", ref=report.ref, day=reviewed_on, today=today)
    if reviewed_on < filed_on:
        raise Refused("review_before_filing", ref=report.ref, day=reviewed_on, filed_on=filed_on)
    report.publication_url = url
    move(session, report, Event.PUBLISH, actor=actor, url=url, confidentiality_review="passed",
         reviewed_by=reviewed_by.strip(), reviewed_on=reviewed_on.isoformat())
    return True
