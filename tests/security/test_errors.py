"""Attacks on the CLI's error handling (issue 11 §6): every failure a user can cause — a broken
setting, an unreachable server or database, an unwritable folder, a hostile attachment name — ends
in one Chinese message and a non-zero exit, never a traceback, and loses no stored data."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import typer
from sqlmodel import Session, select, update

from core.settings import SettingsError, load_settings
from models.db import get_engine
from models.tables import InboundMessage, OutboxMessage, OutboxStatus
from reportchain.cli import app
from tests.conftest import SAMPLE_ROSTER, write_draft
from tests.drafts import DRAFT
from tests.replies_kit import drop, reply_to
from tests.smtp_server import free_port
from tests.test_cli import cli, ok

CHINESE = re.compile(r"[\u4e00-\u9fff]")
ADVISOR = "陈律师 <chen.lawyer@lvshi-a.example.cn>"


def command_paths(group, prefix: tuple[str, ...] = ()) -> set[str]:
    """Every command a user can run, sub-commands included ("outbox" runs on its own too)."""
    paths = set()
    for name, command in group.commands.items():
        path = (*prefix, name)
        if hasattr(command, "commands"):  # a group
            paths |= command_paths(command, path)
            if not command.no_args_is_help:
                paths.add(" ".join(path))
        else:
            paths.add(" ".join(path))
    return paths


COMMANDS = {  # each command with arguments that pass the command line parser
    "init": [], "db upgrade": [], "db current": [], "db backup": ["{tmp}/backup.db"],
    "db restore": ["{tmp}/backup.db", "--yes"], "units import": [str(SAMPLE_ROSTER)], "cycle open": ["2026"],
    "cycle close": ["2026"], "units close": ["yehe", "--reason", "并入上社镇"],
    "draft submit": ["yehe", "{draft}"], "draft accept": ["R-2026-001", "--by", "吴协调"],
    "decide": ["R-2026-001", "approve"], "file": ["R-2026-001"],
    "report meeting": ["R-2026-001", "--date", "2026-11-28"],
    "publish": ["R-2026-001", "https://www.qingshan.example.gov.cn/r1"],
    "render": ["R-2026-001", "--out", "{tmp}/out"], "deliver": [], "outbox": [], "outbox retry": ["1"],
    "status": [], "history": ["R-2026-001"], "replies fetch": [], "replies watch": [], "replies list": [],
    "replies show": ["1"], "doctor": [],
    "triage list": [],
    "triage decide": ["1", "approve", "--stage", "legal_review", "--by", "yfzx@qingshan.example.gov.cn"],
    "triage dismiss": ["1", "--by", "yfzx@qingshan.example.gov.cn", "--reason", "重复来信"],
    "replies parse": ["{eml}"], "deadlines show": [], "deadlines set": ["filing=2027-01-25"],
    "calendar show": ["2027"], "calendar set": ["2027-02-01", "holiday"],
    "sweep": ["--now", "2026-12-16T09:00"], "check": ["{draft}"], "demo": ["--workdir", "{tmp}/demo"],
    "users add": ["张伟", "--role", "viewer"], "users list": [], "users reset": ["张伟"], "users disable": ["张伟"],
    "web": ["--port", "1"],
}


def command_line(command: str, tmp_path) -> list[str]:
    """`command` with its arguments, the files it reads written into tmp_path."""
    draft = write_draft(tmp_path / "drafts", "报告.md", DRAFT)
    eml = tmp_path / "reply.eml"
    eml.write_bytes(b"From: a@x.example.cn\r\nSubject: hi\r\n\r\n\xe5\x90\x8c\xe6\x84\x8f\r\n")
    return [*command.split(), *(a.format(tmp=tmp_path, draft=draft, eml=eml) for a in COMMANDS[command])]


SETTINGS_FREE = {"check", "replies parse"}  # they read one file and nothing else
OWN_SETTINGS = {"demo"}  # a throwaway database and mail folder of its own, never the mail servers

BROKEN_SETTINGS = {
    "smtp-security": {"REPORTCHAIN_SMTP_HOST": "127.0.0.1", "REPORTCHAIN_SMTP_SECURITY": "foo"},
    "smtp-port": {"REPORTCHAIN_SMTP_HOST": "127.0.0.1", "REPORTCHAIN_SMTP_PORT": "abc"},
}


def no_traceback(result) -> str:
    """The CLI ended through its own error path: a Chinese message, no Python exception escaped."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert CHINESE.search(result.output), result.output
    return result.output


@pytest.fixture
def clean_env(tmp_path, monkeypatch):
    """No .env, no mail servers, a database and folders in tmp_path."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("REPORTCHAIN_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("REPORTCHAIN_DATABASE_URL", f"sqlite:///{tmp_path / 'reportchain.db'}")
    monkeypatch.setenv("REPORTCHAIN_MAIL_FOLDER", str(tmp_path / "mail"))
    monkeypatch.setenv("REPORTCHAIN_INBOX_FOLDER", str(tmp_path / "inbox"))
    return monkeypatch


def test_the_command_table_lists_every_command(tmp_path):
    assert command_paths(typer.main.get_command(app)) == set(COMMANDS)


@pytest.mark.parametrize("broken", BROKEN_SETTINGS)
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_broken_setting_on_any_command_is_a_chinese_message_and_exit_2(tmp_path, clean_env, command, broken):
    for name, value in BROKEN_SETTINGS[broken].items():
        clean_env.setenv(name, value)
    result = cli(*command_line(command, tmp_path))
    said = no_traceback(result)
    if command in SETTINGS_FREE:
        return
    assert result.exit_code == 2, said
    variable = "REPORTCHAIN_SMTP_SECURITY" if broken == "smtp-security" else "REPORTCHAIN_SMTP_PORT"
    assert variable in said and "设置有误" in said
    assert not (tmp_path / "reportchain.db").exists() and not (tmp_path / "demo").exists()


PREFECT_PROBE = """
import json, sys
from typer.testing import CliRunner
from reportchain.cli import app
commands = json.loads(sys.argv[1])
results = {c: CliRunner().invoke(app, args) for c, args in commands.items()}
print(json.dumps({"codes": {c: r.exit_code for c, r in results.items()},
                  "prefect": sorted(m for m in sys.modules if m.split(".")[0] == "prefect")}))
"""


def test_commands_that_run_flows_fail_on_a_broken_setting_before_prefect_starts(tmp_path, clean_env):
    flows = ["cycle open", "draft submit", "draft accept", "decide", "file", "publish", "deliver", "outbox retry",
             "replies fetch", "sweep", "demo"]
    args = {c: command_line(c, tmp_path) for c in flows}
    env = {**os.environ, "REPORTCHAIN_SMTP_HOST": "127.0.0.1", "REPORTCHAIN_SMTP_SECURITY": "foo"}
    proc = subprocess.run([sys.executable, "-c", PREFECT_PROBE, json.dumps(args)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    probe = json.loads(proc.stdout)
    assert probe["codes"] == dict.fromkeys(flows, 2)
    assert probe["prefect"] == []


def test_the_installed_command_prints_a_bad_setting_without_a_traceback(tmp_path, clean_env):
    env = {**os.environ, "REPORTCHAIN_SMTP_HOST": "127.0.0.1", "REPORTCHAIN_SMTP_SECURITY": "foo"}
    proc = subprocess.run([sys.executable, "-m", "reportchain.cli", "status"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "REPORTCHAIN_SMTP_SECURITY" in proc.stderr and "foo" in proc.stderr and "starttls" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


BAD_VALUES = [
    ("REPORTCHAIN_SMTP_SECURITY", "ssl", {"REPORTCHAIN_SMTP_HOST": "smtp.example.cn"}),
    ("REPORTCHAIN_SMTP_PORT", "abc", {"REPORTCHAIN_SMTP_HOST": "smtp.example.cn"}),
    ("REPORTCHAIN_SMTP_PORT", "70000", {"REPORTCHAIN_SMTP_HOST": "smtp.example.cn"}),
    ("REPORTCHAIN_SMTP_TIMEOUT", "thirty", {"REPORTCHAIN_SMTP_HOST": "smtp.example.cn"}),
    ("REPORTCHAIN_SMTP_CONCURRENCY", "0", {"REPORTCHAIN_SMTP_HOST": "smtp.example.cn"}),
    ("REPORTCHAIN_IMAP_SECURITY", "ssl", {"REPORTCHAIN_IMAP_HOST": "imap.example.cn"}),
    ("REPORTCHAIN_IMAP_PORT", "-1", {"REPORTCHAIN_IMAP_HOST": "imap.example.cn"}),
    ("REPORTCHAIN_IMAP_TIMEOUT", "0", {"REPORTCHAIN_IMAP_HOST": "imap.example.cn"}),
    ("REPORTCHAIN_IMAP_MARK", "delete", {"REPORTCHAIN_IMAP_HOST": "imap.example.cn"}),
    ("REPORTCHAIN_DELIVERY_MAX_ATTEMPTS", "many", {}),
    ("REPORTCHAIN_DELIVERY_RETRY_SECONDS", "1.5", {}),
    ("REPORTCHAIN_TIMEZONE", "Mars/Olympus", {}),
    ("REPORTCHAIN_TIMEZONE", "../../etc/passwd", {}),
    ("REPORTCHAIN_MAIL_FROM", "not-an-address", {}),
    ("REPORTCHAIN_MAIL_FROM", "ｆｚｂ@county.example.gov.cn", {}),
    ("REPORTCHAIN_REPLY_TO", "replies@county..example.gov.cn", {}),
    ("REPORTCHAIN_MAIL_FROM_NAME", "县委\r\nBcc: x@evil.example", {}),
    ("REPORTCHAIN_DATABASE_URL", "not a url", {}),
]


@pytest.mark.parametrize(("variable", "value", "with_"), BAD_VALUES, ids=[f"{v}={x!r}" for v, x, _ in BAD_VALUES])
def test_every_bad_setting_is_named_with_its_value_in_chinese(tmp_path, clean_env, variable, value, with_):
    for name, good in with_.items():
        clean_env.setenv(name, good)
    clean_env.setenv(variable, value)
    with pytest.raises(SettingsError):  # flows (run by Prefect) get the same error
        load_settings()
    result = cli("status")
    said = no_traceback(result)
    assert result.exit_code == 2
    assert variable in said and value.splitlines()[0] in said


def test_the_shipped_env_example_is_a_valid_configuration(tmp_path, clean_env):
    from core.settings import PROJECT_ROOT

    (tmp_path / ".env").write_text((PROJECT_ROOT / ".env.example").read_text(encoding="utf-8"), encoding="utf-8")
    for name in ("REPORTCHAIN_DATABASE_URL", "REPORTCHAIN_MAIL_FOLDER", "REPORTCHAIN_INBOX_FOLDER"):
        clean_env.delenv(name)
    assert load_settings().smtp is None


@pytest.mark.parametrize("url", ["sqlite:///{tmp}/a-file/reportchain.db", "postgresql://nobody@127.0.0.1:1/x"],
                         ids=["sqlite-under-a-file", "postgresql-closed-port"])
@pytest.mark.parametrize("command", sorted(set(COMMANDS) - SETTINGS_FREE - OWN_SETTINGS))
def test_an_unreachable_database_on_any_command_is_a_chinese_message(tmp_path, clean_env, command, url):
    (tmp_path / "a-file").write_text("not a folder")
    clean_env.setenv("REPORTCHAIN_DATABASE_URL", url.format(tmp=tmp_path))
    result = cli(*command_line(command, tmp_path))
    said = no_traceback(result)
    assert result.exit_code == 1
    assert "无法连接数据库" in said


def statuses(settings) -> list[str]:
    with Session(get_engine(settings.database_url)) as s:
        return list(s.exec(select(OutboxMessage.status)))


@pytest.mark.parametrize("command", [["cycle", "open", "2026"], ["outbox", "retry", "1"],
                                     ["sweep", "--now", "2027-01-04T09:00"]], ids=" ".join)
def test_an_unreachable_smtp_server_keeps_every_mail_pending_with_a_chinese_message(county, settings, monkeypatch,
                                                                                      command):
    monkeypatch.setenv("REPORTCHAIN_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("REPORTCHAIN_SMTP_PORT", str(free_port()))  # nothing listens there
    monkeypatch.setenv("REPORTCHAIN_SMTP_SECURITY", "none")
    if command[0] != "cycle":
        cli("cycle", "open", "2026")
    if command[0] == "outbox":  # only a mail that failed for good is retried by hand
        with Session(get_engine(settings.database_url)) as s:
            s.exec(update(OutboxMessage).where(OutboxMessage.id == 1).values(status=OutboxStatus.FAILED))
            s.commit()
    said = no_traceback(cli(*command))
    assert "暂未送达，稍后自动重试" in said
    assert set(statuses(settings)) == {"pending"}


def test_an_unreachable_imap_server_is_a_chinese_message(settings, monkeypatch):
    monkeypatch.setenv("REPORTCHAIN_IMAP_HOST", "127.0.0.1")
    monkeypatch.setenv("REPORTCHAIN_IMAP_PORT", str(free_port()))
    monkeypatch.setenv("REPORTCHAIN_IMAP_SECURITY", "none")
    result = cli("replies", "fetch")
    assert result.exit_code == 1
    assert "无法读取回复邮箱" in no_traceback(result)


def test_an_unwritable_mail_folder_is_named_and_the_mails_stay_pending(county, settings, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the mail folder should be")
    monkeypatch.setenv("REPORTCHAIN_MAIL_FOLDER", str(blocker / "outbox"))
    for command in (["cycle", "open", "2026"], ["deliver"]):
        result = cli(*command)
        said = no_traceback(result)
        assert result.exit_code == 1
        assert str(blocker / "outbox") in said and "无法读写" in said and "仍在发件箱中" in said
    assert statuses(settings) == ["pending"] * 13


def test_a_sweep_into_an_unwritable_mail_folder_keeps_the_reminders_pending(county, settings, tmp_path, monkeypatch):
    ok(cli("cycle", "open", "2026"))
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the mail folder should be")
    monkeypatch.setenv("REPORTCHAIN_MAIL_FOLDER", str(blocker))
    result = cli("sweep", "--now", "2026-12-16T09:00")
    said = no_traceback(result)
    assert result.exit_code == 1
    assert str(blocker) in said and "仍在发件箱中" in said
    assert statuses(settings).count("pending") > 0 and "failed" not in statuses(settings)


# --- replies show --save: attachment names from a stranger's mail ---------------------------------


def saved_reply(settings, prompt, tmp_path, attachments) -> tuple[InboundMessage, str]:
    drop(settings.inbox_folder, reply_to(prompt, ADVISOR, "请看附件。", attachments=attachments))
    ok(cli("replies", "fetch"))
    with Session(get_engine(settings.database_url)) as s:
        row = s.exec(select(InboundMessage)).one()
    return row, no_traceback(cli("replies", "show", row.id, "--save", tmp_path / "saved"))


def saved_files(tmp_path) -> dict[str, bytes]:
    return {p.relative_to(tmp_path).as_posix(): p.read_bytes() for p in tmp_path.rglob("*")
            if p.is_file() and "saved" in p.relative_to(tmp_path).parts}


HOSTILE_NAMES = ["..", ".", "../../escaped.docx", "..\\..\\escaped.docx", "意见\x00.docx", "a\tb\x1b[2J.docx", "",
                 "/etc/cron.d/x", "长" * 300 + ".docx"]


def test_hostile_attachment_names_are_saved_inside_the_folder_under_safe_names(settings, yehe, tmp_path):
    attachments = tuple((name, f"content {n}".encode()) for n, name in enumerate(HOSTILE_NAMES))
    row, said = saved_reply(settings, yehe[2], tmp_path, attachments)
    assert "已保存" in said
    files = saved_files(tmp_path)
    assert all(name.startswith("saved/") and name.count("/") == 1 for name in files), files
    assert sorted(files.values()) == sorted([row.raw, *(data for _, data in attachments)])
    for name in files:
        leaf = name.split("/", 1)[1]
        assert leaf not in (".", "..") and not any(c in leaf for c in "\x00\r\n\\")
        assert len(leaf.encode()) <= 255
    assert not (tmp_path.parent / "escaped.docx").exists()


def test_an_attachment_named_like_the_raw_copy_never_overwrites_it(settings, yehe, tmp_path):
    # The first stored message gets id 1 on both databases (a fresh table each test).
    row, _ = saved_reply(settings, yehe[2], tmp_path, (("inbound-1.eml", b"forged raw copy"),
                                                       ("意见.docx", b"first"), ("意见.docx", b"second")))
    assert row.id == 1
    files = saved_files(tmp_path)
    assert files["saved/inbound-1.eml"] == row.raw
    assert sorted(files.values()) == sorted([row.raw, b"forged raw copy", b"first", b"second"])


def test_saving_the_same_message_twice_keeps_the_first_copy(settings, yehe, tmp_path):
    row, _ = saved_reply(settings, yehe[2], tmp_path, (("意见.docx", b"notes"),))
    (tmp_path / "saved" / "意见.docx").write_bytes(b"edited by the coordinator")
    no_traceback(cli("replies", "show", row.id, "--save", tmp_path / "saved"))
    files = saved_files(tmp_path)
    assert files["saved/意见.docx"] == b"edited by the coordinator"
    assert sorted(files.values()) == sorted([row.raw, row.raw, b"edited by the coordinator", b"notes"])


@pytest.mark.parametrize("year", ["0", "10000"])
def test_a_year_outside_the_calendar_is_a_chinese_message(settings, year):
    result = cli("calendar", "show", year)
    said = no_traceback(result)
    assert result.exit_code == 2 and f"年份“{year}”" in said


def test_escape_sequences_in_a_strangers_mail_never_reach_the_terminal(settings, yehe, tmp_path):
    hostile = "\x1b]0;pwned\x07\x1b[2J"
    mail = reply_to(yehe[2], "路人 <x@else.example.cn>", f"同意{hostile}", subject=f"回复{hostile}",
                    attachments=((f"意见{hostile}.docx", b"x"),))
    drop(settings.inbox_folder, mail)
    ok(cli("replies", "fetch"))
    with Session(get_engine(settings.database_url)) as s:
        row = s.exec(select(InboundMessage)).one()
    for said in (ok(cli("replies", "list")), ok(cli("replies", "show", row.id))):
        assert "\x1b" not in said and "\\x1b" in said
