"""An intake killed mid-run frees its mailbox at once on PostgreSQL: the mailbox's advisory lock lives on the
intake's own connection, and goes with it. A real intake process (Dovecot, PostgreSQL) is stopped in the
middle of a batch — some replies processed, nothing of the batch committed — while a second intake is
refused; the first is SIGKILLed, and the next intake runs at once and applies every reply exactly once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

from sqlmodel import Session, func, select

from core.settings import PROJECT_ROOT, load_settings
from models.db import get_engine
from models.tables import InboundMessage, InboundOutcome, MailboxState, OutboxMessage, Report, ReviewRound
from notifications.mailbox import opened_inbox
from services.cycle import open_cycle
from services.replies import LEASE, intake
from tests.conftest import POSTGRESQL_ONLY
from tests.replies_kit import prompt_of, reply_to, to_legal_review

REPLIES = 6
PAUSE_AFTER = 3  # messages processed (not committed) when the intake is killed
AT_ONCE = 10  # seconds: what "at once" allows a loaded machine, against the lease's 600

# A real intake in its own process, stopped after PAUSE_AFTER messages of the batch until it is killed.
PAUSING_INTAKE = """
import pathlib, sys, time
import services.replies as replies
from sqlmodel import Session
from core.settings import load_settings
from models.db import get_engine
from notifications.mailbox import ImapInbox

marker, after = pathlib.Path(sys.argv[1]), int(sys.argv[2])
summarise, done = replies.summarise, []

def pausing(*args, **kwargs):
    summarise(*args, **kwargs)
    done.append(1)
    if len(done) == after:
        marker.write_text("paused")
        time.sleep(600)

replies.summarise = pausing
settings = load_settings()
with Session(get_engine(settings.database_url), expire_on_commit=False) as session:
    replies.intake(session, settings, ImapInbox(settings.imap))
"""


def take_in(session, settings):
    with opened_inbox(settings) as inbox:
        return intake(session, settings, inbox)


@POSTGRESQL_ONLY  # SQLite keeps the lease: a killed intake holds the mailbox for up to 10 minutes
def test_an_intake_killed_mid_batch_frees_the_mailbox_at_once_and_nothing_is_applied_twice(
        settings, session, county, dovecot, monkeypatch, tmp_path):
    for name, value in {"HOST": dovecot.host, "PORT": str(dovecot.port), "SECURITY": "none",
                        "USER": dovecot.user, "PASSWORD": dovecot.password, "TIMEOUT": "10"}.items():
        monkeypatch.setenv(f"REPORTCHAIN_IMAP_{name}", value)
    settings = load_settings()
    open_cycle(session, settings, 2026)
    session.commit()
    for report in session.exec(select(Report).order_by(Report.id)).all()[:REPLIES]:
        prompt = prompt_of(session, to_legal_review(session, settings, report))
        dovecot.append(reply_to(prompt, prompt.to_addrs, "同意。"))

    marker = tmp_path / "paused"
    log = (tmp_path / "intake.log").open("wb")
    first = subprocess.Popen([sys.executable, "-c", PAUSING_INTAKE, str(marker), str(PAUSE_AFTER)],
                             cwd=PROJECT_ROOT, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert first.poll() is None, (tmp_path / "intake.log").read_text()
            assert time.monotonic() < deadline, "the intake never reached the middle of its batch"
            time.sleep(0.05)

        # Two intakes never both run: the second is refused while the first holds the mailbox.
        second = take_in(session, settings)
        assert second.busy_since is not None and second.fetched == 0 and not second.outcomes

        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
        log.close()

    killed_at = time.monotonic()
    session.expire_all()
    lease = session.exec(select(MailboxState)).one()
    assert lease.locked_until is not None  # the dead intake's lease is still there: it would hold for 10 min
    waited = 0.0
    while (after := take_in(session, settings)).busy_since is not None:  # PostgreSQL ends the dead backend
        waited = time.monotonic() - killed_at
        assert waited < AT_ONCE < LEASE.total_seconds(), f"the mailbox was still held {waited:.1f} s after the kill"
        time.sleep(0.05)
    print(f"next intake ran {time.monotonic() - killed_at:.2f} s after the kill; {dict(after.outcomes)}")

    session.expire_all()
    inbound = session.exec(select(InboundMessage)).all()
    assert Counter(m.outcome for m in inbound) == Counter({InboundOutcome.APPLIED: REPLIES})
    decided = session.exec(select(func.count()).select_from(ReviewRound)
                           .where(ReviewRound.decision.is_not(None))).one()
    receipts = session.exec(select(func.count()).select_from(OutboxMessage)
                            .where(OutboxMessage.kind == "receipt")).one()
    assert decided == receipts == REPLIES
    assert session.exec(select(MailboxState)).one().locked_until is None
    assert take_in(session, settings).fetched == 0  # and nothing is fetched again


@POSTGRESQL_ONLY
def test_an_intake_on_postgresql_leaves_no_lock_behind(settings, session, county, dovecot, monkeypatch):
    for name, value in {"HOST": dovecot.host, "PORT": str(dovecot.port), "SECURITY": "none",
                        "USER": dovecot.user, "PASSWORD": dovecot.password}.items():
        monkeypatch.setenv(f"REPORTCHAIN_IMAP_{name}", value)
    settings = load_settings()
    for _ in range(3):
        assert take_in(session, settings).busy_since is None
    with Session(get_engine(settings.database_url)) as other:
        held = other.connection().exec_driver_sql(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid <> pg_backend_pid()"
            " AND classid = 1919118690").scalar()
    assert held == 0
