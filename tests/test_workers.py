"""Production on one machine: a Prefect server whose own database is PostgreSQL, reportchain's tables on
PostgreSQL, and two process workers started in two directories (as on two hosts), both running intake,
delivery and the reminder sweep at the same moment. One worker's host is lost mid-delivery (every process
of it killed); the other carries on, a restarted worker catches up, and then every reply is applied once,
every mail reaches the relay once and every reminder is written once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from models.db import get_engine, upgrade_database
from models.tables import InboundMessage, InboundOutcome, OutboxMessage, Reminder, Report, ReviewRound
from notifications.outbox import LEASE
from services.cycle import open_cycle
from services.delivery import deliver_all
from services.roster import import_roster
from tests.conftest import SAMPLE_ROSTER, settings_for
from tests.imap_server import Dovecot, require_dovecot
from tests.pg import postgres_schema, reachable_postgres
from tests.prefect_server import POOL, PREFECT, Server, deploy_all, prefect_server, stop
from tests.replies_kit import prompt_of, reply_to, to_legal_review
from tests.smtp_server import Recorder
from tests.smtp_server import Server as Relay

pytestmark = pytest.mark.prefect

REVIEWED = 8  # of the sample county's 13 units: in legal review, each advisor replies 同意
SWEEP_AT = "2026-12-21T09:00:00+08:00"  # a working day with reminders due for every open item
FLOWS = ("sweep-reminders", "fetch-replies", "deliver-outbox")
RUN_TIMEOUT = 60
FINAL = {"COMPLETED", "FAILED", "CANCELLED", "CRASHED"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A Prefect server on a fresh PostgreSQL database of its own (dropped afterwards)."""
    import psycopg

    base = reachable_postgres()
    if base is None:
        pytest.skip("PostgreSQL is not reachable: the production set-up needs it")
    name = f"prefect_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        home = tmp_path_factory.mktemp("prefect-pg")
        with prefect_server(home, f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}") as started:
            yield started
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Gate:
    """Holds one worker's mails at the relay: from the `at`-th recipient on, every RCPT waits until the
    gate opens, so that the worker is killed while it waits for the relay, never between the relay's
    "250" and its own record of the mail."""

    at: int
    reached: threading.Event = field(default_factory=threading.Event)
    opened: threading.Event = field(default_factory=threading.Event)


@dataclass
class GatedRecorder(Recorder):
    gate: Gate | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.gate is not None and self.rcpt_calls + 1 >= self.gate.at:
            self.gate.reached.set()
            while not self.gate.opened.is_set():
                await asyncio.sleep(0.02)
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)


def process_tree(root: int) -> list[int]:
    """`root` and every process descending from it (a flow run's process leads a session of its own)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(parents.get(pid, []))
    return tree


def lose_host(worker: subprocess.Popen) -> int:
    """SIGKILL the worker and every flow run it started, as a host that loses power; how many processes."""
    tree = process_tree(worker.pid)
    for pid in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    worker.wait(timeout=10)
    return len(tree)


def start_worker(server: Server, queue: str, cwd: Path, env: dict[str, str]) -> subprocess.Popen:
    cwd.mkdir(exist_ok=True)
    log = (cwd / f"worker-{queue}-{time.monotonic_ns()}.log").open("wb")
    return subprocess.Popen([str(PREFECT), "worker", "start", "--pool", POOL, "--work-queue", queue],
                            cwd=cwd, env=server.env(**env), stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)


def create_runs(server: Server, deployed: dict, queue: str, names=FLOWS) -> dict[str, str]:
    runs = {}
    for name in names:
        body = {"work_queue_name": queue}
        if name == "sweep-reminders":
            body["parameters"] = {"now": SWEEP_AT}
        runs[name] = server.post(f"/deployments/{deployed[name]['id']}/create_flow_run", body)["id"]
    return runs


def states(server: Server, runs: dict[str, str]) -> dict[str, str]:
    return {name: server.get(f"/flow_runs/{rid}")["state"]["type"] for name, rid in runs.items()}


def wait_final(server: Server, runs: dict[str, str], logs: list[Path]) -> dict[str, str]:
    deadline = time.monotonic() + RUN_TIMEOUT
    while not set(states(server, runs).values()) <= FINAL:
        if time.monotonic() > deadline:
            pytest.fail(f"runs not finished after {RUN_TIMEOUT} s: {states(server, runs)}\n"
                        + "\n".join(p.read_text(errors="replace")[-4000:] for p in logs))
        time.sleep(0.5)
    return states(server, runs)


def test_two_workers_at_once_one_lost_mid_run_apply_send_and_remind_exactly_once(
        server, tmp_path, monkeypatch):
    require_dovecot()
    base = reachable_postgres()
    deployed = deploy_all(server)
    with postgres_schema(base, "w") as database_url, Dovecot() as imap:
        upgrade_database(database_url)
        settings = settings_for(database_url, tmp_path, monkeypatch)
        with Session(get_engine(database_url), expire_on_commit=False) as session:
            import_roster(session, SAMPLE_ROSTER)
            session.commit()
            open_cycle(session, settings, 2026)
            session.commit()
            reports = session.exec(select(Report).order_by(Report.id)).all()[:REVIEWED]
            for report in reports:
                prompt = prompt_of(session, to_legal_review(session, settings, report))
                imap.append(reply_to(prompt, prompt.to_addrs, "同意。"))

        received, lock = [], threading.Lock()
        gate = Gate(at=1)
        relays = {"a": Relay(GatedRecorder(received=received, lock=lock, gate=gate)).start(),
                  "b": Relay(GatedRecorder(received=received, lock=lock, delay=0.03)).start()}  # b: a slow relay
        env = {"REPORTCHAIN_DATABASE_URL": database_url,
               "REPORTCHAIN_MAIL_FROM": settings.mail_from, "REPORTCHAIN_MAIL_FROM_NAME": settings.mail_from_name,
               "REPORTCHAIN_SMTP_HOST": "127.0.0.1", "REPORTCHAIN_SMTP_SECURITY": "none",
               "REPORTCHAIN_SMTP_CONCURRENCY": "1",
               "REPORTCHAIN_IMAP_HOST": imap.host, "REPORTCHAIN_IMAP_PORT": str(imap.port),
               "REPORTCHAIN_IMAP_SECURITY": "none", "REPORTCHAIN_IMAP_USER": imap.user,
               "REPORTCHAIN_IMAP_PASSWORD": imap.password,
               "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "0"}
        hosts = {q: tmp_path / f"host-{q}" for q in "ab"}
        workers: list[subprocess.Popen] = []
        try:
            for q in "ab":
                workers.append(start_worker(server, q, hosts[q],
                                            {**env, "REPORTCHAIN_SMTP_PORT": str(relays[q].port)}))
            logs = lambda: sorted(p for h in hosts.values() for p in h.glob("*.log"))  # noqa: E731

            # A takes the three flows first and holds the mails it claimed at its relay; B runs all three
            # while A is stuck there, and A's host is lost in the middle of B's runs.
            runs = {"a": create_runs(server, deployed, "a")}
            if not gate.reached.wait(RUN_TIMEOUT):
                pytest.fail(f"worker A sent no mail: {states(server, runs['a'])}")
            runs["b"] = create_runs(server, deployed, "b")
            deadline = time.monotonic() + RUN_TIMEOUT
            while "PENDING" in (b := set(states(server, runs["b"]).values())) or "SCHEDULED" in b:
                assert time.monotonic() < deadline, f"worker B never started: {b}"
                time.sleep(0.2)
            time.sleep(0.5)
            killed = lose_host(workers[0])
            gate.opened.set()
            before = states(server, runs["a"])
            after_b = wait_final(server, runs["b"], logs())

            # What Prefect does once the lost runs' heartbeats stop (or an operator in the UI): the runs are
            # marked Crashed, which frees the deployments' concurrency slots they held.
            for rid in runs["a"].values():
                if server.get(f"/flow_runs/{rid}")["state"]["type"] not in FINAL:
                    server.post(f"/flow_runs/{rid}/set_state",
                                {"state": {"type": "CRASHED", "name": "Crashed", "message": "host lost"}})
            # A is restarted on its host and catches up.
            workers.append(start_worker(server, "a", hosts["a"],
                                        {**env, "REPORTCHAIN_SMTP_PORT": str(relays["b"].port)}))
            again = create_runs(server, deployed, "a", ("fetch-replies", "deliver-outbox"))
            after_restart = wait_final(server, again, logs())
        finally:
            for worker in workers:
                stop(worker)
            for relay in relays.values():
                relay.stop()

        with Session(get_engine(database_url), expire_on_commit=False) as session:
            # The mails A had claimed when it was lost wait out their lease (they might have reached the
            # relay); the next delivery after it sends them. A's sweep ran on the sweep's clock, so its
            # claims end a lease after that moment.
            leased = session.exec(select(func.count()).select_from(OutboxMessage)
                                  .where(OutboxMessage.status == "pending")).one()
            relays["b"] = Relay(GatedRecorder(received=received, lock=lock)).start()
            monkeypatch.setenv("REPORTCHAIN_SMTP_HOST", "127.0.0.1")
            monkeypatch.setenv("REPORTCHAIN_SMTP_PORT", str(relays["b"].port))
            monkeypatch.setenv("REPORTCHAIN_SMTP_SECURITY", "none")
            try:
                late = deliver_all(session, settings_for(database_url, tmp_path, monkeypatch),
                                   datetime.fromisoformat(SWEEP_AT) + LEASE + timedelta(seconds=1))
            finally:
                relays["b"].stop()

            counts = summary(session, received)
        facts = (f"killed {killed} processes of worker A; A's runs when lost {before}; B's runs {after_b}; "
                 f"the restarted A's runs {after_restart}; {leased} mails waited out the lease, "
                 f"then {late['sent']} sent; counts {counts}")
        print(facts)
        assert counts["replies stored"] == REVIEWED, facts
        assert counts["replies applied"] == Counter({InboundOutcome.APPLIED: REVIEWED}), facts
        assert counts["rounds decided"] == REVIEWED and counts["in committee review"] == REVIEWED, facts
        assert counts["mails at the relay more than once"] == [], facts
        assert counts["outbox rows"] == counts["sent once"] + counts["cancelled, never sent"], facts
        assert counts["sent but not at the relay"] == counts["at the relay but not sent"] == 0, facts
        assert counts["reminder mails"] > 0 and counts["reminder recipients"] == counts["reminder mails"], facts
        assert counts["reminder lines"] == counts["distinct reminder lines"], facts
        assert counts["receipts"] == REVIEWED, facts


def summary(session: Session, received: list) -> dict:
    """What a coordinator could check: replies, rounds, stages, every outbox row against the relay."""
    session.expire_all()
    inbound = session.exec(select(InboundMessage)).all()
    outbox = session.exec(select(OutboxMessage)).all()
    at_relay = Counter(r.message_id for r in received)
    sent = {m.message_id for m in outbox if m.status == "sent"}
    reminders = [m for m in outbox if m.kind == "reminder"]
    lines = session.exec(select(Reminder.item, Reminder.step, Reminder.day, Reminder.person_id)).all()
    return {
        "replies stored": len(inbound),
        "replies applied": Counter(m.outcome for m in inbound),
        "rounds decided": session.exec(select(func.count()).select_from(ReviewRound)
                                       .where(ReviewRound.decision.is_not(None))).one(),
        "in committee review": session.exec(select(func.count()).select_from(Report)
                                            .where(Report.stage == "committee_review")).one(),
        "outbox rows": len(outbox),
        "sent once": sum(at_relay[mid] == 1 for mid in sent),
        "cancelled, never sent": sum(m.status == "cancelled" and not at_relay[m.message_id] for m in outbox),
        "mails at the relay more than once": [mid for mid, n in at_relay.items() if n > 1],
        "sent but not at the relay": len(sent - set(at_relay)),
        "at the relay but not sent": len(set(at_relay) - sent),
        "reminder mails": len(reminders),
        "reminder recipients": len({m.to_addrs for m in reminders}),
        "reminder lines": len(lines),
        "distinct reminder lines": len(set(lines)),
        "receipts": sum(m.kind == "receipt" for m in outbox),
    }
