"""Benchmark: reviewers' replies taken in from a real Dovecot over IMAP — fetch, store, parse, match and
apply — against a bare IMAPClient fetch of the same messages in the same run.

Setup (not timed): a generated roster of N reporting units (each with its own drafter and approval
contact, legal advisors shared by ten law firms), the 2026 cycle, a draft submitted for every report
(so each has an open legal-review round and a prompt in the outbox), a Dovecot with one reply per
round ("同意。", from the round's advisor, QQ Mail style, alternately UTF-8 and GBK) appended over one
connection. Timed: the bare fetch (connect, login, select, search, BODY.PEEK[] in reportchain's batch
size), `read_reply` alone over the same bytes, and `intake` (each approval commits the decision, a
receipt and the committee prompt; each batch is flagged \\Seen with one STORE), with the SQL statements it
takes per reply. Every report must end in
committee_review, or the benchmark fails instead of printing a number.

Needs Dovecot (apt-get install -y dovecot-imapd) and root, like the IMAP tests.
Prints one JSON object and writes it into bench/results.json (a list, one object per benchmark).
`python -m bench.replies_imap [N]`, N = 1000 by default.
"""

from __future__ import annotations

import csv
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from imapclient import IMAPClient
from sqlalchemy import func
from sqlmodel import Session, select

from bench import Statements, fail, measured, record
from core.settings import load_settings
from documents.reading import read_draft
from models.db import get_engine, upgrade_database
from models.tables import InboundOutcome, Person, Report
from notifications.mailbox import BATCH_MESSAGES, ImapInbox
from notifications.reply import read_reply
from services.cycle import open_cycle
from services.drafts import submit_draft
from services.replies import intake
from services.roster import import_roster
from services.stages import open_round_of
from tests.drafts import report_text
from tests.imap_server import DOVECOT, Dovecot
from tests.replies_kit import prompt_of, reply_to

FIRMS = 10
COMMIT_EVERY = 100
REPLY = "同意。\n\n发自我的iPhone"
COLUMNS = ("code", "name", "kind", "parent", "approval_body", "filing_to", "filing_cc", "drafter",
           "legal_advisor", "approval_contact", "coordinator")


def write_roster(path: Path, count: int) -> None:
    """The county and `count` units; advisor i % FIRMS advises unit i."""
    county = "yfzx@qingshan.example.gov.cn"
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(COLUMNS)
        out.writerow(["qingshan", "青山县", "county", "", "", "", "", "", "", "", f"吴协调 <{county}>"])
        for i in range(1, count + 1):
            firm = i % FIRMS
            kind = "township" if i % 2 else "department"
            out.writerow([f"u{i:04d}", f"第{i:04d}号单位", kind, "qingshan", "党委会议",
                          "xianwei-ban@qingshan.example.gov.cn", county,
                          f"起草人{i:04d} <drafter@u{i:04d}.qingshan.example.gov.cn>",
                          f"律师{firm:02d} <lawyer@lvshi-{firm:02d}.example.cn>",
                          f"审批人{i:04d} <party@u{i:04d}.qingshan.example.gov.cn>",
                          f"吴协调 <{county}>"])


def prepare(settings, work: Path, count: int) -> list[bytes]:
    """Roster, cycle, one draft per report; the reply to every open round (raw bytes, in round order)."""
    roster = work / "roster.csv"
    write_roster(roster, count)
    with Session(get_engine(settings.database_url), expire_on_commit=False) as session:
        imported = import_roster(session, roster)
        assert imported["units"] == count + 1, imported
        session.commit()
        reports = open_cycle(session, settings, 2026)
        session.commit()
        assert len(reports) == count, len(reports)
        for n, report in enumerate(reports, 1):
            draft = report_text(f"第{n:04d}号单位").encode()  # passes the content check: goes to legal review
            submit_draft(session, settings, report, read_draft("draft.md", draft), "drafter@bench")
            if n % COMMIT_EVERY == 0:
                session.commit()
        session.commit()
        replies = []
        for n, report in enumerate(reports):
            rnd = open_round_of(session, report)
            assert rnd is not None and rnd.stage == "legal_review", (report.ref, report.stage)
            advisor = session.get(Person, rnd.reviewer_id)
            replies.append(reply_to(prompt_of(session, rnd), f"{advisor.name} <{advisor.email}>", REPLY,
                                    charset="utf-8" if n % 2 == 0 else "gbk"))
    return replies


def bench_settings(work: Path, dovecot: Dovecot, **smtp: str):
    """The settings of a benchmark run: a new SQLite database and mail folder in `work`, replies read from
    `dovecot`'s INBOX, mail sent as `smtp` says (environment variables); the database created."""
    os.environ.update(REPORTCHAIN_DATABASE_URL=f"sqlite:///{work / 'bench.db'}",
                      REPORTCHAIN_MAIL_FOLDER=str(work / "mail"),
                      REPORTCHAIN_IMAP_HOST=dovecot.host, REPORTCHAIN_IMAP_PORT=str(dovecot.port),
                      REPORTCHAIN_IMAP_SECURITY="none", REPORTCHAIN_IMAP_USER=dovecot.user,
                      REPORTCHAIN_IMAP_PASSWORD=dovecot.password, REPORTCHAIN_IMAP_FOLDER="INBOX",
                      REPORTCHAIN_IMAP_MARK="seen", **smtp)
    settings = load_settings()
    upgrade_database(settings.database_url)
    return settings


def append_all(dovecot: Dovecot, replies: list[bytes]) -> None:
    with dovecot.client() as client:
        for raw in replies:
            client.append("INBOX", raw)


def bare_fetch(dovecot: Dovecot) -> tuple[float, list[bytes]]:
    """Seconds for connect + login + select + search + BODY.PEEK[] in batches of BATCH_MESSAGES."""
    started = time.perf_counter()
    client = IMAPClient(dovecot.host, dovecot.port, ssl=False, timeout=60)
    client.login(dovecot.user, dovecot.password)
    client.select_folder("INBOX", readonly=True)
    uids = sorted(client.search(["UID", "1:*"]))
    raws = []
    for i in range(0, len(uids), BATCH_MESSAGES):
        batch = uids[i:i + BATCH_MESSAGES]
        bodies = client.fetch(batch, ["BODY.PEEK[]"])
        raws.extend(bodies[uid][b"BODY[]"] for uid in batch)
    client.logout()
    return time.perf_counter() - started, raws


def parse_only(raws: list[bytes]) -> tuple[float, Counter]:
    started = time.perf_counter()
    decisions = Counter(read_reply(raw).decision for raw in raws)
    return time.perf_counter() - started, decisions


def unseen(dovecot: Dovecot) -> int:
    with dovecot.client() as client:
        client.select_folder("INBOX", readonly=True)
        return len(client.search(["UNSEEN"]))


def main(count: int = 1000) -> dict:
    if not DOVECOT.exists() or os.geteuid() != 0:
        fail("replies_imap", f"needs Dovecot ({DOVECOT}; apt-get install -y dovecot-imapd) and root")
    work = Path(tempfile.mkdtemp(prefix="reportchain-bench-"))
    database_url = f"sqlite:///{work / 'bench.db'}"
    try:
        with Dovecot() as dovecot:
            settings = bench_settings(work, dovecot, REPORTCHAIN_SMTP_HOST="")

            started = time.perf_counter()
            replies = prepare(settings, work, count)
            append_all(dovecot, replies)
            setup_seconds = time.perf_counter() - started

            bare_seconds, raws = bare_fetch(dovecot)
            if len(raws) != count:
                fail("replies_imap", f"the bare fetch found {len(raws)} messages, not {count}")
            parse_seconds, decisions = parse_only(raws)
            if decisions != Counter(approve=count):
                fail("replies_imap", f"read_reply did not read every reply as approve: {dict(decisions)}")

            statements = Statements(get_engine(settings.database_url))
            with Session(get_engine(settings.database_url), expire_on_commit=False) as session:
                inbox = ImapInbox(settings.imap)
                try:
                    result, intake_seconds, intake_mb = measured(lambda: intake(session, settings, inbox))
                finally:
                    inbox.close()
                intake_statements, statement_kinds = statements.take()
                statements.close()
                stages = Counter(dict(session.exec(select(Report.stage, func.count()).group_by(Report.stage)).all()))
            left_unseen = unseen(dovecot)
    finally:
        get_engine(database_url).dispose()
        shutil.rmtree(work, ignore_errors=True)

    outcomes = dict(result.outcomes)
    if result.fetched != count or outcomes != {InboundOutcome.APPLIED: count} \
            or stages != Counter(committee_review=count) or left_unseen:
        fail("replies_imap", f"not every reply was applied: fetched {result.fetched}, outcomes {outcomes}, "
             f"report stages {dict(stages)}, {left_unseen} messages left unseen")
    bare_rate, intake_rate = count / bare_seconds, count / intake_seconds
    print(f"bench.replies_imap N={count}: intake {intake_rate:.0f} replies/s (bare fetch {bare_rate:.0f}/s, "
          f"reading alone {count / parse_seconds:.0f}/s; {intake_statements / count:.1f} SQL statements per reply; "
          f"peak +{intake_mb:.0f} MB)", file=sys.stderr)
    return {
        "benchmark": "replies_imap",
        "replies": count,
        "baseline": "bare IMAPClient: connect, login, select, search, BODY.PEEK[] in batches of "
                    f"{BATCH_MESSAGES}, same Dovecot messages",
        "bare_fetch_seconds": round(bare_seconds, 3),
        "bare_fetch_per_second": round(bare_rate, 1),
        "parse_seconds": round(parse_seconds, 3),
        "parse_per_second": round(count / parse_seconds, 1),
        "intake_seconds": round(intake_seconds, 3),
        "intake_per_second": round(intake_rate, 1),
        "ratio": round(intake_rate / bare_rate, 4),
        "read_only_baseline": "read_reply alone over the same fetched bytes",
        "ratio_to_read_only": round(intake_seconds and parse_seconds / intake_seconds, 4),
        "intake_peak_mb": round(intake_mb, 1),
        "intake_statements_per_reply": round(intake_statements / count, 1),
        "intake_statements": statement_kinds,
        "outcomes": outcomes,
        "bytes": sum(len(raw) for raw in raws),
        "setup_seconds": round(setup_seconds, 1),
        "database": "sqlite",
        "machine": {"cpus": os.cpu_count()},
    }


if __name__ == "__main__":
    record(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
