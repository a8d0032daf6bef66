"""File an approved report upward: the filing mail (To + Cc, document attached) goes through the
outbox, and the report becomes `filed` once delivery has accepted that mail; at once the filed
version goes to the unit's confidentiality reviewer (保密审查, a round like a review). A refusal asks
the drafters for a public version, which goes to that reviewer again; the filed version stays as it
was filed. Once the review approves, the coordinators are asked to publish the report and record
its URL, and it is `published`.

When the last review approves, the unit's coordinators are told the report is ready to file (how,
and by when) — or, in a cycle whose policy says `auto_file`, it is filed at once and they are told
it went out."""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Session, select

from core.settings import Settings
from documents.render import filing_docx
from models.calendar import load_calendar
from models.chain import Event, Refused, Role, Stage, StageKind, stage_def
from models.db import utcnow
from models.deadlines import local_day
from models.tables import (
    Assignment,
    Cycle,
    OutboxMessage,
    OutboxStatus,
    Person,
    Report,
    ReportVersion,
    ReviewRound,
    Unit,
)
from notifications.message import Attachment
from notifications.outbox import enqueue
from services.audit import audit
from services.stages import (
    addressee_of,
    chain_of,
    coordinators_of,
    enter_stage,
    latest_version,
    move,
    open_round_of,
    recipients,
    report_context,
    round_name,
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
        enqueue(session, settings, key=f"{kind}:{report.ref}:v{version.number}:{person.email}", kind=kind,
                to=recipients([person]), report_id=report.id,
                context={**context, "version": version, "coordinator": person, "due": due})


def filing_key(report: Report, version: ReportVersion) -> str:
    return f"filing:{report.ref}:v{version.number}"


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


def filed_version(session: Session, report: Report) -> ReportVersion | None:
    """The version filed upward (a public version written later does not change it)."""
    query = (select(ReportVersion).join(OutboxMessage, OutboxMessage.attachment_version_id == ReportVersion.id)
             .where(OutboxMessage.report_id == report.id, OutboxMessage.kind == FILING_MAIL)
             .order_by(OutboxMessage.id.desc()).limit(1))
    return session.exec(query).first()


def confirm_filings(session: Session, settings: Settings) -> list[str]:
    """Reports still at a filing stage whose filing mail was delivered become `filed` and go to their
    confidentiality reviewer; a filed report whose unit had no such reviewer goes once one is in the
    roster (one query for each kind)."""
    delivered = (
        select(Report, OutboxMessage)
        .join(OutboxMessage, OutboxMessage.report_id == Report.id)
        .where(OutboxMessage.kind == FILING_MAIL, OutboxMessage.status == OutboxStatus.SENT,
               Report.stage == Stage.FILING)
    )
    moved = []
    for report, mail in session.exec(delivered).all():
        move(session, report, Event.FILING_SENT, actor="system", message_id=mail.message_id)
        moved.append(report.ref)
    reviewed_units = select(Assignment.unit_id).where(Assignment.role == Role.CONFIDENTIALITY_REVIEWER.value)
    for report in session.exec(select(Report).where(Report.stage == Stage.FILED,
                                                    Report.unit_id.in_(reviewed_units))).all():
        move(session, report, Event.REQUEST_CLEARANCE, actor="system")
        enter_stage(session, settings, report, filed_version(session, report))
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


def ready_to_publish(session: Session, settings: Settings, report: Report, cleared: ReviewRound) -> None:
    """The confidentiality review approved: the unit's coordinators are asked to publish the version it
    cleared by the disclosure date and record the URL (once per round and person)."""
    context = report_context(session, report)
    due = context["policy"].date_due(load_calendar(session), "disclosure")
    for person in coordinators_of(session, context["unit"]):
        key = f"ready_to_publish:{round_name(report, cleared.stage, cleared.number)}:{person.email}"
        enqueue(session, settings, key=key, kind="ready_to_publish",
                to=recipients([person]), report_id=report.id,
                context={**context, "version": session.get(ReportVersion, cleared.version_id), "round": cleared,
                         "reviewer": session.get(Person, cleared.reviewer_id), "coordinator": person, "due": due})


def clearance_of(session: Session, report: Report) -> ReviewRound | None:
    """The confidentiality review's approval of the report's latest version, if it has one."""
    if stage_def(chain_of(session, report), report.stage).kind is not StageKind.CONFIDENTIALITY:
        return None
    rnd = session.exec(select(ReviewRound).where(ReviewRound.report_id == report.id,
                                                 ReviewRound.stage == report.stage)
                       .order_by(ReviewRound.id.desc()).limit(1)).first()
    latest = latest_version(session, report.id)
    return rnd if rnd is not None and rnd.decision == "approve" and rnd.version_id == latest.id else None


def publish_report(session: Session, report: Report, url: str, actor: str = "coordinator") -> bool:
    """Record the public disclosure of the version the confidentiality review (保密审查) approved; refused
    without that approval; False if this URL was already recorded."""
    if report.stage == Stage.PUBLISHED:
        if report.publication_url == url:
            return False
        raise Refused("already_published", stage=report.stage, event=Event.PUBLISH.value)
    cleared = clearance_of(session, report)
    if cleared is None:
        raise Refused("not_cleared", ref=report.ref, stage=report.stage,
                      reviewing=open_round_of(session, report) is not None)
    report.publication_url = url
    timezone = session.get(Unit, report.unit_id).timezone
    move(session, report, Event.PUBLISH, actor=actor, url=url, confidentiality_review="passed",
         reviewed_by=session.get(Person, cleared.reviewer_id).name, round=cleared.number,
         reviewed_on=local_day(cleared.decided_at, timezone).isoformat(),
         version=session.get(ReportVersion, cleared.version_id).number)
    return True
