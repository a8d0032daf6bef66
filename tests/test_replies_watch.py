"""`replies watch`: the mailbox kept open (IMAP IDLE on a real Dovecot), a reply taken in as it arrives and its
receipt delivered through a real SMTP server; polling when the server has no IDLE; a connection dropped while
idling; two watchers (or a watcher and the schedule) on one mailbox; a refused login that is said and retried."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time

import pytest
from sqlmodel import select

from models.db import get_engine
from models.tables import InboundMessage, InboundOutcome, OutboxMessage, Report
from services.delivery import deliver_all
from services.watch import WatchRound, watch
from tests.imap_server import Dovecot, require_dovecot
from tests.replies_kit import reply_to
from tests.smtp_server import Recorder, Server
from tests.test_replies_imap import ADVISOR, imap_settings

WAIT = 30  # seconds a test waits for what a watcher should do in well under one


@pytest.fixture
def database_url(tmp_path, sqlite_template):
    """SQLite only: the watcher runs the intake and delivery that test_replies_imap and test_smtp_delivery
    run on both databases (the mailbox lease and the outbox claim are the same SQL on each)."""
    path = tmp_path / "reportchain.db"
    shutil.copyfile(sqlite_template, path)
    yield f"sqlite:///{path}"
    get_engine(f"sqlite:///{path}").dispose()


@pytest.fixture
def smtp(monkeypatch):
    recorder = Recorder()
    server = Server(recorder).start()
    monkeypatch.setenv("REPORTCHAIN_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("REPORTCHAIN_SMTP_PORT", str(server.port))
    monkeypatch.setenv("REPORTCHAIN_SMTP_SECURITY", "none")
    yield recorder
    server.stop()


class Watcher:
    """`watch` in a thread, its rounds kept; stopped (and joined) on exit."""

    def __init__(self, settings, poll: float = 20) -> None:
        self.stop, self.rounds = threading.Event(), []
        self.thread = threading.Thread(target=watch, args=(settings, self.stop, self.rounds.append, poll))

    def __enter__(self) -> Watcher:
        self.thread.start()
        until(lambda: self.rounds, "the watcher's first round")
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(WAIT)
        assert not self.thread.is_alive(), "the watcher did not stop"


def until(condition, what: str):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if found := condition():
            return found
        time.sleep(0.05)
    raise AssertionError(f"not within {WAIT} s: {what}")


def receipts(session) -> list[OutboxMessage]:
    session.expire_all()
    return list(session.exec(select(OutboxMessage).where(OutboxMessage.kind == "receipt")))


def test_a_reply_is_applied_and_its_receipt_delivered_while_the_watcher_idles(
        session, settings, yehe, dovecot, smtp, monkeypatch):
    report, rnd, prompt = yehe
    settings = imap_settings(monkeypatch, dovecot)
    deliver_all(session, settings)
    with Watcher(settings) as watcher:
        assert watcher.rounds[0].pushes  # Dovecot offers IDLE: the watcher waits on it, it does not poll
        time.sleep(1.5)  # well into its IDLE
        dovecot.append(reply_to(prompt, ADVISOR, "同意。"))
        [receipt] = until(lambda: receipts(session), "the receipt")
        sent = until(lambda: [r for r in smtp.snapshot() if r.message_id == receipt.message_id], "the receipt sent")
        assert sent[0].rcpt_tos == ["chen.lawyer@lvshi-a.example.cn"]
    assert session.get(Report, report.id).stage == "committee_review"
    assert any("party-yehe@" in to for r in smtp.snapshot() for to in r.rcpt_tos)  # the next prompt went too


def test_without_idle_the_watcher_polls(session, settings, yehe, smtp, monkeypatch):
    require_dovecot()
    no_idle = "imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE UIDPLUS MOVE LITERAL+\n"
    with Dovecot(extra_config=no_idle) as server:
        report, rnd, prompt = yehe
        settings = imap_settings(monkeypatch, server)
        with Watcher(settings, poll=0.5) as watcher:
            server.append(reply_to(prompt, ADVISOR, "同意"))
            until(lambda: receipts(session), "the receipt")
            assert not any(r.pushes for r in watcher.rounds)
    assert session.get(Report, report.id).stage == "committee_review"


def test_a_connection_dropped_while_idling_is_opened_again_and_nothing_is_missed(
        session, settings, yehe, dovecot, smtp, monkeypatch):
    report, rnd, prompt = yehe
    settings = imap_settings(monkeypatch, dovecot)
    with Watcher(settings):
        time.sleep(1.5)
        assert dovecot.drop_connections() == 1  # the watcher's one connection, in IDLE
        dovecot.append(reply_to(prompt, ADVISOR, "同意"))
        until(lambda: receipts(session), "the receipt after the reconnection")
    assert session.get(Report, report.id).stage == "committee_review"


def test_two_watchers_on_one_mailbox_apply_each_reply_once_and_send_one_receipt(
        session, settings, yehe, dovecot, smtp, monkeypatch):
    report, rnd, prompt = yehe
    settings = imap_settings(monkeypatch, dovecot)
    with Watcher(settings), Watcher(settings):
        time.sleep(1.5)
        dovecot.append(reply_to(prompt, ADVISOR, "同意"))
        [receipt] = until(lambda: receipts(session), "the receipt")
        until(lambda: [r for r in smtp.snapshot() if r.message_id == receipt.message_id], "the receipt sent")
        time.sleep(2)  # the other watcher's round, woken by the same mail, has run too
    session.expire_all()
    assert [m.outcome for m in session.exec(select(InboundMessage))] == [InboundOutcome.APPLIED]
    assert len(receipts(session)) == 1
    assert sum(r.message_id == receipt.message_id for r in smtp.snapshot()) == 1


def test_a_refused_login_is_reported_and_tried_again_without_stopping(settings, monkeypatch):
    require_dovecot()
    with Dovecot(extra_config="auth_failure_delay = 0\n") as server:  # Dovecot's 2 s for a wrong password
        settings = imap_settings(monkeypatch, server, password="wrong")
        watcher = Watcher(settings, poll=0.2)
        with watcher:
            until(lambda: len(watcher.rounds) >= 2, "a second try")
    assert all(isinstance(r, WatchRound) and "login refused" in r.problem for r in watcher.rounds)
    assert [r.pause for r in watcher.rounds[:3]] == [0.2, 0.4, 0.8][:len(watcher.rounds[:3])]  # pauses grow


def test_the_command_says_what_it_watches_and_stops_on_sigterm(settings, dovecot, monkeypatch, tmp_path):
    imap_settings(monkeypatch, dovecot)
    command = [os.path.join(os.path.dirname(os.sys.executable), "reportchain"), "replies", "watch"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                               env={**os.environ, "COLUMNS": "200"})
    try:
        until(lambda: "Login: user=<" in dovecot.log() or process.poll() is not None, "the command's IMAP login")
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=WAIT)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "正在守候回复邮箱" in out and "IMAP IDLE" in out and "已停止守候回复邮箱" in out
    assert "Traceback" not in err
