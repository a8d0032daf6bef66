"""Backup and restore: a database restored from a backup continues the cycle without sending anything twice.

With a real relay (aiosmtpd) and a real mailbox (Dovecot), on SQLite (`reportchain db backup | restore`)
and PostgreSQL (pg_dump -Fc / pg_restore, as the README says): part of a cycle runs, a backup is taken,
the cycle goes on (replies applied, receipts, prompts, a return, a clarification, reminders sent), the
backup is restored, and the intake, the delivery and the sweep run again. Every mail reaches the relay
exactly once and every report ends where it was before the restore. A corrupt or foreign file is refused
in Chinese with the current database untouched.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import threading
from collections import Counter
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote

import pytest
from sqlalchemy.engine import make_url
from sqlmodel import Session, select
from typer.testing import CliRunner

from core.settings import load_settings
from models.chain import Refused
from models.db import get_engine
from models.tables import AuditEvent, MailboxState, OutboxMessage, Report
from notifications.mailbox import ImapInbox
from notifications.outbox import ALREADY_SENT
from reportchain.cli import app
from services.backup import backup, backup_contents, sqlite_path
from services.cycle import open_cycle
from services.delivery import deliver_all
from services.reminders import sweep
from services.replies import intake
from tests.conftest import POSTGRESQL_ONLY, SQLITE_ONLY
from tests.replies_kit import prompt_of, reply_to, to_legal_review
from tests.smtp_server import Recorder, Server

SWEEP_AT = datetime.fromisoformat("2026-12-21T09:00:00+08:00")  # reminders due for every open item


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "250"})


def production_settings(monkeypatch, relay: Server, dovecot):
    """This test's settings with the real relay and the real mailbox."""
    for name, value in {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(relay.port), "SMTP_SECURITY": "none",
                        "IMAP_HOST": dovecot.host, "IMAP_PORT": str(dovecot.port), "IMAP_SECURITY": "none",
                        "IMAP_USER": dovecot.user, "IMAP_PASSWORD": dovecot.password, "IMAP_TIMEOUT": "10"}.items():
        monkeypatch.setenv(f"REPORTCHAIN_{name}", value)
    return load_settings()


def take_in_and_deliver(session, settings, now=None) -> None:
    inbox = ImapInbox(settings.imap)
    try:
        intake(session, settings, inbox)
    finally:
        inbox.close()
    session.commit()
    deliver_all(session, settings, now)


def stages(session) -> dict[str, str]:
    session.expire_all()
    return {r.ref: r.stage for r in session.exec(select(Report))}


def sent_ids(session) -> set[str]:
    return set(session.exec(select(OutboxMessage.message_id).where(OutboxMessage.status == "sent")))


def pg_target(url: str) -> tuple[str, str]:
    """(the database URL pg_dump / pg_restore take, the schema) of a test database on a PostgreSQL schema."""
    parsed = make_url(url)
    schema = unquote(parsed.query["options"]).split("search_path=")[1]
    return parsed.set(query={}).render_as_string(hide_password=False), schema


def back_up(url: str, path: Path) -> None:
    if url.startswith("sqlite"):
        result = cli("db", "backup", path)
        assert result.exit_code == 0 and "已备份数据库" in result.output, result.output
        return
    base, schema = pg_target(url)
    subprocess.run(["pg_dump", "-Fc", "-n", schema, "-f", str(path), base], check=True, timeout=60)


def restore(url: str, path: Path) -> str:
    get_engine(url).dispose()
    if url.startswith("sqlite"):
        result = cli("db", "restore", path, "--yes")
        assert result.exit_code == 0, result.output
        return result.output
    base, _ = pg_target(url)
    subprocess.run(["pg_restore", "--clean", "--if-exists", "--single-transaction", "-d", base, str(path)],
                   check=True, timeout=60)
    return ""


@pytest.fixture
def relay():
    server = Server(Recorder()).start()
    yield server
    server.stop()


def test_a_restored_backup_continues_the_cycle_without_sending_anything_twice(
        database_url, settings, session, county, relay, dovecot, monkeypatch, tmp_path):
    assert shutil.which("pg_restore"), "pg_dump / pg_restore are not installed (apt-get install postgresql-client)"
    settings = production_settings(monkeypatch, relay, dovecot)
    open_cycle(session, settings, 2026)
    session.commit()
    reports = session.exec(select(Report).order_by(Report.id)).all()[:4]
    prompts = [prompt_of(session, to_legal_review(session, settings, report)) for report in reports]
    first, returned, unclear, chained = prompts
    deliver_all(session, settings)
    dovecot.append(reply_to(first, first.to_addrs, "同意。"))  # before the backup: to the committee
    take_in_and_deliver(session, settings)
    session.expire_all()
    committee = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "review_prompt",
                                                         OutboxMessage.report_id == reports[0].id)
                             .order_by(OutboxMessage.id.desc())).first()
    later = [reply_to(committee, committee.to_addrs, "同意。"),
             reply_to(returned, returned.to_addrs, "退回，请补充存在的不足和原因。"),
             reply_to(unclear, unclear.to_addrs, "收到，我看一下。"),
             reply_to(chained, chained.to_addrs, "同意。")]
    refs = [report.ref for report in reports]
    session.close()

    backup = tmp_path / "backup" / "reportchain.backup"
    backup.parent.mkdir()
    back_up(database_url, backup)

    # After the backup: the committee approves, one advisor returns, one is unclear, reminders go out.
    for raw in later:
        dovecot.append(raw)
    with Session(get_engine(database_url), expire_on_commit=False) as session:
        take_in_and_deliver(session, settings)
        # a prompt written after the backup, answered: restored, its reply comes in the same batch as the
        # reply that writes it again
        next_prompt = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "review_prompt",
                                                               OutboxMessage.report_id == reports[3].id)
                                   .order_by(OutboxMessage.id.desc())).first()
        dovecot.append(reply_to(next_prompt, next_prompt.to_addrs, "同意。", quote="（略）"))  # no 审核码 quoted
        take_in_and_deliver(session, settings)
        sweep(session, settings, SWEEP_AT)
        session.commit()
        deliver_all(session, settings, SWEEP_AT)
        reached, sent_before = stages(session), sent_ids(session)
    at_relay_before = Counter(r.message_id for r in relay.handler.snapshot())
    kinds_after_backup = Counter(r.message["Subject"][:8] for r in relay.handler.snapshot())
    assert reached[refs[0]] != "committee_review" and reached[refs[1]] == "drafting"
    assert reached[refs[2]] == "legal_review" and reached[refs[3]] not in ("legal_review", "committee_review")

    said = restore(database_url, backup)
    if said:
        assert "发信记录" in said and "不会重发" in said

    with Session(get_engine(database_url), expire_on_commit=False) as session:
        assert stages(session)[refs[0]] == "committee_review"  # the backup's state
        take_in_and_deliver(session, settings)
        sweep(session, settings, SWEEP_AT)
        session.commit()
        deliver_all(session, settings, SWEEP_AT)
        after, sent_after = stages(session), sent_ids(session)
        pending = session.exec(select(OutboxMessage).where(OutboxMessage.status == "pending")).all()
        not_resent = session.exec(select(AuditEvent).where(AuditEvent.action == ALREADY_SENT)).all()

    at_relay = Counter(r.message_id for r in relay.handler.snapshot())
    facts = (f"relay before the restore {sum(at_relay_before.values())}, after {sum(at_relay.values())}; "
             f"marked sent from the journal {len(not_resent)}; kinds {kinds_after_backup}")
    print(facts)
    assert [mid for mid, n in at_relay.items() if n > 1] == [], facts  # nothing at the relay twice
    assert at_relay == at_relay_before, facts  # nothing new either: the restore only caught up
    assert after == reached  # every report where it was before the restore
    assert sent_after == sent_before == set(at_relay)  # nothing lost: every mail sent is a row marked sent
    assert pending == []
    assert len(not_resent) >= 6, facts  # receipts, prompts, the return, the clarification, reminders


@SQLITE_ONLY  # PostgreSQL restores with pg_restore
def test_a_corrupt_or_foreign_file_is_refused_and_the_database_is_untouched(settings, session, county, tmp_path):
    open_cycle(session, settings, 2026)
    session.commit()
    before = stages(session)
    backup = tmp_path / "good.backup"
    assert cli("db", "backup", backup).exit_code == 0
    truncated = tmp_path / "truncated.backup"
    truncated.write_bytes(backup.read_bytes()[:8192])
    garbage = tmp_path / "garbage.backup"
    garbage.write_bytes(b"PK\x03\x04 not a database at all" * 100)
    foreign = tmp_path / "foreign.db"
    with Session(get_engine(f"sqlite:///{foreign}")) as other:
        other.connection().exec_driver_sql("CREATE TABLE notes (a TEXT)")
        other.commit()
    live = sqlite_path(settings.database_url)
    expected = {truncated: "已损坏", garbage: "不是 SQLite 数据库文件", foreign: "不是 reportchain 的数据库备份",
                tmp_path / "missing.backup": "找不到备份文件", live: "就是当前正在使用的数据库文件"}
    for path, words in expected.items():
        result = cli("db", "restore", path, "--yes")
        assert result.exit_code == 1, result.output
        assert words in result.output and "当前数据库未作任何改动" in result.output, result.output
        assert "Traceback" not in result.output
    open_cycle(session, settings, 2026)  # the database still works, with everything in it
    assert stages(session) == before and len(before) == 13


@SQLITE_ONLY
def test_two_backups_to_one_file_at_once_leave_one_sound_backup(settings, session, county, tmp_path, monkeypatch):
    open_cycle(session, settings, 2026)
    session.commit()
    target, said = tmp_path / "same.backup", []
    both_looked = threading.Barrier(2, timeout=10)  # both found no file there before either wrote one
    connect = sqlite3.connect

    def connect_together(database, *args, **kwargs):
        if threading.current_thread() in threads and str(database) == str(sqlite_path(settings.database_url)):
            both_looked.wait()
        return connect(database, *args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", connect_together)

    def back_up_now():
        try:
            said.append(backup(settings.database_url, target).reports)
        except Refused as exc:
            said.append(exc.code)

    threads = [threading.Thread(target=back_up_now) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(said, key=str) == [13, "backup_exists"]
    assert backup_contents(target).reports == 13  # the one kept is whole
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []


@SQLITE_ONLY  # PostgreSQL restores with pg_restore
def test_a_restore_says_what_it_replaces_and_waits_for_yes(settings, session, county, tmp_path):
    backup = tmp_path / "empty-cycle.backup"
    assert cli("db", "backup", backup).exit_code == 0
    assert "已存在" in cli("db", "backup", backup).output  # an old backup is never overwritten
    open_cycle(session, settings, 2026)
    session.commit()
    result = cli("db", "restore", backup)  # not a terminal, no --yes
    assert result.exit_code == 1
    assert "报告 0 份" in result.output and "报告 13 份" in result.output and "--yes" in result.output
    assert len(stages(session)) == 13


@SQLITE_ONLY  # PostgreSQL restores with pg_restore
def test_a_restore_is_refused_while_an_intake_holds_the_mailbox(settings, session, county, tmp_path):
    backup = tmp_path / "b.backup"
    assert cli("db", "backup", backup).exit_code == 0
    open_cycle(session, settings, 2026)
    session.add(MailboxState(mailbox="imap://reviews@127.0.0.1:143/INBOX",
                             locked_until=datetime.fromisoformat("2999-01-01T00:00:00+00:00")))
    session.commit()
    result = cli("db", "restore", backup, "--yes")
    assert result.exit_code == 1 and "正在被读取回复的进程占用" in result.output, result.output
    assert len(stages(session)) == 13


@POSTGRESQL_ONLY
def test_postgresql_is_backed_up_with_its_own_tools(settings, tmp_path):
    result = cli("db", "backup", tmp_path / "x.backup")
    assert result.exit_code == 1 and "pg_dump -Fc" in result.output and "pg_restore" in result.output
    assert not (tmp_path / "x.backup").exists()
