"""Benchmark: the outbox delivering N mails over SMTP to a local aiosmtpd sink (another process),
against a bare aiosmtplib loop over one connection sending the same messages in the same run.

Prints one JSON object and writes it into bench/results.json (a list, one object per benchmark).
Memory: peak traced allocations while delivering N/4, N/2 and N mails — flat means batching works.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import aiosmtplib
from sqlmodel import Session, select

from bench import record
from core.settings import load_settings
from models.db import get_engine, upgrade_database
from models.tables import OutboxMessage
from notifications.message import build_message, envelope
from notifications.outbox import deliver, new_message_id
from notifications.smtp import SmtpBackend

BODY = "您好！\n\n野鹤镇2026年度法治政府建设年度报告（第1稿）已提交，请您进行法律顾问审核。\n" * 8


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sink(port: int) -> subprocess.Popen:
    sink = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
                             "-c", "aiosmtpd.handlers.Sink"])
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return sink
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the SMTP sink did not start")


def fill_outbox(settings, count: int, offset: int) -> None:
    """Rows as enqueue writes them: rendered, with the message bytes built once."""
    with Session(get_engine(settings.database_url)) as session:
        for i in range(offset, offset + count):
            key = f"bench:{i}"
            row = OutboxMessage(
                idempotency_key=key, message_id=new_message_id("bench.example.gov.cn"), kind="review_prompt",
                to_addrs=f"审核人{i} <reviewer{i}@lvshi.example.cn>",
                subject=f"[#R-2026-{i % 1000:03d}] 请审核：年度报告",
                body_text=BODY, body_html=f"<p>{BODY}</p>")
            row.raw = build_message(settings, row).as_bytes()
            session.add(row)
        session.commit()


async def bare_loop(port: int, envelopes) -> None:
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False) as client:
        for e in envelopes:
            await client.sendmail(e.sender, e.recipients, e.data)


def main(count: int = 2000) -> dict:
    work = Path(tempfile.mkdtemp(prefix="reportchain-bench-"))
    port = free_port()
    os.environ.update(REPORTCHAIN_DATABASE_URL=f"sqlite:///{work / 'bench.db'}", REPORTCHAIN_SMTP_HOST="127.0.0.1",
                      REPORTCHAIN_SENT_JOURNAL=str(work / 'sent.journal'),
                      REPORTCHAIN_SMTP_PORT=str(port), REPORTCHAIN_SMTP_SECURITY="none")
    settings = load_settings()
    upgrade_database(settings.database_url)
    sink = start_sink(port)
    try:
        fill_outbox(settings, count, 0)
        with Session(get_engine(settings.database_url)) as session:
            envelopes = [envelope(settings, row) for row in session.exec(select(OutboxMessage)).all()]
        started = time.perf_counter()
        asyncio.run(bare_loop(port, envelopes))
        baseline = count / (time.perf_counter() - started)

        with Session(get_engine(settings.database_url), expire_on_commit=False) as session:
            started = time.perf_counter()
            delivered = deliver(session, settings, SmtpBackend(settings.smtp)).sent
            ours = count / (time.perf_counter() - started)
        assert delivered == count, delivered

        peaks = {}
        offset = count
        for n in (count // 4, count // 2, count):
            fill_outbox(settings, n, offset)
            offset += n
            with Session(get_engine(settings.database_url), expire_on_commit=False) as session:
                tracemalloc.start()
                deliver(session, settings, SmtpBackend(settings.smtp))
                peaks[n] = round(tracemalloc.get_traced_memory()[1] / 1024)
                tracemalloc.stop()
    finally:
        sink.terminate()
        sink.wait()
        get_engine(settings.database_url).dispose()
        shutil.rmtree(work, ignore_errors=True)
    return {
        "benchmark": "outbox_smtp_delivery",
        "messages": count,
        "concurrency": settings.smtp.concurrency,
        "reportchain_msgs_per_s": round(ours, 1),
        "baseline": "bare aiosmtplib sendmail loop over one connection, same stored messages",
        "baseline_msgs_per_s": round(baseline, 1),
        "ratio": round(ours / baseline, 3),
        "target_ratio": 0.8,
        "peak_traced_kib_by_count": peaks,
    }


if __name__ == "__main__":
    record(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
