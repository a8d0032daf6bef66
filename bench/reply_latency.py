"""Benchmark: how long a reviewer waits for the receipt while `replies watch` runs — from the reply's APPEND
into a real Dovecot to the receipt arriving at a real SMTP server (aiosmtpd) — median and worst of N.

Setup (not timed): N reporting units with an open legal-review round each (bench.replies_imap.prepare), the
prompts delivered, the watcher started in a thread and idling (IMAP IDLE). Timed, one reply after another:
APPEND the reply, then wait until its receipt (threaded under the prompt, as the reply is) has been accepted
by the SMTP server. Baseline in the same run: the bare IDLE wake-up, a plain IMAPClient idling on another
folder, from APPEND to its EXISTS: the figure shows what the watcher adds to what the server takes. The
target is a worst case under 30 s (issue 17); every reply must be applied, or the benchmark fails.

Needs Dovecot and root, like the IMAP tests. Prints one JSON object and writes it into bench/results.json.
`python -m bench.reply_latency [N]`, N = 50 by default.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from email import message_from_bytes
from pathlib import Path

from sqlalchemy import func
from sqlmodel import Session, select

from bench import fail, record
from bench.replies_imap import bench_settings, prepare
from models.db import get_engine
from models.tables import Report
from services.delivery import deliver_all
from services.watch import watch
from tests.imap_server import DOVECOT, Dovecot
from tests.smtp_server import Recorder, Server

TARGET_WORST = 30.0  # seconds (issue 17)
GIVE_UP = 120.0  # seconds to wait for one receipt before the benchmark fails


def receipt_seen(smtp: Recorder, prompt_id: str, from_index: int) -> bool:
    """Whether a receipt threaded under the prompt (as the reply was) has arrived since `from_index`."""
    for received in smtp.snapshot()[from_index:]:
        headers = message_from_bytes(received.raw_headers + b"\r\n\r\n")
        if (headers.get("In-Reply-To") or "").strip() == prompt_id:
            return True
    return False


def idle_wakeups(dovecot: Dovecot, raw: bytes, count: int) -> list[float]:
    """Seconds from APPEND to the EXISTS seen by a bare IMAPClient in IDLE, `count` times."""
    dovecot.create_folder("baseline")
    seconds = []
    with dovecot.client() as client:
        client.select_folder("baseline")
        for _ in range(count):
            client.idle()
            started = time.perf_counter()
            dovecot.append(raw, "baseline")
            while not any(len(r) > 1 and r[1] == b"EXISTS" for r in client.idle_check(timeout=GIVE_UP)):
                pass
            seconds.append(time.perf_counter() - started)
            client.idle_done()
    return seconds


def main(count: int = 50) -> dict:
    if not DOVECOT.exists() or os.geteuid() != 0:
        fail("reply_latency", f"needs Dovecot ({DOVECOT}; apt-get install -y dovecot-imapd) and root")
    work = Path(tempfile.mkdtemp(prefix="reportchain-bench-"))
    database_url = f"sqlite:///{work / 'bench.db'}"
    smtp = Recorder()
    server = Server(smtp).start()
    try:
        with Dovecot() as dovecot:
            settings = bench_settings(work, dovecot, REPORTCHAIN_SMTP_HOST="127.0.0.1",
                                      REPORTCHAIN_SMTP_PORT=str(server.port), REPORTCHAIN_SMTP_SECURITY="none")
            replies = prepare(settings, work, count)
            with Session(get_engine(settings.database_url)) as session:
                deliver_all(session, settings)  # the prompts: the receipts are what is timed

            baseline = idle_wakeups(dovecot, replies[0], min(count, 20))
            stop, rounds = threading.Event(), []
            watcher = threading.Thread(target=watch, args=(settings, stop, rounds.append))
            watcher.start()
            try:
                latencies = []
                for raw in replies:
                    prompt_id = message_from_bytes(raw)["In-Reply-To"].strip()
                    before = len(smtp.snapshot())
                    time.sleep(0.2)  # the watcher is back in IDLE after the previous round
                    started = time.perf_counter()
                    dovecot.append(raw)
                    while not receipt_seen(smtp, prompt_id, before):
                        if time.perf_counter() - started > GIVE_UP:
                            fail("reply_latency", f"no receipt under {prompt_id} within {GIVE_UP:.0f} s")
                        time.sleep(0.005)
                    latencies.append(time.perf_counter() - started)
            finally:
                stop.set()
                watcher.join(60)
            with Session(get_engine(settings.database_url)) as session:
                stages = Counter(dict(session.exec(select(Report.stage, func.count()).group_by(Report.stage)).all()))
    finally:
        server.stop()
        get_engine(database_url).dispose()
        shutil.rmtree(work, ignore_errors=True)

    problems = [r.problem for r in rounds if r.problem]
    if stages != Counter(committee_review=count) or problems:
        fail("reply_latency", f"not every reply was applied: stages {dict(stages)}, problems {problems[:3]}")
    median, worst = statistics.median(latencies), max(latencies)
    idle_median = statistics.median(baseline)
    print(f"bench.reply_latency N={count}: reply to receipt median {median:.2f} s, worst {worst:.2f} s "
          f"(bare IDLE wake-up median {idle_median * 1000:.0f} ms; target worst < {TARGET_WORST:.0f} s)",
          file=sys.stderr)
    result = {
        "benchmark": "reply_latency",
        "replies": count,
        "median_seconds": round(median, 3),
        "worst_seconds": round(worst, 3),
        "target_worst_seconds": TARGET_WORST,
        "baseline": "bare IMAPClient in IDLE: APPEND to EXISTS, same Dovecot",
        "baseline_median_seconds": round(idle_median, 4),
        "ratio": round(median / idle_median, 1) if idle_median else None,
        "watch_rounds": len(rounds),
        "idle": all(r.pushes for r in rounds),
        "database": "sqlite",
        "machine": {"cpus": os.cpu_count()},
    }
    if worst >= TARGET_WORST or not result["idle"]:
        record(result)
        fail("reply_latency", f"worst {worst:.1f} s is not under {TARGET_WORST:.0f} s, or the watcher did not idle")
    return result


if __name__ == "__main__":
    record(main(int(sys.argv[1]) if len(sys.argv) > 1 else 50))
