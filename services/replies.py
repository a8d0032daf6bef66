"""Reviewers' replies in: keep every message raw, match it to a review round, apply only what is certain.

One intake runs at a time per mailbox (a lease on its MailboxState row). For each new message:
store the raw bytes and commit (nothing is ever lost), then, in one transaction, read it, check who
sent it, match it (a thread under a mail of that round — our Message-IDs are random, so a thread is
proof of having received it — or the round's 审核码) and act:
- applied: the decision, the receipt and the next stage's prompt commit together;
- unclear: nothing moves; the reviewer is asked once a day per round to answer 同意 or 退回;
- never applied: not exactly one From address, a DMARC/SPF/DKIM failure stamped by our own mail
  server, a sender who is not the round's reviewer or a delegate, no thread or code;
- auto-replies, copies of our own mail and answers to our notices are recorded and never answered;
  a reply to a decided round gets one "already decided" receipt a day;
- a drafter's reply threaded under a mail we sent them, with a draft attached, becomes a new version;
- a message that breaks the reader, or too big to read, is kept, marked and reported, and the batch
  goes on.
Then the message is marked in the mailbox and the last UID is recorded. What needs a person's eye is
marked on the message and reaches the coordinators in one digest a day (`write_notice_digests`).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session, func, or_, select

from core.settings import Settings
from core.texts import message
from documents.reading import SUPPORTED, UnreadableDocument, read_draft
from models.chain import Refused, Role
from models.db import utcnow
from models.tables import (
    Assignment,
    InboundMessage,
    InboundOutcome,
    MailboxState,
    OutboxMessage,
    Person,
    Report,
    ReportVersion,
    ReviewRound,
    Unit,
)
from notifications.authresults import authentication_failure
from notifications.decision import UNCLEAR
from notifications.mailbox import Fetched, FolderInbox, ImapInbox
from notifications.outbox import enqueue
from notifications.reply import Reply, UnreadableMessage, read_reply
from services.decisions import record_decision
from services.drafts import is_held, submit_draft
from services.stages import (
    coordinators_of,
    hash_reply_code,
    latest_version,
    people_with_role,
    recipients,
    report_context,
)

log = logging.getLogger(__name__)


LEASE = timedelta(minutes=10)  # an intake killed mid-run holds its mailbox this long at most
NOTICE_KINDS = ("reply_digest", "delivery_failed")  # mails to coordinators: an answer to one is never answered


@dataclass
class IntakeReport:
    fetched: int = 0
    duplicates: int = 0
    busy_since: datetime | None = None  # another intake holds the mailbox: nothing was fetched
    outcomes: Counter = field(default_factory=Counter)
    rows: list[dict] = field(default_factory=list)  # one per processed message, for the CLI


# ---------------------------------------------------------------- storing


def header_block(raw: bytes) -> bytes:
    """The message's header, without its body (cheap to read however big the mail is)."""
    return re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0] + b"\r\n\r\n"


def message_id_of(raw: bytes) -> str:
    try:
        value = BytesHeaderParser(policy=compat32).parsebytes(header_block(raw)).get("Message-ID") or ""
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


def addressees(row: OutboxMessage) -> set[str]:
    return {addr.lower() for _, addr in getaddresses([row.to_addrs, row.cc_addrs])}


def report_mailed_to_sender(session: Session, reply: Reply) -> Report | None:
    """The report of a mail of ours that was sent to this sender and that this message answers."""
    if not reply.thread_ids:
        return None
    ours = session.exec(select(OutboxMessage).where(OutboxMessage.message_id.in_(reply.thread_ids),
                                                     OutboxMessage.report_id.is_not(None))).all()
    for row in ours:
        if reply.from_address in addressees(row):
            return session.get(Report, row.report_id)
    return None


def answers_notice(session: Session, reply: Reply) -> bool:
    """A message threaded under one of our notices to coordinators (an auto-reply without headers,
    say): answering it, or telling the coordinators about it, could start a mail loop."""
    if not reply.thread_ids:
        return False
    query = select(OutboxMessage.id).where(OutboxMessage.message_id.in_(reply.thread_ids),
                                           OutboxMessage.kind.in_(NOTICE_KINDS))
    return session.exec(query.limit(1)).first() is not None


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


def is_coordinator(session: Session, address: str) -> bool:
    query = (select(Person.id).join(Assignment, Assignment.person_id == Person.id)
             .where(Assignment.role == Role.COORDINATOR.value, func.lower(Person.email) == address))
    return session.exec(query.limit(1)).first() is not None


def finish(inbound: InboundMessage, outcome: InboundOutcome, detail: str = "", report: Report | None = None,
           rnd: ReviewRound | None = None, notice: str | None = None) -> InboundOutcome:
    """Record what became of a message; `notice` (a reason) puts it in the coordinators' next digest."""
    inbound.outcome, inbound.detail, inbound.processed_at = outcome, detail or None, utcnow()
    inbound.report_id = report.id if report else inbound.report_id
    inbound.round_id = rnd.id if rnd else inbound.round_id
    inbound.notice = notice or inbound.notice
    return outcome


def local_day(settings: Settings, now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(ZoneInfo(settings.timezone)).date()


def answer_round(session: Session, settings: Settings, inbound: InboundMessage, reply: Reply,
                 rnd: ReviewRound, report: Report) -> InboundOutcome:
    """A message matched to a review round: apply it, ask again, or say it was decided already."""
    context = {**report_context(session, report), "round": rnd,
               "version": session.get(ReportVersion, rnd.version_id)}
    if not may_answer(session, reply, rnd, report):
        return finish(inbound, InboundOutcome.NOT_REVIEWER, f"sender {reply.from_address} is not the reviewer",
                      report, rnd, notice="not_reviewer")
    if rnd.decision is not None or report.stage != rnd.stage:
        if reply.message_id and reply.decision != UNCLEAR:  # a "谢谢" under the receipt needs no answer
            decided_at = rnd.decided_at.astimezone(ZoneInfo(settings.timezone)) if rnd.decided_at else None
            # one a day per round and sender, however many times they write
            key = f"already_decided:{rnd.id}:{reply.from_address}:{local_day(settings)}"
            enqueue(session, settings, key=key, kind="already_decided",
                    to=[reply.from_address], report_id=report.id, in_reply_to=reply.message_id,
                    context={**context, "sender_name": reply.from_name or reply.from_address,
                             "decided_at": decided_at.strftime("%Y-%m-%d %H:%M") if decided_at else "—"})
        correction = "correction" if reply.decision not in (UNCLEAR, rnd.decision) else None
        return finish(inbound, InboundOutcome.ALREADY_DECIDED, f"round already decided: {rnd.decision}", report, rnd,
                      notice=correction)
    if reply.decision == UNCLEAR:
        enqueue(session, settings, key=f"clarify:{rnd.id}:{local_day(settings)}", kind="clarify",
                to=recipients([session.get(Person, rnd.reviewer_id)]), report_id=report.id,
                in_reply_to=rnd.prompt_message_id,
                context={**context, "reviewer": session.get(Person, rnd.reviewer_id), "comment": reply.comment})
        return finish(inbound, InboundOutcome.UNCLEAR, "no certain decision in the reviewer's words", report, rnd,
                      notice="unclear")
    record_decision(session, settings, rnd.id, reply.decision, comment=reply.comment, via="email",
                    actor=reply.from_address)
    return finish(inbound, InboundOutcome.APPLIED, reply.decision, report, rnd,
                  notice="attachments" if reply.attachments else None)


def drafting_context(session: Session, report: Report, reply: Reply) -> dict:
    drafter = next(p for p in people_with_role(session, report.unit_id, Role.DRAFTER)
                   if p.email.lower() == reply.from_address)
    return report_context(session, report) | {"drafter": drafter}


def refuse_draft(session: Session, settings: Settings, reply: Reply, report: Report, problem: str,
                 data: bytes) -> None:
    """Tell the drafter why their mailed draft was not taken; the same file sent again is answered once."""
    sha = hashlib.sha256(data).hexdigest()[:32]
    enqueue(session, settings, key=f"draft_refused:{report.id}:{reply.from_address}:{sha}", kind="draft_received",
            to=[reply.from_address], report_id=report.id, in_reply_to=reply.message_id,
            context={**drafting_context(session, report, reply), "problem": problem,
                     "version": latest_version(session, report.id)})


def too_large(session: Session, settings: Settings, inbound: InboundMessage) -> InboundOutcome:
    """A mail bigger than any allowed draft could make: only its header is read, to answer a drafter
    who is proven to have sent it (the same proof as for any draft by mail)."""
    try:
        reply = read_reply(header_block(inbound.raw))
    except UnreadableMessage:
        reply = None
    report = None
    if reply and not reply.sender_problem and not authentication_failure(
            reply.authentication, settings.authserv_id, reply.from_address):
        report = report_mailed_to_sender(session, reply)
        if report is not None and reply.from_address in drafters_of(session, report):
            problem = message("document.too_large", filename="邮件及附件", detail=settings.drafts.max_mb)
            refuse_draft(session, settings, reply, report, problem, inbound.raw)
    inbound.from_address, inbound.subject = (reply.from_address[:320], reply.subject[:998]) if reply else ("", "")
    return finish(inbound, InboundOutcome.TOO_LARGE, f"{len(inbound.raw)} bytes: not read", report, notice="too_large")


def new_draft(session: Session, settings: Settings, inbound: InboundMessage, reply: Reply,
              report: Report) -> InboundOutcome:
    """A drafter's reply with a draft attached: the next version, or a clear reason why not."""
    attachment = next(a for a in reply.attachments if a.name.lower().endswith(SUPPORTED))
    try:  # both refuse before writing anything
        version = submit_draft(session, settings, report, read_draft(attachment.name, attachment.data),
                               reply.from_address)
    except (UnreadableDocument, Refused) as exc:
        problem = (message(f"document.{exc.code}", filename=exc.filename, detail=exc.detail)
                   if isinstance(exc, UnreadableDocument) else message(f"refused.{exc.code}", **exc.params))
        refuse_draft(session, settings, reply, report, problem, attachment.data)
        return finish(inbound, InboundOutcome.DRAFT_REFUSED, str(exc), report, notice="draft_refused")
    if is_held(session, version):  # the drafters have the check's findings (draft_problems)
        return finish(inbound, InboundOutcome.NEW_VERSION, f"version {version.number} held: the check found errors",
                      report)
    enqueue(session, settings, key=f"draft_received:{inbound.id}", kind="draft_received", to=[reply.from_address],
            report_id=report.id, in_reply_to=reply.message_id,
            context={**drafting_context(session, report, reply), "problem": "", "version": version})
    return finish(inbound, InboundOutcome.NEW_VERSION, f"version {version.number}", report)


def drafters_of(session: Session, report: Report) -> set[str]:
    return {p.email.lower() for p in people_with_role(session, report.unit_id, Role.DRAFTER)}


def is_drafter_with_draft(session: Session, reply: Reply, report: Report) -> bool:
    has_draft = any(a.name.lower().endswith(SUPPORTED) for a in reply.attachments)
    return has_draft and reply.from_address in drafters_of(session, report)


def read_with_prompt(session: Session, inbound: InboundMessage, rnd: ReviewRound) -> Reply | None:
    """The message read again knowing the text of the round's prompt: lines of it quoted without "> ", or
    with our first line cut, are then recognised as ours (None when the prompt is not found)."""
    prompt = session.exec(select(OutboxMessage.body_text)
                          .where(OutboxMessage.message_id == rnd.prompt_message_id)).first()
    if prompt is None:
        return None
    reply = read_reply(inbound.raw, original=prompt)
    inbound.decision = reply.decision
    return reply


def process(session: Session, settings: Settings, inbound: InboundMessage) -> InboundOutcome:
    """Read one stored message and act on it; returns the outcome (also stored on the row)."""
    if len(inbound.raw) > settings.drafts.max_mail_bytes:  # parsing it would cost seconds and memory
        return too_large(session, settings, inbound)
    try:
        reply = read_reply(inbound.raw)
    except UnreadableMessage as exc:
        return finish(inbound, InboundOutcome.UNREADABLE, str(exc), notice="unreadable")
    inbound.from_address, inbound.subject = reply.from_address[:320], reply.subject[:998]
    inbound.decision = reply.decision
    if reply.auto_reply or reply.from_address == settings.mail_from.lower():
        detail = "auto-reply: recorded, never answered" if reply.auto_reply else "our own mail (e.g. a copy)"
        return finish(inbound, InboundOutcome.AUTO_REPLY, detail, report_of_reply(session, reply))
    if reply.sender_problem:
        return finish(inbound, InboundOutcome.BAD_SENDER, reply.sender_problem, report_of_reply(session, reply),
                      notice="bad_sender")
    failure = authentication_failure(reply.authentication, settings.authserv_id, reply.from_address)
    if failure:
        return finish(inbound, InboundOutcome.UNAUTHENTICATED, failure, report_of_reply(session, reply),
                      notice="unauthenticated")
    if answers_notice(session, reply):
        return finish(inbound, InboundOutcome.NOTICE_REPLY, "answers a notice of ours: recorded, never answered")
    rnd = round_by_thread(session, reply) or round_by_code(session, reply)
    if rnd is not None:
        reply = read_with_prompt(session, inbound, rnd) or reply
        report = session.get(Report, rnd.report_id)
        if reply.subject_tag not in (None, report.ref):  # answers one report's prompt, names another
            return finish(inbound, InboundOutcome.UNMATCHED,
                          f"subject names {reply.subject_tag}, thread is {report.ref}", report, rnd, notice="unmatched")
        return answer_round(session, settings, inbound, reply, rnd, report)
    mailed = report_mailed_to_sender(session, reply)  # a new version by mail needs the same proof as a decision
    if mailed is not None and reply.subject_tag in (None, mailed.ref) and is_drafter_with_draft(session, reply, mailed):
        return new_draft(session, settings, inbound, reply, mailed)
    report = report_of_reply(session, reply)
    # A coordinator's unmatched mail is news to nobody, and telling the coordinators about it could make
    # their auto-replies answer each other's digests day after day.
    notice = "unmatched" if report is not None and not is_coordinator(session, reply.from_address) else None
    return finish(inbound, InboundOutcome.UNMATCHED,
                  "no review round or mail of ours to this sender matches this message", report, notice=notice)


def process_safely(session: Session, settings: Settings, inbound: InboundMessage) -> InboundOutcome:
    """`process`, called right after the raw message was committed: if anything unexpected happens,
    its half-done work is rolled back, the message stays kept, is marked and reported, and the batch
    goes on."""
    try:
        return process(session, settings, inbound)
    except StaleDataError:
        session.rollback()
        log.warning("inbound %s: the report changed meanwhile; it stays new and is retried", inbound.id)
        return InboundOutcome.NEW
    except Exception as exc:
        session.rollback()
        log.exception("inbound %s could not be processed", inbound.id)
        return finish(inbound, InboundOutcome.UNREADABLE, f"{type(exc).__name__}: {exc}"[:2000], notice="unreadable")


# ---------------------------------------------------------------- the intake


def mailbox_state(session: Session, name: str, keep: bool = True) -> MailboxState:
    """Where intake stopped in this mailbox; a mailbox seen for the first time gets its row (kept at once,
    or with keep=False — a dry run — only flushed, for the caller's rollback)."""
    state = session.exec(select(MailboxState).where(MailboxState.mailbox == name)).first()
    if state is None and not keep:
        state = MailboxState(mailbox=name)
        session.add(state)
        session.flush()
    elif state is None:
        try:
            session.add(MailboxState(mailbox=name))
            session.commit()
        except IntegrityError:  # another intake created it a moment ago
            session.rollback()
        state = session.exec(select(MailboxState).where(MailboxState.mailbox == name)).one()
    return state


def claim_mailbox(session: Session, state: MailboxState, now: datetime) -> bool:
    """Take the mailbox for this intake (one compare-and-set UPDATE); False while another holds it."""
    taken = session.execute(update(MailboxState).where(
        MailboxState.id == state.id,
        or_(MailboxState.locked_until.is_(None), MailboxState.locked_until < now)).values(locked_until=now + LEASE))
    session.commit()
    session.refresh(state)
    return taken.rowcount == 1


def summarise(session: Session, report: IntakeReport, inbound: InboundMessage, outcome: InboundOutcome) -> None:
    report.outcomes[outcome] += 1
    ref = session.get(Report, inbound.report_id).ref if inbound.report_id is not None else None
    report.rows.append({"id": inbound.id, "source": inbound.source, "from": inbound.from_address,
                        "subject": inbound.subject, "ref": ref, "outcome": outcome, "decision": inbound.decision})


def intake(session: Session, settings: Settings, inbox: ImapInbox | FolderInbox, *,
           apply: bool = True) -> IntakeReport:
    """Fetch, store, process and mark every new message. With apply=False (a dry run) nothing is
    committed or marked: the caller rolls the session back."""
    report = IntakeReport()
    state = mailbox_state(session, inbox.name, keep=apply)
    free = claim_mailbox(session, state, utcnow()) if apply else not held(state)  # a dry run only looks
    if not free:
        report.busy_since = state.locked_until - LEASE
        return report
    if not apply:
        read_new_messages(session, settings, inbox, state, report, apply)
        return report
    try:
        read_new_messages(session, settings, inbox, state, report, apply)
        write_notice_digests(session, settings)
    finally:
        session.rollback()  # whatever a failure left half-done; everything else is committed
        state.locked_until = None
        session.add(state)
        session.commit()
    return report


def held(state: MailboxState) -> bool:
    return state.locked_until is not None and state.locked_until > utcnow()


def read_new_messages(session: Session, settings: Settings, inbox: ImapInbox | FolderInbox, state: MailboxState,
                      report: IntakeReport, apply: bool) -> None:
    commit = session.commit if apply else session.flush
    leftovers = session.exec(select(InboundMessage).where(InboundMessage.outcome == InboundOutcome.NEW)).all()
    for inbound in leftovers:  # stored by a run that was interrupted before processing them
        summarise(session, report, inbound, process_safely(session, settings, inbound))
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
        if apply:
            state.locked_until = utcnow() + LEASE  # still here: the lease goes on
        session.add(state)
        commit()
        if apply:
            inbox.mark(fetched)
    if inbox.uidvalidity is not None and state.uidvalidity != inbox.uidvalidity:
        state.uidvalidity, state.last_uid = inbox.uidvalidity, 0  # rebuilt folder, nothing new in it yet
        session.add(state)
        commit()


# ---------------------------------------------------------------- the coordinators' daily digest


def write_notice_digests(session: Session, settings: Settings, now: datetime | None = None) -> int:
    """Once a day, each coordinator gets one mail listing the messages that need a person's eye and
    were processed before today: never one mail per message, nothing about their own mail. The
    messages are marked with the day, so each is listed once; returns the number of mails written."""
    today = local_day(settings, now)
    start = datetime.combine(today, time(), ZoneInfo(settings.timezone))
    pending = session.exec(select(InboundMessage).where(
        InboundMessage.notice.is_not(None), InboundMessage.noticed_on.is_(None),
        InboundMessage.outcome.not_in([InboundOutcome.TRIAGED, InboundOutcome.DISMISSED]),  # a coordinator saw it
        InboundMessage.processed_at < start).order_by(InboundMessage.id)).all()
    lists: dict[int, list[dict]] = defaultdict(list)
    people: dict[int, Person] = {}
    for inbound in pending:
        report = session.get(Report, inbound.report_id) if inbound.report_id else None
        try:
            reply = read_reply(inbound.raw)
        except UnreadableMessage:
            reply = None
        item = {"inbound": inbound, "report": report, "unit": session.get(Unit, report.unit_id) if report else None,
                "round": session.get(ReviewRound, inbound.round_id) if inbound.round_id else None,
                "comment": reply.comment[:300] if reply else "",
                "attachments": [a.name for a in reply.attachments] if reply else []}
        for person in coordinators_of(session, item["unit"]):
            if person.email.lower() != inbound.from_address:
                people[person.id] = person
                lists[person.id].append(item)
        inbound.noticed_on = today
        session.add(inbound)
    for person_id, items in lists.items():
        person = people[person_id]
        enqueue(session, settings, key=f"reply_digest:{person_id}:{today}", kind="reply_digest",
                to=recipients([person]), context={"person": person, "items": items, "day": today})
    return len(lists)




def busy_since(settings: Settings, report: IntakeReport) -> str | None:
    """When the intake that held the mailbox started, in local time, if one did."""
    if report.busy_since is None:
        return None
    return report.busy_since.astimezone(ZoneInfo(settings.timezone)).strftime("%Y-%m-%d %H:%M")
