"""Backup and restore of a SQLite database while the product runs (`reportchain db backup | restore`).

A backup is SQLite's online backup API: a consistent copy of the whole database (WAL included) taken in
one step, whatever the workers write meanwhile. A restore first reads the file as a reportchain database
(SQLite's header, `PRAGMA integrity_check`, a known revision, the product's tables) and refuses anything
else with the current database untouched; it refuses while an intake holds the mailbox, then copies the
backup over the live database with the same API (one write transaction: the workers wait, then see the
restored data) and upgrades it if it is of an older revision.

What the restored database has forgotten comes back without a mail sent twice: mails sent after the
backup are found in the sent journal (notifications/journal.py), replies fetched after it are fetched
again (the mailbox's last UID is the backup's) and applied again, and the mails they cause have the
Message-IDs they had. PostgreSQL is backed up with its own tools (pg_dump -Fc / pg_restore, see the
README): this module says so and names the commands.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from sqlmodel import Session, func, select

from models.chain import Refused
from models.db import get_engine, known_revisions, normalise_url, revisions, upgrade_database, utcnow
from models.tables import AuditEvent, MailboxState, OutboxMessage, OutboxStatus, Report
from notifications.outbox import mail_secret

SQLITE_HEADER = b"SQLite format 3\x00"
PRODUCT_TABLES = {"report", "outboxmessage", "reviewround", "mailboxstate", "alembic_version"}


@dataclass(frozen=True)
class Contents:
    """What a database holds, as the restore shows it before replacing one with another."""

    revision: str | None
    reports: int
    sent: int  # mails sent
    last_change: datetime | None  # the newest audit event


@dataclass(frozen=True)
class Restored:
    replaced: Contents
    restored: Contents
    upgraded_from: str | None  # the backup's revision when it was older than this code's


def sqlite_path(url: str) -> Path:
    """The database file of a SQLite URL; PostgreSQL is refused with the commands of its own tools."""
    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() != "sqlite":
        with get_engine(url).connect():  # an unreachable database says so first
            pass
        raise Refused("backup_postgresql", url=parsed.render_as_string(hide_password=True),
                      plain=parsed.set(drivername="postgresql").render_as_string(hide_password=True))
    if not parsed.database or parsed.database == ":memory:":
        raise Refused("backup_no_file", url=url)
    return Path(parsed.database)


def ensure_mail_secret(url: str) -> None:
    """Make the secret that keys Message-IDs and 审核码 now, so that every backup carries it."""
    with Session(get_engine(url)) as session:
        mail_secret(session)
        session.commit()


def contents(session: Session) -> Contents:
    from alembic.migration import MigrationContext

    revision = MigrationContext.configure(session.connection()).get_current_revision()
    count = lambda query: session.exec(query).one()  # noqa: E731
    return Contents(revision,
                    count(select(func.count()).select_from(Report)),
                    count(select(func.count()).select_from(OutboxMessage)
                          .where(OutboxMessage.status == OutboxStatus.SENT)),
                    count(select(func.max(AuditEvent.at))))


def backup(url: str, target: Path) -> Contents:
    """Copy the live SQLite database to `target` (a new file), consistently, while the product runs."""
    source = sqlite_path(url)
    ensure_mail_secret(url)  # also: the database is reachable and has the product's tables
    if target.exists():
        raise Refused("backup_exists", path=str(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    os.close(fd)
    partial = Path(name)  # a name of this run's own: two backups started at once never share a file
    try:
        src = sqlite3.connect(source, timeout=30)
        try:
            dst = sqlite3.connect(partial)
            try:
                src.backup(dst)  # one step: a read transaction on the source, so one consistent moment
                dst.execute("PRAGMA journal_mode=DELETE")  # the backup is one self-contained file
            finally:
                dst.close()
        finally:
            src.close()
        with open(partial, "rb") as f:
            os.fsync(f.fileno())
        try:
            os.link(partial, target)  # never over a file that appeared meanwhile
        except FileExistsError:
            raise Refused("backup_exists", path=str(target)) from None
    finally:
        partial.unlink(missing_ok=True)
    return backup_contents(target)


def backup_contents(path: Path) -> Contents:
    """Read a backup file as a reportchain database, refusing (Refused) anything else."""
    if not path.is_file():
        raise Refused("backup_missing", path=str(path))
    with open(path, "rb") as f:
        if f.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
            raise Refused("backup_not_sqlite", path=str(path))
    try:
        with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as check:
            problems = [row[0] for row in check.execute("PRAGMA integrity_check")]
            tables = {row[0] for row in check.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        check.close()
    except sqlite3.DatabaseError as exc:
        raise Refused("backup_corrupt", path=str(path), detail=str(exc)) from None
    if problems != ["ok"]:
        raise Refused("backup_corrupt", path=str(path), detail="; ".join(problems[:3]))
    if PRODUCT_TABLES - tables:
        raise Refused("backup_foreign", path=str(path), missing="、".join(sorted(PRODUCT_TABLES - tables)))
    uri = f"{path.resolve().as_uri()}?mode=ro"
    engine = create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True), poolclass=NullPool)
    try:
        with Session(engine) as session:
            found = contents(session)
    finally:
        engine.dispose()
    if found.revision not in known_revisions():
        raise Refused("backup_too_new", path=str(path), revision=found.revision,
                      head=revisions().get_current_head())
    return found


def current_contents(url: str) -> Contents:
    with Session(get_engine(url)) as session:
        return contents(session)


def restore(url: str, source: Path, now: datetime | None = None) -> Restored:
    """Replace the live SQLite database with the backup `source` (checked first: nothing is replaced if it
    is not a sound reportchain database, or while an intake holds the mailbox)."""
    target = sqlite_path(url)
    if source.exists() and target.exists() and source.samefile(target):
        raise Refused("restore_same_file", path=str(source))  # copying a database onto itself restores nothing
    replaced = current_contents(url)
    restored = backup_contents(source)
    with Session(get_engine(url)) as session:
        busy = session.exec(select(MailboxState.mailbox, MailboxState.locked_until)
                            .where(MailboxState.locked_until > (now or utcnow()))).first()
    if busy is not None:
        raise Refused("restore_busy", mailbox=busy[0], until=busy[1].isoformat(timespec="seconds"))
    src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(target, timeout=30)
        try:
            src.backup(dst)  # one write transaction on the live database: readers see all or nothing
        finally:
            dst.close()
    finally:
        src.close()
    get_engine(url).dispose()  # pooled connections must not keep pages of the replaced database
    upgraded_from = None
    if restored.revision != revisions().get_current_head():
        upgraded_from = restored.revision
        upgrade_database(url)
    return Restored(replaced, restored, upgraded_from)


def journal_lines(path: Path) -> int:
    """How many mails the sent journal lists (for the restore's message)."""
    try:
        with open(path, "rb") as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0
