"""Reviewers' replies in: keep every message raw, match it to a review round, apply only what is certain.

For each new message: store the raw bytes and commit (nothing is ever lost), then, in one
transaction, read it, match it (In-Reply-To/References first, then subject tag + 审核码) and act:
- applied: the decision, the receipt and the next stage's prompt commit together;
- unclear: nothing moves; the reviewer is asked once a day per round to answer 同意 or 退回;
- auto-replies are recorded and never answered; a reply to a decided round gets an "already
  decided" receipt; a reply from anyone but the reviewer or a delegate is kept and reported;
- a drafter's reply with a draft attached becomes a new version;
- a message that breaks the reader is kept, marked and reported, and the batch goes on.
Then the message is marked in the mailbox and the last UID is recorded.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.policy import compat32
from zoneinfo import ZoneInfo

from prefect import flow
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session, or_, select

from documents.reading import SUPPORTED, UnreadableDocument, read_draft
from flows.decisions import record_decision
from flows.delivery import deliver_all
from flows.drafts import is_held, submit_draft
from flows.stages import hash_reply_code, latest_version, people_with_role, recipients, report_context
from models.chain import Refused, Role
from models.db import get_engine, utcnow
from models.tables import (
    Assignment,
    InboundMessage,
    MailboxState,
    OutboxMessage,
    Person,
    Report,
    ReportVersion,
    ReviewRound,
    Unit,
)
from notifications.mailbox import Fetched, FolderInbox, ImapInbox, inbox_for
from notifications.outbox import enqueue
from notifications.reply import Reply, UnreadableMessage, read_reply
from reportchain.board import today_in
from reportchain.settings import Settings, load_settings
from reportchain.texts import message

log = logging.getLogger(__name__)


@dataclass
class IntakeReport:
    fetched: int = 0
    duplicates: int = 0
    outcomes: Counter = field(default_factory=Counter)
    rows: list[dict] = field(default_factory=list)  # one per processed message, for the CLI


# ---------------------------------------------------------------- storing


def message_id_of(raw: bytes) -> str:
    try:
        value = BytesHeaderParser(policy=compat32).parsebytes(raw).get("Message-ID") or ""
    except Exception:  # headers too broken to read: the hash alone identifies the message
        return ""
    return " ".join(str(value).split())[:998]


def store(session: Session, fetched: Fetched) -> InboundMessage | None:
    """Keep the raw message; None when it was stored before (same Message-ID or same bytes)."""
    sha = hashlib.sha256(fetched.raw).hexdigest()
    mid = message_id_of(fetched.raw)
    same = InboundMessage.sha256 == sha
    query = select(InboundMessage.id).where(or_(same, InboundMessage.message_id == mid) if mid else same)
    if session.exec(query.limit(1)).first() is not None:
        return None
    row = InboundMessage(message_id=mid, sha256=sha, raw=fetched.raw, source=fetched.source[:255])
    session.add(row)
    session.flush()
    return row


# ---------------------------------------------------------------- matching


def round_by_thread(session: Session, reply: Reply) -> ReviewRound | None:
    """The round whose prompt (or a mail threaded under it) this message answers."""
    if not reply.thread_ids:
        return None
    ours = session.exec(select(OutboxMessage.message_id, OutboxMessage.in_reply_to, OutboxMessage.kind)
                        .where(OutboxMessage.message_id.in_(reply.thread_ids))).all()
    prompts = {mid if kind == "review_prompt" else parent for mid, parent, kind in ours} - {None}
    if not prompts:
        return None
    query = select(ReviewRound).where(ReviewRound.prompt_message_id.in_(prompts))
    return session.exec(query.order_by(ReviewRound.id.desc())).first()


def round_by_code(session: Session, reply: Reply) -> ReviewRound | None:
    """The round of a tagged report whose 审核码 appears in the message."""
    codes = reply.reply_codes
    if not codes:
        return None
    for ref in reply.tags:
        rows = session.exec(
            select(ReviewRound, Person.email, Report.ref)
            .join(Report, Report.id == ReviewRound.report_id)
            .join(Person, Person.id == ReviewRound.reviewer_id)
            .where(Report.ref == ref)
            .order_by(ReviewRound.id.desc())
        ).all()
        for rnd, reviewer, ref_ in rows:
            for code in codes:
                digest = hash_reply_code(code, ref=ref_, stage=rnd.stage, number=rnd.number, reviewer=reviewer,
                                         version_id=rnd.version_id)
                if digest == rnd.reply_code_hash:
                    return rnd
    return None


def report_of_reply(session: Session, reply: Reply) -> Report | None:
    """The report a message is about: a mail of ours it answers, else a [#R-…] tag."""
    if reply.thread_ids:
        report_id = session.exec(select(OutboxMessage.report_id).where(
            OutboxMessage.message_id.in_(reply.thread_ids), OutboxMessage.report_id.is_not(None))).first()
        if report_id is not None:
            return session.get(Report, report_id)
    for ref in reply.tags:
        report = session.exec(select(Report).where(Report.ref == ref)).first()
        if report is not None:
            return report
    return None


def may_answer(session: Session, reply: Reply, rnd: ReviewRound, report: Report) -> bool:
    """The round's reviewer, or a delegate named for the unit in the roster."""
    allowed = [session.get(Person, rnd.reviewer_id), *people_with_role(session, report.unit_id, Role.DELEGATE)]
    return reply.from_address in {p.email.lower() for p in allowed}


# ---------------------------------------------------------------- outcomes


def coordinators(session: Session, report: Report | None) -> list[Person]:
    """The unit's coordinators; for a message about no known report, the county's (any, if none)."""
    if report is not None:
        found = people_with_role(session, report.unit_id, Role.COORDINATOR)
        if found:
            return found
    query = (select(Person, Unit.kind).join(Assignment, Assignment.person_id == Person.id)
             .join(Unit, Unit.id == Assignment.unit_id).where(Assignment.role == Role.COORDINATOR.value)
             .order_by(Assignment.id))
    rows = session.exec(query).all()
    county = [p for p, kind in rows if kind == "county"] or [p for p, _ in rows]
    return list({p.id: p for p in county}.values())


def tell_coordinators(session: Session, settings: Settings, inbound: InboundMessage, reason: str,
                      reply: Reply | None = None, report: Report | None = None,
                      rnd: ReviewRound | None = None) -> None:
    people = coordinators(session, report)
    if not people:
        log.warning("inbound %s (%s): no coordinator to tell", inbound.id, reason)
        return
    enqueue(session, settings, key=f"reply_notice:{inbound.id}", kind="reply_notice", to=recipients(people),
            report_id=report.id if report else None,
            context={"inbound": inbound, "reason": reason, "report": report, "round": rnd,
                     "unit": session.get(Unit, report.unit_id) if report else None,
                     "comment": reply.comment[:1000] if reply else "",
                     "attachments": [a.name for a in reply.attachments] if reply else []})


def finish(inbound: InboundMessage, outcome: str, detail: str = "", report: Report | None = None,
           rnd: ReviewRound | None = None) -> str:
    inbound.outcome, inbound.detail, inbound.processed_at = outcome, detail or None, utcnow()
    inbound.report_id = report.id if report else inbound.report_id
    inbound.round_id = rnd.id if rnd else inbound.round_id
    return outcome


def answer_round(session: Session, settings: Settings, inbound: InboundMessage, reply: Reply,
                 rnd: ReviewRound, report: Report) -> str:
    """A message matched to a review round: apply it, ask again, or say it was decided already."""
    context = {**report_context(session, report), "round": rnd,
               "version": session.get(ReportVersion, rnd.version_id)}
    if not may_answer(session, reply, rnd, report):
        tell_coordinators(session, settings, inbound, "not_reviewer", reply, report, rnd)
        return finish(inbound, "not_reviewer", f"sender {reply.from_address} is not the reviewer", report, rnd)
    if rnd.decision is not None or report.stage != rnd.stage:
        if reply.message_id and reply.decision != "unclear":  # a "谢谢" under the receipt needs no answer
            decided_at = rnd.decided_at.astimezone(ZoneInfo(settings.timezone)) if rnd.decided_at else None
            enqueue(session, settings, key=f"already_decided:{inbound.id}", kind="already_decided",
                    to=[reply.from_address], report_id=report.id, in_reply_to=reply.message_id,
                    context={**context, "sender_name": reply.from_name or reply.from_address,
                             "decided_at": decided_at.strftime("%Y-%m-%d %H:%M") if decided_at else "—"})
        if reply.decision not in ("unclear", rnd.decision):
            tell_coordinators(session, settings, inbound, "correction", reply, report, rnd)
        return finish(inbound, "already_decided", f"round already decided: {rnd.decision}", report, rnd)
    if reply.decision == "unclear":
        day = today_in(settings.timezone).isoformat()
        enqueue(session, settings, key=f"clarify:{rnd.id}:{day}", kind="clarify",
                to=recipients([session.get(Person, rnd.reviewer_id)]), report_id=report.id,
                in_reply_to=rnd.prompt_message_id,
                context={**context, "reviewer": session.get(Person, rnd.reviewer_id), "comment": reply.comment})
        tell_coordinators(session, settings, inbound, "unclear", reply, report, rnd)
        return finish(inbound, "unclear", "no certain decision in the reviewer's words", report, rnd)
    record_decision(session, settings, rnd.id, reply.decision, comment=reply.comment, via="email",
                    actor=reply.from_address)
    if reply.attachments:
        tell_coordinators(session, settings, inbound, "attachments", reply, report, rnd)
    return finish(inbound, "applied", reply.decision, report, rnd)


def new_draft(session: Session, settings: Settings, inbound: InboundMessage, reply: Reply,
              report: Report) -> str:
    """A drafter's reply with a draft attached: the next version, or a clear reason why not."""
    attachment = next(a for a in reply.attachments if a.name.lower().endswith(SUPPORTED))
    drafter = next(p for p in people_with_role(session, report.unit_id, Role.DRAFTER)
                   if p.email.lower() == reply.from_address)
    context = report_context(session, report) | {"drafter": drafter}
    try:  # both refuse before writing anything
        version = submit_draft(session, settings, report, read_draft(attachment.name, attachment.data),
                               reply.from_address)
    except (UnreadableDocument, Refused) as exc:
        problem = (message(f"document.{exc.code}", filename=exc.filename, detail=exc.detail)
                   if isinstance(exc, UnreadableDocument) else message(f"refused.{exc.code}", **exc.params))
        enqueue(session, settings, key=f"draft_received:{inbound.id}", kind="draft_received", to=[reply.from_address],
                report_id=report.id, in_reply_to=reply.message_id,
                context={**context, "problem": problem, "version": latest_version(session, report.id)})
        tell_coordinators(session, settings, inbound, "draft_refused", reply, report)
        return finish(inbound, "draft_refused", str(exc), report)
    if is_held(session, version):  # the drafters have the check's findings (draft_problems)
        return finish(inbound, "new_version", f"version {version.number} held: the check found errors", report)
    enqueue(session, settings, key=f"draft_received:{inbound.id}", kind="draft_received", to=[reply.from_address],
            report_id=report.id, in_reply_to=reply.message_id, context={**context, "problem": "", "version": version})
    return finish(inbound, "new_version", f"version {version.number}", report)


def is_drafter_with_draft(session: Session, reply: Reply, report: Report) -> bool:
    drafters = {p.email.lower() for p in people_with_role(session, report.unit_id, Role.DRAFTER)}
    return reply.from_address in drafters and any(a.name.lower().endswith(SUPPORTED) for a in reply.attachments)


def process(session: Session, settings: Settings, inbound: InboundMessage) -> str:
    """Read one stored message and act on it; returns the outcome (also stored on the row)."""
    try:
        reply = read_reply(inbound.raw)
    except UnreadableMessage as exc:
        tell_coordinators(session, settings, inbound, "unreadable")
        return finish(inbound, "unreadable", str(exc))
    inbound.from_address, inbound.subject = reply.from_address[:320], reply.subject[:998]
    inbound.decision = reply.decision
    if reply.auto_reply or reply.from_address == settings.mail_from.lower():
        detail = "auto-reply: recorded, never answered" if reply.auto_reply else "our own mail (e.g. a copy)"
        return finish(inbound, "auto_reply", detail, report_of_reply(session, reply))
    rnd = round_by_thread(session, reply) or round_by_code(session, reply)
    if rnd is not None:
        report = session.get(Report, rnd.report_id)
        if reply.subject_tag not in (None, report.ref):  # answers one report's prompt, names another
            tell_coordinators(session, settings, inbound, "unmatched", reply, report, rnd)
            return finish(inbound, "unmatched", f"subject names {reply.subject_tag}, thread is {report.ref}",
                          report, rnd)
        return answer_round(session, settings, inbound, reply, rnd, report)
    report = report_of_reply(session, reply)
    if report is not None and is_drafter_with_draft(session, reply, report):
        return new_draft(session, settings, inbound, reply, report)
    if report is not None:
        tell_coordinators(session, settings, inbound, "unmatched", reply, report)
    return finish(inbound, "unmatched", "no review round matches this message", report)


def process_safely(session: Session, settings: Settings, inbound: InboundMessage) -> str:
    """`process`, called right after the raw message was committed: if anything unexpected happens,
    its half-done work is rolled back, the message stays kept, is marked and reported, and the batch
    goes on."""
    try:
        return process(session, settings, inbound)
    except StaleDataError:
        session.rollback()
        log.warning("inbound %s: the report changed meanwhile; it stays new and is retried", inbound.id)
        return "new"
    except Exception as exc:
        session.rollback()
        log.exception("inbound %s could not be processed", inbound.id)
        tell_coordinators(session, settings, inbound, "unreadable")
        return finish(inbound, "unreadable", f"{type(exc).__name__}: {exc}"[:2000])


# ---------------------------------------------------------------- the intake


def mailbox_state(session: Session, name: str) -> MailboxState:
    state = session.exec(select(MailboxState).where(MailboxState.mailbox == name)).first()
    if state is None:
        state = MailboxState(mailbox=name)
        session.add(state)
        session.flush()
    return state


def summarise(session: Session, report: IntakeReport, inbound: InboundMessage, outcome: str) -> None:
    report.outcomes[outcome] += 1
    ref = session.get(Report, inbound.report_id).ref if inbound.report_id is not None else None
    report.rows.append({"id": inbound.id, "source": inbound.source, "from": inbound.from_address,
                        "subject": inbound.subject, "ref": ref, "outcome": outcome, "decision": inbound.decision})


def intake(session: Session, settings: Settings, inbox: ImapInbox | FolderInbox, *,
           apply: bool = True) -> IntakeReport:
    """Fetch, store, process and mark every new message. With apply=False (a dry run) nothing is
    committed or marked: the caller rolls the session back."""
    commit = session.commit if apply else session.flush
    report = IntakeReport()
    leftovers = session.exec(select(InboundMessage).where(InboundMessage.outcome == "new")).all()
    for inbound in leftovers:  # stored by a run that was interrupted before processing them
        summarise(session, report, inbound, process_safely(session, settings, inbound))
        commit()
    state = mailbox_state(session, inbox.name)
    commit()
    for fetched in inbox.messages(state.last_uid, state.uidvalidity):
        report.fetched += 1
        inbound = store(session, fetched)
        if inbound is None:
            report.duplicates += 1
        else:
            commit()  # the raw message is kept before anything else happens
            summarise(session, report, inbound, process_safely(session, settings, inbound))
        if fetched.uid is not None:
            state.last_uid, state.uidvalidity, state.updated_at = fetched.uid, inbox.uidvalidity, utcnow()
            session.add(state)
        commit()
        if apply:
            inbox.mark(fetched)
    if inbox.uidvalidity is not None and state.uidvalidity != inbox.uidvalidity:
        state.uidvalidity, state.last_uid = inbox.uidvalidity, 0  # rebuilt folder, nothing new in it yet
        session.add(state)
        commit()
    return report


@flow(name="fetch-replies")
async def fetch_replies_flow() -> dict:
    """Take in new replies, then deliver the receipts, prompts and notices they caused."""
    settings = load_settings()
    inbox = inbox_for(settings)
    with Session(get_engine(settings.database_url), expire_on_commit=False) as session:
        try:
            report = intake(session, settings, inbox)
        finally:
            inbox.close()
        delivered = deliver_all(session, settings)
    return {"fetched": report.fetched, "duplicates": report.duplicates, "outcomes": dict(report.outcomes),
            "rows": report.rows, "delivery": delivered}
