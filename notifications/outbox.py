"""The transactional outbox: mails are rendered and written with the change that causes them.

`enqueue` runs inside the caller's transaction. Each row has a unique idempotency key made of what names
the mail in the world (a report's ref, a round's stage and number, a person's address — never a
row id), so the same logical mail is never written twice, and a Message-ID computed from that key
with the installation's secret: the same mail written again (after a database is restored from a
backup) has the same Message-ID, which the sent journal (notifications/journal.py) recognises.
`deliver` is the separate step that hands due rows to a backend and commits each row's outcome the
moment the backend reports it (after writing an accepted one in the sent journal), so an interruption
loses nothing and a retry re-sends only what was not accepted.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace

from sqlmodel import Session, or_, select, update

from core.settings import Settings
from core.texts import message, render, render_blocks
from models.db import utcnow
from models.tables import AuditEvent, OutboxMessage, OutboxStatus, ReportVersion, SiteSecret, kept_secret
from notifications.backends import MailBackend, Outcome
from notifications.journal import SentJournal, journal_at
from notifications.message import Attachment, calendar_entry, envelope, message_bytes

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=1)
LEASE = timedelta(minutes=10)  # how long a delivery run holds the rows it is sending


@dataclass(frozen=True)
class Recipient:
    name: str
    email: str


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: list[int] = field(default_factory=list)  # outbox ids that failed for good in this run
    last_error: str | None = None  # the latest answer that left a mail waiting for a retry


MAIL_SECRET = "mail_ids"  # the SiteSecret that keys Message-IDs and 审核码


def new_message_id(domain: str, key: str | None = None, secret: str | None = None) -> str:
    """A Message-ID nobody can compute without the installation's secret (a reply threaded under it proves
    its writer received our mail): keyed by the mail's idempotency key, so the same logical mail always has
    the same one; random without a key (benchmarks, tests)."""
    if key is None or secret is None:
        return f"<rc.{secrets.token_hex(16)}@{domain}>"
    return f"<rc.{keyed(secret, 'message-id', key)[:32]}@{domain}>"


def keyed(secret: str, purpose: str, value: str) -> str:
    """HMAC-SHA256 of `value` for one purpose, in hex."""
    return hmac.new(secret.encode(), f"{purpose}|{value}".encode(), hashlib.sha256).hexdigest()


def mail_secret(session: Session) -> str:
    """The installation's secret for Message-IDs and 审核码, made once and kept in the database (so a backup
    carries it). Made inside the caller's transaction, never committed here: two workers making it at once
    agree on the first one committed."""
    if known := session.info.get(MAIL_SECRET):
        return known  # it never changes once made: read once per session
    made_before = session.get(SiteSecret, MAIL_SECRET) is not None
    value = kept_secret(session, MAIL_SECRET)
    if made_before:  # one made now is not remembered: the caller may roll it back
        session.info[MAIL_SECRET] = value
    return value


def join_addrs(recipients: Sequence[Recipient | str]) -> str:
    return ", ".join(r if isinstance(r, str) else f"{r.name} <{r.email}>" for r in recipients)


def enqueue(session: Session, settings: Settings, *, key: str, attachment_version_id: int | None = None,
            attachment: Attachment | None = None, **mail) -> OutboxMessage:
    """Write one mail (`compose`: templates/email/KIND.txt and .html) unless a row with this key exists.
    It carries `attachment`, or else the version `attachment_version_id` as it was submitted."""
    existing = session.exec(select(OutboxMessage).where(OutboxMessage.idempotency_key == key)).first()
    if existing is not None:
        return existing
    if attachment is None and attachment_version_id:
        version = session.get(ReportVersion, attachment_version_id)
        attachment = Attachment(version.filename, version.content)
    row = compose(settings, key=key, attachment=attachment, attachment_version_id=attachment_version_id,
                  secret=mail_secret(session), **mail)
    session.add(row)
    session.flush()
    return row


def compose(settings: Settings, **mail) -> OutboxMessage:
    """The outbox row of one mail (`mail_values`), not yet added to a session."""
    return OutboxMessage(**mail_values(settings, **mail))


def mail_values(
    settings: Settings,
    *,
    secret: str,
    key: str,
    kind: str,
    to: Sequence[Recipient | str],
    context: dict,
    cc: Sequence[Recipient | str] = (),
    report_id: int | None = None,
    in_reply_to: str | None = None,
    attachment: Attachment | None = None,
    attachment_version_id: int | None = None,
    expires_at: datetime | None = None,
) -> dict:
    """Every column of one mail's outbox row, rendered and with its bytes: what a Core INSERT of many
    takes (services/reminders.py, services/cycle.py), or `compose` makes a row of.

    `secret` (`mail_secret`) keys the Message-ID. Optional blocks of KIND.txt: `attachment_name` names the
    attachment; `calendar_summary` adds an .ics entry for the context's `due` date."""
    context = {"settings": settings, **context}
    blocks = render_blocks(f"email/{kind}.txt", context)
    message_id, created_at = new_message_id(settings.message_id_domain, key, secret), utcnow()
    ics = None
    if "calendar_summary" in blocks and context.get("due"):
        ics = calendar_entry(message_id, context["due"], blocks["calendar_summary"], settings.timezone, created_at)
    values = dict(
        idempotency_key=key,
        message_id=message_id,
        kind=kind,
        report_id=report_id,
        to_addrs=join_addrs(to),
        cc_addrs=join_addrs(cc),
        subject=blocks["subject"],
        body_text=blocks["body"] + "\n",
        body_html=render(f"email/{kind}.html", **context),
        in_reply_to=in_reply_to,
        attachment_version_id=attachment_version_id,
        attachment_name=blocks.get("attachment_name"),
        ics=ics,
        pending_recipients=None,
        status=OutboxStatus.PENDING.value,
        attempts=0,
        next_attempt_at=None,
        last_error=None,
        created_at=created_at,
        sent_at=None,
        expires_at=expires_at,
    )
    values["raw"] = message_bytes(settings, SimpleNamespace(**values), attachment)
    return values


def claim(session: Session, now: datetime, limit: int, after: int = 0) -> list[OutboxMessage]:
    """The next due rows (ids above `after`), claimed for this delivery run: one compare-and-set UPDATE
    moves their next attempt a lease ahead, so a delivery running at the same moment (a schedule, a CLI
    command) skips them; if this run dies before the server answers, they are due again when the lease
    ends."""
    is_due = (OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.id > after,
              or_(OutboxMessage.next_attempt_at.is_(None), OutboxMessage.next_attempt_at <= now))
    while ids := list(session.exec(select(OutboxMessage.id).where(*is_due).order_by(OutboxMessage.id).limit(limit))):
        claimed = list(session.execute(
            update(OutboxMessage).where(OutboxMessage.id.in_(ids), *is_due)
            .values(next_attempt_at=now + LEASE).returning(OutboxMessage.id)
            .execution_options(synchronize_session=False)).scalars())
        session.commit()
        if claimed:  # else another run took these first: look again
            return list(session.exec(select(OutboxMessage).where(OutboxMessage.id.in_(claimed))
                                     .order_by(OutboxMessage.id).execution_options(populate_existing=True)))
    return []


def release(session: Session, ids: list[int]) -> None:
    """Give claimed rows back: due at once, as they were."""
    session.exec(update(OutboxMessage).where(OutboxMessage.id.in_(ids), OutboxMessage.status == OutboxStatus.PENDING)
                 .values(next_attempt_at=None).execution_options(synchronize_session=False))
    session.commit()


def expire(session: Session, now: datetime) -> None:
    """Drop what was not sent in time (a reminder belongs to its day; tomorrow's sweep writes anew)."""
    session.exec(update(OutboxMessage)
                 .where(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.expires_at <= now)
                 .values(status=OutboxStatus.EXPIRED, last_error="not sent before it expired"))
    session.commit()


def backoff(settings: Settings, attempts: int) -> timedelta:
    return min(timedelta(seconds=settings.retry_seconds * 2 ** (attempts - 1)), MAX_BACKOFF)


def deliver(session: Session, settings: Settings, backend: MailBackend, batch_size: int = 200,
            now: datetime | None = None) -> DeliveryReport:
    """Send every due row once; transient failures wait with backoff, permanent ones are marked failed.
    Rows are taken in id order, each at most once a run, even when `now` (a replayed sweep) lies past
    their next attempt. A sent journal that cannot be written stops nothing (the database still records
    every mail sent, so none goes twice): the run ends by raising its OSError, so that it is seen."""
    now = now or utcnow()
    report = DeliveryReport()
    journal = journal_at(settings.sent_journal)
    journal_problem: list[OSError] = []
    expire(session, now)
    after = 0
    while rows := claim(session, now, batch_size, after):
        after = rows[-1].id
        rows = skip_journaled(session, journal, rows)
        if not rows:
            continue
        outcomes: dict[int, Outcome] = {}

        def record(index: int, outcome: Outcome, rows=rows, outcomes=outcomes) -> None:
            outcomes[index] = outcome
            if outcome.sent or outcome.retry_recipients:  # written down outside the database before it knows
                try:
                    journal.record(rows[index].message_id, rows[index].kind, rows[index].idempotency_key,
                                   outcome.retry_recipients)
                except OSError as exc:  # only a restore from a backup would miss this line
                    journal_problem.append(exc)
            apply_outcome(session, settings, rows[index], outcome, report)
            session.commit()

        try:
            backend.send([envelope(settings, row) for row in rows], record)
        except BaseException:  # e.g. DeliveryConfigError: nothing was sent, so nothing stays claimed
            session.rollback()
            release(session, [row.id for index, row in enumerate(rows) if index not in outcomes])
            raise
        finally:
            try:
                journal.sync()
            except OSError as exc:
                journal_problem.append(exc)
        for index in set(range(len(rows))) - set(outcomes):  # a backend that fell silent: retry later
            record(index, Outcome("no answer from the delivery backend"))
    if journal_problem:
        log.error("the sent journal %s could not be written: %s", settings.sent_journal, journal_problem[0])
        raise journal_problem[0]
    return report


ALREADY_SENT = "mail_already_sent"  # the audit action of a mail the sent journal knew


def skip_journaled(session: Session, journal: SentJournal, rows: list[OutboxMessage]) -> list[OutboxMessage]:
    """Mark as sent, without sending them, the claimed rows the sent journal knows (a database restored
    from a backup wrote them again), each with an audit event and a log line; the others, to be sent — a
    mail the relay accepted for some of its recipients only to those still waiting."""
    known, waiting = journal.lookup(row.message_id for row in rows)
    for row in rows:
        if row.message_id in known:
            log.warning("outbox %s (%s, %s) is in the sent journal: marked sent, not sent again",
                        row.id, row.kind, row.message_id)
            row.status, row.sent_at, row.next_attempt_at = OutboxStatus.SENT, utcnow(), None
            row.last_error = "already handed to the relay before (sent journal): not sent again"
            session.add(row)
            session.add(AuditEvent(report_id=row.report_id, actor="system", action=ALREADY_SENT,
                                   detail={"message_id": row.message_id, "kind": row.kind,
                                           "key": row.idempotency_key}))
        elif row.message_id in waiting and not row.pending_recipients:
            log.warning("outbox %s (%s, %s) reached some recipients before (sent journal): only %s still get it",
                        row.id, row.kind, row.message_id, ", ".join(waiting[row.message_id]))
            row.pending_recipients = ", ".join(waiting[row.message_id])
            session.add(row)
    if known or waiting:
        session.commit()
    return [row for row in rows if row.message_id not in known]


def apply_outcome(session: Session, settings: Settings, row: OutboxMessage, outcome: Outcome,
                  report: DeliveryReport) -> None:
    row.attempts += 1
    if outcome.sent:
        row.status, row.sent_at, row.last_error, row.next_attempt_at = OutboxStatus.SENT, utcnow(), outcome.note, None
        row.pending_recipients = None
        report.sent += 1
    elif outcome.permanent or row.attempts >= settings.max_attempts:
        row.status, row.last_error, row.next_attempt_at = OutboxStatus.FAILED, outcome.error, None
        report.failed.append(row.id)
        log.warning("outbox %s to %s failed for good: %s", row.id, row.to_addrs, outcome.error)
    else:
        if outcome.retry_recipients:
            row.pending_recipients = ", ".join(outcome.retry_recipients)
        row.last_error, row.next_attempt_at = outcome.error, utcnow() + backoff(settings, row.attempts)
        report.retrying += 1
        report.last_error = outcome.error
        log.info("outbox %s will be retried at %s: %s", row.id, row.next_attempt_at, outcome.error)
    session.add(row)


def retry(session: Session, outbox_id: int) -> OutboxMessage | None:
    """Put a failed (or waiting) mail back in line for the next delivery."""
    row = session.get(OutboxMessage, outbox_id)
    if row is None or row.status == OutboxStatus.SENT:
        return None
    row.status, row.next_attempt_at = OutboxStatus.PENDING, None
    session.add(row)
    return row


def listing(session: Session, failed_only: bool = False) -> list[OutboxMessage]:
    statuses = [OutboxStatus.FAILED] if failed_only else [OutboxStatus.PENDING, OutboxStatus.FAILED]
    query = select(OutboxMessage).where(OutboxMessage.status.in_(statuses)).order_by(OutboxMessage.id)
    return list(session.exec(query))


# The kinds of failure the delivery backends record (the texts of notifications/smtp.py), in the order
# they are looked for: a connection error names a port, which must not be read as the server's answer.
FAILURE_KINDS = [
    ("login", re.compile(r"^SMTP login refused")),
    ("tls", re.compile(r"^TLS failed|does not offer STARTTLS")),
    ("timeout", re.compile(r"Timeout|Timed out")),
    ("connect", re.compile(r"^(SMTPConnectError|ConnectionRefusedError|OSError|gaierror)")),
    ("disconnected", re.compile(r"^(SMTPServerDisconnected|ConnectionResetError|ConnectionAbortedError|BrokenPipe)")),
    ("no_answer", re.compile(r"^no answer from the delivery backend")),
]
SERVER_ANSWER = re.compile(r"(?:^|: )([45]\d\d)(?: ([245]\.\d{1,3}\.\d{1,3}))?")


def reason(error: str | None) -> str:
    """Why a mail waits or failed, in Chinese with the server's code; `error` is the English detail kept
    on the row (for logs and `reportchain outbox --verbose`)."""
    if not error:
        return ""
    kind = next((kind for kind, pattern in FAILURE_KINDS if pattern.search(error)), None)
    answer = SERVER_ANSWER.search(error) if kind in (None, "login") else None
    code = " ".join(part for part in answer.groups() if part) if answer else ""
    if kind is None and answer is not None:
        kind = ("temporary" if code.startswith("4") else
                "unknown_address" if (answer[2] or "").startswith("5.1.") else "rejected")
    return message("outbox_reason", kind=kind or "other", code=code)
