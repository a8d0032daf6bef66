"""Benchmark: `cycle open` over a province's roster — one report per unit, its audit event and a kickoff
mail with the unit's drafting kit (.docx) to its drafter — against the database alone writing the same rows.

Setup (not timed): a roster of N reporting units (bench.replies_imap's: each with its own drafter) imported.
Timed: `open_cycle` for 2026 and its commit, with SQL statements counted by a `before_cursor_execute`
listener (each executemany page counts) and the peak resident memory above the start. Checked, or the
benchmark fails: N reports, N kickoff mails, every mail carrying a .docx that python-docx opens and that
names its own unit; a second `open_cycle` creates nothing and writes no mail. Baseline in the same run: the
same reports, audit events and mails inserted as ready values (Core) in a transaction rolled back.

SQLite (a file in a temporary directory) and, when reachable, PostgreSQL (a fresh schema, dropped after).
`python -m bench.cycle_open [N ...]` (default 1000 10000). Prints one JSON object, kept in bench/results.json.
`python -m bench.cycle_open --profile [N]` prints the top functions of `open_cycle` under cProfile (SQLite,
N = 2000) instead.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
import tempfile
import time
from email import message_from_bytes, policy
from pathlib import Path

import docx
from sqlalchemy import func, insert
from sqlmodel import Session, select

from bench import Statements, fail, floor, measured, profiled, record
from bench.replies_imap import write_roster
from core.settings import load_settings
from models.db import get_engine, upgrade_database
from models.tables import AuditEvent, Cycle, OutboxMessage, Report
from services.cycle import open_cycle
from services.roster import import_roster
from tests.pg import postgres_schema, reachable_postgres

SIZES = (1000, 10000)
YEAR = 2026
SAMPLED = 50  # kickoff mails whose attachment is opened and checked (spread over the roster)


def kit_text(raw: bytes) -> tuple[str, str]:
    """(the attachment's filename, the text of the .docx it carries)."""
    msg = message_from_bytes(raw, policy=policy.default)
    part = next(p for p in msg.iter_attachments() if p.get_content_type().endswith("document"))
    document = docx.Document(io.BytesIO(part.get_content()))
    return part.get_filename(), "\n".join(p.text for p in document.paragraphs)


def write_floor(engine) -> float:
    """The same reports (in a cycle of another year), audit events and mails, inserted as ready values."""
    with Session(engine) as session:
        rows = {table: [dict(row._mapping) for row in session.execute(select(table.__table__))]
                for table in (Report, AuditEvent, OutboxMessage)}
    for table_rows in rows.values():
        for row in table_rows:
            del row["id"]
    for row in rows[OutboxMessage]:
        row.update(idempotency_key=f"floor:{row['idempotency_key']}", message_id=f"<floor.{row['message_id'][1:]}")

    def write(session: Session) -> None:
        cycle = session.execute(insert(Cycle).values(year=YEAR + 50, policy={}).returning(Cycle.id)).scalar_one()
        for row in rows[Report]:
            row.update(cycle_id=cycle, ref=f"F{row['ref']}")
        for table, table_rows in rows.items():
            for start in range(0, len(table_rows), 500):
                session.execute(insert(table.__table__), table_rows[start:start + 500])

    return floor(engine, write)


def imported_roster(url: str, work: Path, count: int):
    """(the settings, the engine) of a database holding the roster of `count` units, imported."""
    os.environ.update(REPORTCHAIN_DATABASE_URL=url, REPORTCHAIN_MAIL_FOLDER=str(work / "mail"),
                      REPORTCHAIN_SMTP_HOST="")
    upgrade_database(url)
    engine = get_engine(url)
    roster = work / "roster.csv"
    write_roster(roster, count)
    with Session(engine) as session:
        import_roster(session, roster)
        session.commit()
    return load_settings(), engine


def open_case(database: str, url: str, work: Path, count: int) -> dict:
    started = time.perf_counter()
    settings, engine = imported_roster(url, work, count)
    setup_seconds = time.perf_counter() - started

    statements = Statements(engine)
    try:
        with Session(engine, expire_on_commit=False) as session:
            def run() -> int:
                created = len(open_cycle(session, settings, YEAR))
                session.commit()
                return created

            created, seconds, peak_mb = measured(run)
            count_statements, kinds = statements.take()
            again = run()
            statements.take()
        statements.close()
        with Session(engine) as session:
            reports = session.exec(select(func.count()).select_from(Report)).one()
            mails = session.exec(select(func.count()).select_from(OutboxMessage)
                                 .where(OutboxMessage.kind == "kickoff")).one()
            ids = session.exec(select(OutboxMessage.id).where(OutboxMessage.kind == "kickoff")
                               .order_by(OutboxMessage.id)).all()
            sample = session.exec(select(OutboxMessage).where(
                OutboxMessage.id.in_(ids[::max(1, len(ids) // SAMPLED)]))).all()
            names = {report.id: f"第{report.unit_id - 1:04d}号单位" for report in session.exec(select(Report))}
        if (created, reports, mails, again) != (count, count, count, 0):
            fail("cycle_open", f"{database} N={count}: created {created} reports (stored {reports}) and "
                 f"{mails} kickoff mails; the second open created {again}")
        for row in sample:
            filename, text = kit_text(row.raw)
            if names[row.report_id] not in text or names[row.report_id] not in filename:
                fail("cycle_open", f"{database} N={count}: the kit of report {row.report_id} ({filename}) does not "
                     f"name {names[row.report_id]}")
        floor_seconds = write_floor(engine)
    finally:
        get_engine(url).dispose()
    print(f"bench.cycle_open {database} N={count}: {seconds:.2f} s / {count_statements} statements "
          f"(database alone {floor_seconds:.2f} s; peak +{peak_mb:.0f} MB)", file=sys.stderr)
    return {
        "database": database,
        "units": count,
        "seconds": round(seconds, 3),
        "units_per_second": round(count / seconds, 1),
        "statements": count_statements,
        "statements_by_kind": kinds,
        "statements_per_unit": round(count_statements / count, 3),
        "baseline": "the same reports, audit events and kickoff mails inserted as ready values, rolled back",
        "baseline_seconds": round(floor_seconds, 3),
        "ratio": round(floor_seconds / seconds, 3),
        "peak_mb": round(peak_mb, 1),
        "kits_checked": len(sample),
        "setup_seconds": round(setup_seconds, 1),
    }


def main(sizes: tuple[int, ...] = SIZES) -> dict:
    started = time.perf_counter()
    runs = []
    for count in sizes:
        work = Path(tempfile.mkdtemp(prefix="reportchain-bench-"))
        try:
            runs.append(open_case("sqlite", f"sqlite:///{work / 'bench.db'}", work, count))
            base = reachable_postgres()
            if base is not None:
                with postgres_schema(base, prefix="bench") as url:
                    runs.append(open_case("postgresql", url, work, count))
            else:
                print("bench.cycle_open: PostgreSQL not reachable; SQLite only", file=sys.stderr)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return {
        "benchmark": "cycle_open",
        "data": "bench.replies_imap's roster: 1 county, N units each with its own drafter (one kickoff mail each)",
        "statements": "before_cursor_execute events: every cursor execution, each executemany/insertmanyvalues page",
        "runs": runs,
        "total_seconds": round(time.perf_counter() - started, 1),
        "machine": {"cpus": os.cpu_count()},
    }


def profile(count: int = 2000, top: int = 10) -> None:
    """cProfile of open_cycle for N units on SQLite: the top functions by cumulative time."""
    work = Path(tempfile.mkdtemp(prefix="reportchain-bench-"))
    url = f"sqlite:///{work / 'bench.db'}"
    try:
        settings, engine = imported_roster(url, work, count)
        with Session(engine, expire_on_commit=False) as session:
            profiled(lambda: open_cycle(session, settings, YEAR), f"open_cycle, N={count} units", top)
            session.commit()
    finally:
        get_engine(url).dispose()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--profile"]:
        profile(int(args[1]) if len(args) > 1 else 2000)
    else:
        record(main(tuple(int(a) for a in args) or SIZES))
