"""SQLModel tables: units and people, cycles, reports and their versions, review rounds, mail and audit.

Enumerations are stored as plain strings (VARCHAR), never as native database enum types, and every
timestamp is a UTC-aware datetime. Nothing is ever deleted.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, Integer, LargeBinary, UniqueConstraint, true
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel

from models.chain import Stage
from models.db import UTCDateTime, utcnow


def _when():
    return Field(default_factory=utcnow, sa_type=UTCDateTime)


def _maybe_when():
    return Field(default=None, sa_type=UTCDateTime)


UNIT_KINDS = ("province", "city", "county", "district", "township", "street", "department", "admin_committee")


class Unit(SQLModel, table=True):
    """A unit of the roster: a reporting unit (县, 区, 乡镇, 街道, 部门, 管委会) or the level that runs
    the cycle (the roster's root: a province, city or county office), which reports only when `reports`.
    A unit merged or abolished (乡镇撤并) is closed, with who closed it, when and why; it keeps its rows."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, index=True, max_length=64)
    name: str = Field(unique=True, max_length=200)
    kind: str = Field(max_length=32)  # one of UNIT_KINDS
    parent_id: int | None = Field(default=None, foreign_key="unit.id")
    chain: str = Field(default="default", max_length=64)
    approval_body: str = Field(default="党委会议", max_length=64)
    filing_to: str = Field(default="", max_length=1000)  # comma-separated addresses
    filing_cc: str = Field(default="", max_length=1000)
    timezone: str = Field(default="Asia/Shanghai", max_length=64)
    reports: bool = Field(default=True, sa_column_kwargs={"server_default": true()})
    closed_at: datetime | None = _maybe_when()
    closed_by: str | None = Field(default=None, max_length=320)
    closed_reason: str | None = Field(default=None, max_length=500)


class Person(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    email: str = Field(unique=True, index=True, max_length=320)


class Assignment(SQLModel, table=True):
    """A person's role for a unit; one advisor may serve many units, one unit may have two drafters.
    A role the roster no longer lists is ended (`ended_at`), never deleted; listing it again resumes it."""

    __table_args__ = (UniqueConstraint("unit_id", "person_id", "role"),)

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    role: str = Field(max_length=32)
    ended_at: datetime | None = _maybe_when()


class Cycle(SQLModel, table=True):
    """One year's reporting cycle with its deadline policy (models.deadlines.DeadlinePolicy as JSON) and the
    chains it was opened with (models.chain.ChainSet as JSON; None: the built-in ones)."""

    id: int | None = Field(default=None, primary_key=True)
    year: int = Field(unique=True, index=True)
    policy: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    chains: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    opened_at: datetime = _when()
    closed_at: datetime | None = _maybe_when()  # `reportchain cycle close`: no more reminders
    closed_by: str | None = Field(default=None, max_length=320)


class CalendarOverride(SQLModel, table=True):
    """A coordinator's correction of the official working calendar: this date is (not) a working day;
    None: back to the official calendar (the row stays, as everything does, with who set it and when)."""

    id: int | None = Field(default=None, primary_key=True)
    day: date = Field(unique=True, index=True)
    working: bool | None
    note: str = Field(default="", max_length=200)
    set_by: str = Field(max_length=320)
    set_at: datetime = _when()


_row_version = Column("row_version", Integer, nullable=False)


class Report(SQLModel, table=True):
    """One unit's report for one year; `row_version` makes racing transitions lose cleanly."""

    __table_args__ = (UniqueConstraint("unit_id", "cycle_id"),)
    __mapper_args__ = {"version_id_col": _row_version}

    id: int | None = Field(default=None, primary_key=True)
    ref: str = Field(unique=True, index=True, max_length=32)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    cycle_id: int = Field(foreign_key="cycle.id", index=True)
    stage: str = Field(default=Stage.DRAFTING.value, index=True, max_length=32)
    chain: str | None = Field(default=None, max_length=64)  # its chain in the cycle's chains; None: "default"
    row_version: int = Field(default=1, sa_column=_row_version)
    publication_url: str | None = Field(default=None, max_length=1000)
    created_at: datetime = _when()
    updated_at: datetime = _when()
    # the committee meeting that approved it (services/meeting.py): the body, its day, the minutes number
    meeting_body: str | None = Field(default=None, max_length=64)
    meeting_on: date | None = None
    meeting_minutes: str | None = Field(default=None, max_length=100)
    # the upper level's answer to the filing mail (services/filing.py `acknowledge_filing`)
    acknowledged_at: datetime | None = _maybe_when()
    acknowledged_by: str | None = Field(default=None, max_length=320)


class ReportVersion(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("report_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(foreign_key="report.id", index=True)
    number: int
    filename: str = Field(max_length=255)
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    text: str
    sha256: str = Field(max_length=64, index=True)
    submitted_by: str = Field(max_length=320)
    submitted_at: datetime = _when()
    findings: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # the compliance check's


class ReviewRound(SQLModel, table=True):
    """One request to one reviewer to decide on one version at one stage."""

    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(foreign_key="report.id", index=True)
    stage: str = Field(max_length=32)
    number: int  # 1 for the first round of this report at this stage, 2 after a return, …
    reviewer_id: int = Field(foreign_key="person.id", index=True)
    version_id: int = Field(foreign_key="reportversion.id")
    reply_code_hash: str | None = Field(default=None, max_length=64)
    prompt_message_id: str | None = Field(default=None, max_length=255)
    opened_at: datetime = _when()
    decision: str | None = Field(default=None, max_length=16)  # approve | return
    comment: str | None = None
    decided_at: datetime | None = _maybe_when()
    decided_via: str | None = Field(default=None, max_length=32)  # email | phone | simulated
    decided_by: str | None = Field(default=None, max_length=320)


class OutboxStatus(StrEnum):
    PENDING = "pending"  # waiting to be sent, or to be tried again
    SENT = "sent"
    FAILED = "failed"  # refused for good, or out of attempts (the coordinators were told)
    CANCELLED = "cancelled"  # a reminder about a report that moved on
    EXPIRED = "expired"  # a reminder not sent on its day


class InboundOutcome(StrEnum):
    """What became of a fetched message (InboundMessage.outcome)."""

    NEW = "new"  # stored, not yet processed
    APPLIED = "applied"  # the decision it carries was recorded
    UNCLEAR = "unclear"  # no certain decision: the reviewer was asked again
    AUTO_REPLY = "auto_reply"  # an auto-reply or a copy of our own mail: recorded, never answered
    ALREADY_DECIDED = "already_decided"  # answers a round decided before
    NOT_REVIEWER = "not_reviewer"  # the sender is not the round's reviewer or a delegate
    UNMATCHED = "unmatched"  # no round and no mail of ours to this sender matches it
    NEW_VERSION = "new_version"  # a drafter's reply with a draft: the next version
    DRAFT_REFUSED = "draft_refused"  # a drafter's mailed draft that could not be taken
    UNREADABLE = "unreadable"  # broke the reader: kept raw
    BAD_SENDER = "bad_sender"  # not exactly one From address
    UNAUTHENTICATED = "unauthenticated"  # our mail server's DMARC/SPF/DKIM check failed
    NOTICE_REPLY = "notice_reply"  # answers a notice of ours to coordinators
    TOO_LARGE = "too_large"  # not read: bigger than any draft allowed
    TRIAGED = "triaged"  # a coordinator recorded the decision it carries (services/triage.py)
    DISMISSED = "dismissed"  # a coordinator looked at it and set it aside, with a reason
    ACKNOWLEDGED = "acknowledged"  # the upper level's answer to a filing mail: receipt recorded
    NOT_FILING_ADDRESSEE = "not_addressee"  # answers a filing mail, but not from the unit's filing_to/filing_cc


class OutboxMessage(SQLModel, table=True):
    """A mail written in the same transaction as the change that caused it, delivered later."""

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(unique=True, max_length=255)
    message_id: str = Field(unique=True, max_length=255)
    kind: str = Field(max_length=64)
    report_id: int | None = Field(default=None, foreign_key="report.id", index=True)
    to_addrs: str = Field(max_length=2000)
    cc_addrs: str = Field(default="", max_length=2000)
    subject: str = Field(max_length=500)
    body_text: str
    body_html: str
    in_reply_to: str | None = Field(default=None, max_length=255)
    attachment_version_id: int | None = Field(default=None, foreign_key="reportversion.id")
    attachment_name: str | None = Field(default=None, max_length=255)
    ics: str | None = None  # calendar entry for the due date (kickoff mails and prompts)
    raw: bytes = Field(default=b"", sa_column=Column(LargeBinary, nullable=False))  # the exact bytes sent
    pending_recipients: str | None = Field(default=None, max_length=2000)  # after a partial 4xx refusal
    status: str = Field(default=OutboxStatus.PENDING.value, index=True, max_length=16)
    attempts: int = 0
    next_attempt_at: datetime | None = _maybe_when()
    last_error: str | None = None
    created_at: datetime = _when()
    sent_at: datetime | None = _maybe_when()
    expires_at: datetime | None = _maybe_when()  # a reminder not sent by then is dropped (status expired)


class InboundMessage(SQLModel, table=True):
    """Every fetched message, kept raw before anything else, with what processing made of it.

    outcome: an InboundOutcome (what the intake made of it; a coordinator's triage turns it into
    triaged or dismissed, and `read_as` keeps what the intake had read). notice: why the
    coordinators should look at it (their daily digest), and noticed_on the day it was listed.
    triaged_by / triaged_at: who triaged it (services/triage.py) and when."""

    __table_args__ = (UniqueConstraint("message_id", "sha256"),)

    id: int | None = Field(default=None, primary_key=True)
    message_id: str = Field(max_length=998, index=True)
    sha256: str = Field(max_length=64, index=True)
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    source: str = Field(max_length=255)  # e.g. "imap:INBOX:1234" or "folder:reply-017.eml"
    received_at: datetime = _when()
    from_address: str = Field(default="", max_length=320)
    subject: str = Field(default="", max_length=998)
    outcome: str = Field(default=InboundOutcome.NEW.value, index=True, max_length=16)
    decision: str | None = Field(default=None, max_length=16)  # approve | return | unclear, as read
    detail: str | None = None
    report_id: int | None = Field(default=None, foreign_key="report.id", index=True)
    round_id: int | None = Field(default=None, foreign_key="reviewround.id")
    processed_at: datetime | None = _maybe_when()
    notice: str | None = Field(default=None, max_length=16)
    noticed_on: date | None = None
    read_as: str | None = Field(default=None, max_length=16)  # the intake's outcome, once triaged
    triaged_by: str | None = Field(default=None, max_length=320)
    triaged_at: datetime | None = _maybe_when()


class MailboxState(SQLModel, table=True):
    """Where intake stopped in one mailbox folder: its UIDVALIDITY and the last UID processed, and
    until when a running intake holds it (one at a time)."""

    id: int | None = Field(default=None, primary_key=True)
    mailbox: str = Field(unique=True, max_length=500)  # imap://user@host:port/folder
    uidvalidity: int | None = None
    last_uid: int = 0
    updated_at: datetime = _when()
    locked_until: datetime | None = _maybe_when()


class Reminder(SQLModel, table=True):
    """One ladder step of one open item told to one person on one day, and the mail that told it.

    The unique key is what makes a sweep safe to re-run or to run twice at once: an item's step is
    written for a person once a day, whatever the sweep before it did. `item` names the open thing:
    `round:ID` (a review), `draft:REPORT:N` (drafting version N), `publish:REPORT` (disclosure).
    role: actor (the person who must act) | supervisor | coordinator (told about someone else's item)."""

    __table_args__ = (UniqueConstraint("item", "step", "day", "person_id"),)

    id: int | None = Field(default=None, primary_key=True)
    item: str = Field(max_length=64)
    step: str = Field(max_length=32)  # before-3 | due | overdue-1 | … | digest (a coordinator's overview)
    day: date
    person_id: int = Field(foreign_key="person.id")
    role: str = Field(max_length=16)
    report_id: int = Field(foreign_key="report.id", index=True)
    due: date
    outbox_id: int = Field(foreign_key="outboxmessage.id", index=True)
    created_at: datetime = _when()


class AuditEvent(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    report_id: int | None = Field(default=None, foreign_key="report.id", index=True)
    at: datetime = _when()
    actor: str = Field(max_length=320)
    action: str = Field(max_length=64)
    from_stage: str | None = Field(default=None, max_length=32)
    to_stage: str | None = Field(default=None, max_length=32)
    detail: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class AccountRole(StrEnum):
    """What a console account may see and do."""

    COUNTY_COORDINATOR = "county_coordinator"  # every unit; runs the cycle
    UNIT_CLERK = "unit_clerk"  # its own unit's report only
    VIEWER = "viewer"  # read-only: the units its person supervises (and a named unit with its children)


class Account(SQLModel, table=True):
    """A person of the roster who may sign in to the web console. `session_epoch` grows with every
    password change, reset or disabling, which logs out every session signed before it."""

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", unique=True, index=True)
    role: str = Field(max_length=32)
    unit_id: int | None = Field(default=None, foreign_key="unit.id")
    password_hash: str | None = Field(default=None, max_length=255)
    failed_logins: int = 0
    locked_until: datetime | None = _maybe_when()
    setup_token_hash: str | None = Field(default=None, max_length=64, index=True)
    setup_expires: datetime | None = _maybe_when()
    session_epoch: int = 0
    created_at: datetime = _when()
    disabled: bool = False


class SiteSecret(SQLModel, table=True):
    """A secret the installation makes once and keeps (e.g. the console's cookie-signing key), so that
    restarts and several workers share it."""

    name: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=255)
    created_at: datetime = _when()


def kept_secret(session: Session, name: str) -> str:
    """The secret `name`, made now if there is none yet, in a savepoint of the caller's transaction (two
    processes making it at once agree on the first one written)."""
    row = session.get(SiteSecret, name)
    if row is not None:
        return row.value
    try:
        with session.begin_nested():
            session.add(SiteSecret(name=name, value=secrets.token_urlsafe(48)))
    except IntegrityError:
        pass
    return session.get(SiteSecret, name, populate_existing=True).value
