"""Reviewers' replies in: keep every message raw, match it to a review round, apply only what is certain.

One intake runs at a time per mailbox: a lease on its MailboxState row, renewed with every batch, and on
PostgreSQL a session-level advisory lock keyed by the mailbox, held on a connection of the intake's own for
the whole run, so that an intake killed mid-run frees the mailbox the moment its connection goes (the
lease alone would hold it for ten minutes).
Messages come in batches (one IMAP FETCH): store the raw bytes of the batch and commit (nothing is
ever lost), read every message once, then process them in one transaction (all in one savepoint; when one
fails, again each in a savepoint of its own, so that a failure rolls back only that message's work): check
who sent it, match it (a thread under a mail of that
round — our Message-IDs are unguessable, keyed with the installation's secret, so a thread is proof of
having received it — or the round's 审核码) and act:
- applied: the decision, the receipt and the next stage's prompt commit together;
- unclear: nothing moves; the reviewer is asked once a day per round to answer 同意 or 退回;
- never applied: not exactly one From address, a DMARC/SPF/DKIM failure stamped by our own mail
  server, a sender who is not the round's reviewer or a delegate, no thread or code;
- auto-replies, copies of our own mail and answers to our notices are recorded and never answered;
  a reply to a decided round gets one "already decided" receipt a day;
- a drafter's reply threaded under a mail we sent them, with a draft attached, becomes a new version;
- a message that breaks the reader, or too big to read, is kept, marked and reported, and the batch
  goes on.
The batch's work and its last UID commit together, then the batch is marked in the mailbox (one
command). A crash at any point loses nothing and applies nothing twice: a message stored but not
processed is processed by the next run, one fetched again is recognised as stored. What needs a
person's eye is marked on the message and reaches the coordinators in one digest a day
(`write_notice_digests`).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses
from zoneinfo import ZoneInfo

from sqlalchemy import insert, text, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session, func, or_, select

from core.settings import Settings
from core.texts import message
from documents.reading import SUPPORTED, UnreadableDocument, read_draft
from models.chain import Refused, Role
from models.db import hold_transaction, utcnow
from models.tables import (
    Assignment,
    Cycle,
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
from notifications.mailbox import BATCH_MESSAGES, Fetched, FolderInbox, ImapInbox
from notifications.outbox import enqueue
from notifications.reply import Reply, UnreadableMessage, read_reply, reread
from services.decisions import record_decision
from services.drafts import is_held, submit_draft
from services.filing import FILING_MAIL, acknowledge_filing
from services.meeting import approved_to_filing, meeting_complete, meeting_in, record_meeting
from services.stages import (
    chain_of,
    coordinators_of,
    hash_reply_code,
    latest_version,
    people_with_role,
    recipients,
    report_context,
    roster_read_once,
    round_name,
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


def store(session: Session, batch: list[Fetched]) -> list[InboundMessage | None]:
    """Keep the raw messages of a batch; None in place of each one stored before, by an earlier run or
    earlier in the batch (same Message-ID or same bytes)."""
    keys = [(hashlib.sha256(fetched.raw).hexdigest(), message_id_of(fetched.raw)) for fetched in batch]
    shas, mids = {sha for sha, _ in keys}, {mid for _, mid in keys if mid}
    known = session.exec(select(InboundMessage.sha256, InboundMessage.message_id)
                         .where(or_(InboundMessage.sha256.in_(shas), InboundMessage.message_id.in_(mids)))).all()
    known_shas, known_mids = {sha for sha, _ in known}, {mid for _, mid in known if mid}
    new, now = [], utcnow()
    for fetched, (sha, mid) in zip(batch, keys, strict=True):
        if sha in known_shas or mid in known_mids:
            continue
        new.append(dict(message_id=mid, sha256=sha, raw=fetched.raw, source=fetched.source[:255], received_at=now,
                        from_address="", subject="", outcome=InboundOutcome.NEW.value))
        known_shas.add(sha)
        if mid:
            known_mids.add(mid)
    if not new:
        return [None] * len(batch)
    session.execute(insert(InboundMessage), new)  # one statement (SQLite returns no ids from a batch insert)
    stored = {row.sha256: row for row in session.exec(
        select(InboundMessage).where(InboundMessage.sha256.in_([values["sha256"] for values in new])))}
    return [stored.pop(sha, None) for sha, _ in keys]  # pop: the same bytes twice in the batch are stored once


# ---------------------------------------------------------------- reading a batch


OURS = (OutboxMessage.message_id, OutboxMessage.in_reply_to, OutboxMessage.kind, OutboxMessage.report_id,
        OutboxMessage.to_addrs, OutboxMessage.cc_addrs, OutboxMessage.body_text)
IN_LIST = 500  # values in one IN (...) of a query: References headers can be long


def chunks(values: set, size: int = IN_LIST) -> list[list]:
    ordered = sorted(values)
    return [ordered[start:start + size] for start in range(0, len(ordered), size)]


def our_mails(session: Session, message_ids: set[str]) -> dict:
    """Our mails with these Message-IDs (the columns OURS), by Message-ID."""
    return {row.message_id: row for ids in chunks(message_ids)
            for row in session.exec(select(*OURS).where(OutboxMessage.message_id.in_(ids)))}


def prompt_answered(row) -> str | None:
    """The review prompt a mail of ours belongs to: itself, or the prompt it was threaded under."""
    return row.message_id if row.kind == "review_prompt" else row.in_reply_to


def thread_of(ours: dict, reply: Reply) -> list:
    """Our mails this message answers, In-Reply-To first."""
    return [ours[i] for i in dict.fromkeys(reply.thread_ids) if i in ours]


@dataclass
class Batch:
    """A batch of stored messages, each read once before any is processed, and what they refer to, read in
    a few queries: our mails they answer and the rounds of those mails' prompts, with their reports,
    units, cycles and versions (kept here, so the session answers `get` for them without a query). A mail
    written while the batch is processed is read when a later message of the batch answers it (`catch_up`):
    after a restore, the mails the batch writes again have the Message-IDs their replies answer."""
    replies: dict[int, Reply | UnreadableMessage | None]  # by inbound id; None: too big to read
    ours: dict  # our mails by Message-ID (`our_mails`)
    rounds: dict[str, ReviewRound]  # by their prompt's Message-ID
    loaded: list  # the rows read for the session's identity map
    unit_ids: set[int]


def read_batch(session: Session, settings: Settings, rows: list[InboundMessage]) -> Batch:
    replies: dict[int, Reply | UnreadableMessage | None] = {}
    for inbound in rows:
        if len(inbound.raw) > settings.drafts.max_mail_bytes:  # parsing it would cost seconds and memory
            replies[inbound.id] = None
            continue
        try:
            replies[inbound.id] = read_reply(inbound.raw)
        except UnreadableMessage as exc:
            replies[inbound.id] = exc
    ours = our_mails(session, {i for r in replies.values() if isinstance(r, Reply) for i in r.thread_ids})
    prompts = {prompt_answered(row) for row in ours.values()} - {None}
    rounds = {rnd.prompt_message_id: rnd for ids in chunks(prompts)
              for rnd in session.exec(select(ReviewRound).where(ReviewRound.prompt_message_id.in_(ids)))}
    report_ids = ({rnd.report_id for rnd in rounds.values()} | {row.report_id for row in ours.values()}) - {None}
    reports = [r for ids in chunks(report_ids) for r in session.exec(select(Report).where(Report.id.in_(ids)))]
    unit_ids = {r.unit_id for r in reports}
    loaded = [*reports,
              *session.exec(select(Unit).where(Unit.id.in_(unit_ids))),
              *session.exec(select(Cycle).where(Cycle.id.in_({r.cycle_id for r in reports}))),
              *session.exec(select(ReportVersion).where(ReportVersion.id.in_({r.version_id for r in rounds.values()})))
              ] if reports else []
    return Batch(replies, ours, rounds, loaded, unit_ids)


# ---------------------------------------------------------------- matching


def round_by_thread(batch: Batch, reply: Reply) -> ReviewRound | None:
    """The round whose prompt (or a mail threaded under it) this message answers."""
    prompts = {prompt_answered(row) for row in thread_of(batch.ours, reply)}
    found = [batch.rounds[p] for p in prompts if p in batch.rounds]
    return max(found, key=lambda rnd: rnd.id) if found else None


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


def addressees(row) -> set[str]:
    return {addr.lower() for _, addr in getaddresses([row.to_addrs, row.cc_addrs])}


def report_mailed_to_sender(session: Session, ours: dict, reply: Reply) -> Report | None:
    """The report of a mail of ours that was sent to this sender and that this message answers."""
    for row in thread_of(ours, reply):
        if row.report_id is not None and reply.from_address in addressees(row):
            return session.get(Report, row.report_id)
    return None


def answers_notice(ours: dict, reply: Reply) -> bool:
    """A message threaded under one of our notices to coordinators (an auto-reply without headers,
    say): answering it, or telling the coordinators about it, could start a mail loop."""
    return any(row.kind in NOTICE_KINDS for row in thread_of(ours, reply))


def report_of_reply(session: Session, ours: dict, reply: Reply) -> Report | None:
    """The report a message is about: a mail of ours it answers, else a [#R-…] tag."""
    for row in thread_of(ours, reply):
        if row.report_id is not None:
            return session.get(Report, row.report_id)
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
        if meeting_answered(session, reply, rnd, report):
            return finish(inbound, InboundOutcome.APPLIED, "committee meeting recorded", report, rnd)
        if reply.message_id and reply.decision != UNCLEAR:  # a "谢谢" under the receipt needs no answer
            decided_at = rnd.decided_at.astimezone(ZoneInfo(settings.timezone)) if rnd.decided_at else None
            # one a day per round and sender, however many times they write
            named = round_name(report, rnd.stage, rnd.number)
            key = f"already_decided:{named}:{reply.from_address}:{local_day(settings)}"
            enqueue(session, settings, key=key, kind="already_decided",
                    to=[reply.from_address], report_id=report.id, in_reply_to=reply.message_id,
                    context={**context, "sender_name": reply.from_name or reply.from_address,
                             "decided_at": decided_at.strftime("%Y-%m-%d %H:%M") if decided_at else "—"})
        correction = "correction" if reply.decision not in (UNCLEAR, rnd.decision) else None
        return finish(inbound, InboundOutcome.ALREADY_DECIDED, f"round already decided: {rnd.decision}", report, rnd,
                      notice=correction)
    if reply.decision == UNCLEAR:
        enqueue(session, settings, key=f"clarify:{round_name(report, rnd.stage, rnd.number)}:{local_day(settings)}",
                kind="clarify", to=recipients([session.get(Person, rnd.reviewer_id)]), report_id=report.id,
                in_reply_to=rnd.prompt_message_id,
                context={**context, "reviewer": session.get(Person, rnd.reviewer_id), "comment": reply.comment})
        return finish(inbound, InboundOutcome.UNCLEAR, "no certain decision in the reviewer's words", report, rnd,
                      notice="unclear")
    meeting = meeting_in(session, report, reply.comment) if reply.decision == "approve" else None
    record_decision(session, settings, rnd.id, reply.decision, comment=reply.comment, via="email",
                    actor=reply.from_address, meeting=meeting)
    return finish(inbound, InboundOutcome.APPLIED, reply.decision, report, rnd,
                  notice="attachments" if reply.attachments else None)


def meeting_answered(session: Session, reply: Reply, rnd: ReviewRound, report: Report) -> bool:
    """The committee's contact answering the receipt that asked for the meeting: recorded if the words
    name it (what was recorded already stays unless the words name it anew)."""
    if meeting_complete(report) or not approved_to_filing(session, report, rnd):
        return False
    meeting = meeting_in(session, report, reply.comment)
    return meeting is not None and record_meeting(session, report, on=meeting.on, minutes=meeting.minutes,
                                                  actor=reply.from_address, via="email")


def filing_answered(ours: dict, reply: Reply):
    """Our filing mail this message answers, if it answers one."""
    return next((row for row in thread_of(ours, reply) if row.kind == FILING_MAIL), None)


def acknowledge(session: Session, inbound: InboundMessage, reply: Reply, filing) -> InboundOutcome:
    """An answer to a filing mail: the upper level's 回执 when it comes from one of the unit's filing
    addresses (the thread proves the writer received our mail; anyone else's answer acknowledges nothing)."""
    report = session.get(Report, filing.report_id)
    unit = session.get(Unit, report.unit_id)
    if reply.subject_tag not in (None, report.ref):
        return finish(inbound, InboundOutcome.UNMATCHED, f"subject names {reply.subject_tag}, thread is {report.ref}",
                      report, notice="unmatched")
    if reply.from_address not in {addr.lower() for _, addr in getaddresses([unit.filing_to, unit.filing_cc])}:
        return finish(inbound, InboundOutcome.NOT_FILING_ADDRESSEE,
                      f"sender {reply.from_address} is not among {unit.name}'s filing addresses", report,
                      notice="not_addressee")
    if acknowledge_filing(session, report, by=reply.from_address, at=inbound.received_at,
                          message_id=reply.message_id):
        return finish(inbound, InboundOutcome.ACKNOWLEDGED, "filing acknowledged", report)
    return finish(inbound, InboundOutcome.ACKNOWLEDGED, "acknowledged before: nothing changed", report)


def drafting_context(session: Session, report: Report, reply: Reply) -> dict:
    drafter = next(p for p in people_with_role(session, report.unit_id, Role.DRAFTER)
                   if p.email.lower() == reply.from_address)
    return report_context(session, report) | {"drafter": drafter}


def refuse_draft(session: Session, settings: Settings, reply: Reply, report: Report, problem: str,
                 data: bytes) -> None:
    """Tell the drafter why their mailed draft was not taken; the same file sent again is answered once."""
    sha = hashlib.sha256(data).hexdigest()[:32]
    enqueue(session, settings, key=f"draft_refused:{report.ref}:{reply.from_address}:{sha}", kind="draft_received",
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
        report = report_mailed_to_sender(session, our_mails(session, set(reply.thread_ids)), reply)
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
    enqueue(session, settings, key=f"draft_received:{inbound.sha256}", kind="draft_received", to=[reply.from_address],
            report_id=report.id, in_reply_to=reply.message_id,
            context={**drafting_context(session, report, reply), "problem": "", "version": version})
    return finish(inbound, InboundOutcome.NEW_VERSION, f"version {version.number}", report)


def drafters_of(session: Session, report: Report) -> set[str]:
    return {p.email.lower() for p in people_with_role(session, report.unit_id, Role.DRAFTER)}


def is_drafter_with_draft(session: Session, reply: Reply, report: Report) -> bool:
    has_draft = any(a.name.lower().endswith(SUPPORTED) for a in reply.attachments)
    return has_draft and reply.from_address in drafters_of(session, report)


def with_prompt(session: Session, batch: Batch, inbound: InboundMessage, reply: Reply,
                rnd: ReviewRound) -> Reply:
    """The reply read again (from its text, not its bytes) knowing the text of the round's prompt: lines of
    it quoted without "> ", or with our first line cut, are then recognised as ours. It replaces the
    batch's first reading of the message."""
    mail = batch.ours.get(rnd.prompt_message_id)
    prompt = mail.body_text if mail is not None else session.exec(
        select(OutboxMessage.body_text).where(OutboxMessage.message_id == rnd.prompt_message_id)).first()
    if prompt is None:
        return reply
    batch.replies[inbound.id] = reread(reply, prompt)
    return batch.replies[inbound.id]


def process(session: Session, settings: Settings, inbound: InboundMessage, batch: Batch) -> InboundOutcome:
    """Act on one stored message of a batch; returns the outcome (also stored on the row, with what was read)."""
    reply = batch.replies[inbound.id]
    if reply is None:
        return too_large(session, settings, inbound)
    if isinstance(reply, UnreadableMessage):
        return finish(inbound, InboundOutcome.UNREADABLE, str(reply), notice="unreadable")
    outcome = act(session, settings, inbound, reply, batch)
    read = batch.replies[inbound.id]  # as finally read: with the round's prompt, if one was matched
    inbound.from_address, inbound.subject, inbound.decision = read.from_address[:320], read.subject[:998], read.decision
    return outcome


def catch_up(session: Session, settings: Settings, batch: Batch, reply: Reply) -> None:
    """Read the mails of ours this message answers that the batch has not read: written by an earlier message
    of the same batch (a database restored from a backup writes a prompt again, with the Message-ID its
    reviewer already answered). Only ids of our form are looked up, so another mail's References cost no
    query."""
    ours = f"@{settings.message_id_domain}>"
    missing = {i for i in reply.thread_ids if i not in batch.ours and i.startswith("<rc.") and i.endswith(ours)}
    if not missing:
        return
    found = our_mails(session, missing)
    batch.ours.update(found)
    prompts = {prompt_answered(row) for row in found.values()} - {None} - batch.rounds.keys()
    if prompts:
        batch.rounds.update({rnd.prompt_message_id: rnd for rnd in session.exec(
            select(ReviewRound).where(ReviewRound.prompt_message_id.in_(sorted(prompts))))})


def act(session: Session, settings: Settings, inbound: InboundMessage, reply: Reply, batch: Batch) -> InboundOutcome:
    """What a readable message makes happen."""
    catch_up(session, settings, batch, reply)
    if reply.auto_reply or reply.from_address == settings.mail_from.lower():
        detail = "auto-reply: recorded, never answered" if reply.auto_reply else "our own mail (e.g. a copy)"
        return finish(inbound, InboundOutcome.AUTO_REPLY, detail, report_of_reply(session, batch.ours, reply))
    if reply.sender_problem:
        return finish(inbound, InboundOutcome.BAD_SENDER, reply.sender_problem,
                      report_of_reply(session, batch.ours, reply), notice="bad_sender")
    failure = authentication_failure(reply.authentication, settings.authserv_id, reply.from_address)
    if failure:
        return finish(inbound, InboundOutcome.UNAUTHENTICATED, failure, report_of_reply(session, batch.ours, reply),
                      notice="unauthenticated")
    if answers_notice(batch.ours, reply):
        return finish(inbound, InboundOutcome.NOTICE_REPLY, "answers a notice of ours: recorded, never answered")
    rnd = round_by_thread(batch, reply) or round_by_code(session, reply)
    if rnd is not None:
        reply = with_prompt(session, batch, inbound, reply, rnd)
        report = session.get(Report, rnd.report_id)
        if reply.subject_tag not in (None, report.ref):  # answers one report's prompt, names another
            return finish(inbound, InboundOutcome.UNMATCHED,
                          f"subject names {reply.subject_tag}, thread is {report.ref}", report, rnd, notice="unmatched")
        return answer_round(session, settings, inbound, reply, rnd, report)
    filing = filing_answered(batch.ours, reply)
    if filing is not None:
        return acknowledge(session, inbound, reply, filing)
    mailed = report_mailed_to_sender(session, batch.ours, reply)  # a new version by mail needs the same proof
    if mailed is not None and reply.subject_tag in (None, mailed.ref) and is_drafter_with_draft(session, reply, mailed):
        return new_draft(session, settings, inbound, reply, mailed)
    report = report_of_reply(session, batch.ours, reply)
    # A coordinator's unmatched mail is news to nobody, and telling the coordinators about it could make
    # their auto-replies answer each other's digests day after day.
    notice = "unmatched" if report is not None and not is_coordinator(session, reply.from_address) else None
    return finish(inbound, InboundOutcome.UNMATCHED,
                  "no review round or mail of ours to this sender matches this message", report, notice=notice)


def process_safely(session: Session, settings: Settings, inbound: InboundMessage, batch: Batch) -> InboundOutcome:
    """`process` in a savepoint: if anything unexpected happens, only this message's half-done work is
    rolled back; the message stays kept, is marked and reported, and the batch goes on."""
    try:
        with session.begin_nested():
            return process(session, settings, inbound, batch)
    except StaleDataError:
        log.warning("inbound %s: the report changed meanwhile; it stays new and is retried", inbound.id)
        return InboundOutcome.NEW
    except Exception as exc:
        log.exception("inbound %s could not be processed", inbound.id)
        return finish(inbound, InboundOutcome.UNREADABLE, f"{type(exc).__name__}: {exc}"[:2000], notice="unreadable")


def process_together(session: Session, settings: Settings, rows: list[InboundMessage],
                     batch: Batch) -> list[InboundOutcome] | None:
    """The common case, where no message fails: the whole batch in one savepoint (a savepoint per message
    costs a sixth of the intake). None, with the savepoint rolled back, when any message raised: then each
    is processed again alone (`process_safely`), in the same order, to the same outcomes; the batch forgets
    what it learnt meanwhile (a round or mail a rolled-back message wrote, a reading with its prompt)."""
    learnt = dict(batch.replies), dict(batch.ours), dict(batch.rounds)
    try:
        with session.begin_nested():
            outcomes = [process(session, settings, inbound, batch) for inbound in rows]
            session.flush()  # anything the database refuses is refused here, inside the savepoint
            return outcomes
    except Exception:  # told and handled message by message by the caller
        log.info("a message of the batch failed: processing each alone")
        batch.replies, batch.ours, batch.rounds = learnt
        return None


def process_batch(session: Session, settings: Settings, state: MailboxState, report: IntakeReport,
                  rows: list[InboundMessage], apply: bool) -> None:
    """Read the stored messages of a batch, then process them in one transaction, which the caller commits:
    together, or, when one fails, each in a savepoint of its own."""
    hold_transaction(session)
    if apply:
        state.locked_until = utcnow() + LEASE  # still here: the lease goes on
        session.add(state)
        session.flush()
    if not rows:
        return
    batch = read_batch(session, settings, rows)
    with roster_read_once(session, batch.unit_ids):  # nothing here changes the roster or the calendar
        outcomes = process_together(session, settings, rows, batch)
        if outcomes is None:
            outcomes = [process_safely(session, settings, inbound, batch) for inbound in rows]
    for inbound, outcome in zip(rows, outcomes, strict=True):
        summarise(session, report, inbound, outcome)


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


LOCK_SPACE = 0x72636D62  # the first key of our advisory locks ("rcmb"): no other lock of the database collides


def lock_key(mailbox: str) -> int:
    """The mailbox's advisory lock key (a signed 32-bit number)."""
    return int.from_bytes(hashlib.sha256(mailbox.encode()).digest()[:4], "big", signed=True)


@contextmanager
def mailbox_lock(session: Session, mailbox: str) -> Iterator[bool | None]:
    """On PostgreSQL, `pg_try_advisory_lock` on a connection of this intake's own, held until the block ends:
    True when taken, False while another intake holds it. The lock belongs to the connection: a process
    killed mid-run loses both at once. None on other databases (SQLite): the lease decides alone."""
    engine = session.get_bind().engine
    if engine.dialect.name != "postgresql":
        yield None
        return
    connection = engine.connect()
    key = {"space": LOCK_SPACE, "key": lock_key(mailbox)}
    taken = False
    try:
        taken = bool(connection.execute(text("SELECT pg_try_advisory_lock(:space, :key)"), key).scalar())
        connection.commit()  # a session-level lock outlives the transaction that took it
        yield taken
        if taken:
            connection.execute(text("SELECT pg_advisory_unlock(:space, :key)"), key)
            connection.commit()
            taken = False
    finally:
        if taken:  # the unlock was not reached: never give a connection holding the lock back to the pool
            connection.invalidate()
        connection.close()


def claim_mailbox(session: Session, state: MailboxState, now: datetime, locked: bool = False) -> bool:
    """Take the mailbox for this intake (one compare-and-set UPDATE); False while another holds it. `locked`:
    this intake holds the mailbox's advisory lock, so any lease left is a dead intake's and is taken over."""
    free = or_(MailboxState.locked_until.is_(None), MailboxState.locked_until < now) if not locked else true()
    taken = session.execute(update(MailboxState).where(MailboxState.id == state.id, free)
                            .values(locked_until=now + LEASE))
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
    if not apply:  # a dry run only looks
        if held(state):
            report.busy_since = state.locked_until - LEASE
        else:
            read_new_messages(session, settings, inbox, state, report, apply)
        return report
    with mailbox_lock(session, inbox.name) as locked:
        if locked is False or not claim_mailbox(session, state, utcnow(), locked=bool(locked)):
            session.refresh(state)
            report.busy_since = state.locked_until - LEASE if state.locked_until else utcnow()
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
    leftovers = session.exec(select(InboundMessage).where(InboundMessage.outcome == InboundOutcome.NEW)
                             .order_by(InboundMessage.id)).all()
    for start in range(0, len(leftovers), BATCH_MESSAGES):  # stored by a run interrupted before processing them
        process_batch(session, settings, state, report, leftovers[start:start + BATCH_MESSAGES], apply)
        commit()
    for batch in inbox.batches(state.last_uid, state.uidvalidity):
        report.fetched += len(batch)
        rows = store(session, batch)
        report.duplicates += sum(row is None for row in rows)
        commit()  # the raw messages are kept before anything else happens
        process_batch(session, settings, state, report, [row for row in rows if row is not None], apply)
        if batch[-1].uid is not None:
            state.last_uid, state.uidvalidity, state.updated_at = batch[-1].uid, inbox.uidvalidity, utcnow()
        session.add(state)
        commit()  # the batch's work and where it ends, together
        if apply:
            inbox.mark(batch)
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
                "chain": chain_of(session, report) if report else (),
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
        enqueue(session, settings, key=f"reply_digest:{person.email}:{today}", kind="reply_digest",
                to=recipients([person]), context={"person": person, "items": items, "day": today})
    return len(lists)




def busy_since(settings: Settings, report: IntakeReport) -> str | None:
    """When the intake that held the mailbox started, in local time, if one did."""
    if report.busy_since is None:
        return None
    return report.busy_since.astimezone(ZoneInfo(settings.timezone)).strftime("%Y-%m-%d %H:%M")
