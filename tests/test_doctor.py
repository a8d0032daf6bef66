"""`reportchain doctor` on a healthy setup (real SMTP, real Dovecot, a database at the newest revision) and on a
broken one (a database behind, a relay and a mailbox that refuse, an unreachable Prefect server, a mail folder
that cannot be written): every problem said in Chinese with what to do, exit code 1, nothing changed.
The Prefect server with its work pool is checked in test_deployments.py, next to the real server there."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import select

from core.settings import load_settings
from models.db import get_engine, upgrade_database
from models.tables import Cycle, OutboxMessage
from services.cycle import open_cycle
from services.health import calendar, database
from tests.smtp_server import Recorder, Server, free_port

REPORTCHAIN = str(Path(sys.executable).with_name("reportchain"))


@pytest.fixture
def database_url(tmp_path, sqlite_template):
    """The command's runs on SQLite; the database check itself runs on both below."""
    path = tmp_path / "reportchain.db"
    shutil.copyfile(sqlite_template, path)
    yield f"sqlite:///{path}"
    get_engine(f"sqlite:///{path}").dispose()


def doctor(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([REPORTCHAIN, "doctor"], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          env={**os.environ, "COLUMNS": "300", **env})


def imap_env(dovecot, **extra) -> dict[str, str]:
    return {"REPORTCHAIN_IMAP_HOST": dovecot.host, "REPORTCHAIN_IMAP_PORT": str(dovecot.port),
            "REPORTCHAIN_IMAP_SECURITY": "none", "REPORTCHAIN_IMAP_USER": dovecot.user,
            "REPORTCHAIN_IMAP_PASSWORD": dovecot.password, **extra}


def test_a_healthy_setup_passes_every_check(settings, dovecot, tmp_path, monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    smtp = Server(Recorder()).start()
    try:
        done = doctor(tmp_path, **imap_env(dovecot), REPORTCHAIN_SMTP_HOST="127.0.0.1",
                      REPORTCHAIN_SMTP_PORT=str(smtp.port), REPORTCHAIN_SMTP_SECURITY="none")
    finally:
        smtp.stop()
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("✓ 数据库：") and "（最新）" in lines[0]
    assert lines[1].startswith("✓ 发信服务器：127.0.0.1:") and "可以连接" in lines[1]
    assert lines[2].startswith("✓ 回复邮箱：") and "支持即时通知（IDLE）" in lines[2]
    assert lines[3].startswith("✓ Prefect 服务器：未设置 PREFECT_API_URL")
    assert lines[-1] == "一切正常。"


def test_a_broken_setup_says_what_is_wrong_in_chinese_and_fails(settings, session, dovecot, tmp_path):
    behind = tmp_path / "old.db"
    behind.write_bytes(b"")  # a database nobody created the tables of
    closed = str(free_port())
    done = doctor(tmp_path, **imap_env(dovecot, REPORTCHAIN_IMAP_PASSWORD="wrong"),
                  REPORTCHAIN_DATABASE_URL=f"sqlite:///{behind}", REPORTCHAIN_SMTP_HOST="127.0.0.1",
                  REPORTCHAIN_SMTP_PORT=closed, REPORTCHAIN_SMTP_SECURITY="none",
                  PREFECT_API_URL=f"http://127.0.0.1:{closed}/api")
    assert done.returncode == 1
    out = done.stdout
    assert "✗ 数据库：" in out and "请先备份，再执行 reportchain db upgrade" in out
    assert "✗ 发信服务器：无法连接或登录 127.0.0.1:" in out and "REPORTCHAIN_SMTP_*" in out
    assert "✗ 回复邮箱：无法登录" in out and "REPORTCHAIN_IMAP_*" in out
    assert "✗ Prefect 服务器：无法连接" in out and "请启动 Prefect 服务器" in out
    assert "发现 4 个问题" in out and "Traceback" not in done.stderr
    with sqlite3.connect(behind) as looked_at:  # not created or upgraded
        assert looked_at.execute("SELECT name FROM sqlite_master").fetchall() == []
    assert session.exec(select(OutboxMessage)).all() == []


@pytest.mark.parametrize(("variable", "below", "shown"), [
    ("REPORTCHAIN_MAIL_FOLDER", "outbox", "{blocker}/outbox、{blocker}"),  # the journal goes beside it
    ("REPORTCHAIN_SENT_JOURNAL", "sent.journal", "{blocker}"),
])
def test_an_unwritable_mail_folder_or_journal_is_a_problem(settings, tmp_path, monkeypatch, variable, below, shown):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be")
    done = doctor(tmp_path, **{variable: str(blocker / below)})
    assert done.returncode == 1
    assert f"✗ 邮件目录：{shown.format(blocker=blocker)} 无法写入" in done.stdout and variable in done.stdout


def test_the_calendar_check_names_the_years_of_open_cycles_without_official_holidays(settings, session):
    open_cycle(session, settings, 2024)  # 2024 and 2025: published
    session.commit()
    assert (calendar(settings).status, calendar(settings).params) == ("ok", {"years": [2024, 2025]})
    session.add(Cycle(year=2090, policy=session.exec(select(Cycle)).one().policy))
    session.commit()
    found = calendar(settings)
    assert (found.status, found.code, found.params) == ("warn", "missing", {"years": [2090, 2091]})


def test_the_database_check_says_behind_until_upgraded_on_both_databases(empty_database_url, monkeypatch):
    monkeypatch.setenv("REPORTCHAIN_DATABASE_URL", empty_database_url)
    settings = load_settings()
    assert (database(settings).status, database(settings).code) == ("fail", "behind")
    upgrade_database(empty_database_url)
    assert (database(settings).status, database(settings).code) == ("ok", "ok")
