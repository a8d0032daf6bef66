"""Benchmark: the daily reminder sweep over a province — plan (read + ladder) and write (render + outbox +
Reminder rows) — and the re-run at the same moment, which must write nothing.

Setup (not timed), in bulk through SQLAlchemy Core: one county unit with its coordinator; N township units
(chain "default"), each with its own drafter, supervisor and approval contact, its coordinator one of 200
county-level coordinators (unit i → i % 200) and its legal advisor one of N / 20 advisors (20 units each);
the 2026 cycle on the default policy; N reports at the moment of the sweep: ~50 % drafting (no version),
~30 % legal_review and ~15 % committee_review (a version and an open round, opened on one of the 10 working
days before the sweep; committee reports also have their approved legal round), ~5 % filed; the kickoff
mail of every report and the prompt of every round already in the outbox (sent), as a cycle leaves them.

Timed, at 2026-12-21 09:00 Asia/Shanghai (the drafting due date): `plan_sweep` and `write_plan` (the
functions the sweep flow runs), and the same sweep again. SQL statements are counted with a
`before_cursor_execute` listener: every cursor execution, each page of an executemany / insertmanyvalues.
The mails and Reminder rows written must be those the generated data calls for (worked out independently,
see Expected) and the re-run must write 0 mails, or the benchmark fails at once. Planning must be a constant
number of statements whatever N and writing a few per batch, never one per row: when not, the figures are
still printed and recorded (they are the evidence), with the problems, and the benchmark then exits 1.

SQLite (a file in a temporary directory) and, when reachable, PostgreSQL (a fresh schema per size, dropped
afterwards, as tests/conftest.py does). Prints one JSON object and writes it into bench/results.json.
`python -m bench.sweep [N ...]` (default 2000 5000 20000); `python -m bench.sweep --profile [N]` prints the
top functions of `write_plan` under cProfile (SQLite, N = 2000) instead.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, text
from sqlmodel import Session, select

from bench import Statements, fail, floor, measured, profiled, record
from core.settings import load_settings
from models.calendar import WorkingCalendar
from models.db import get_engine, upgrade_database
from models.deadlines import default_policy
from models.reminders import MAX_LISTED, plan_sweep
from models.tables import (
    Assignment,
    Cycle,
    OutboxMessage,
    Person,
    Reminder,
    Report,
    ReportVersion,
    ReviewRound,
    Unit,
)
from services.reminders import BATCH, write_plan
from tests.pg import PG_DEFAULT, postgres_schema, reachable_postgres

SIZES = (2000, 5000, 20000)
TZ = "Asia/Shanghai"
NOW = datetime(2026, 12, 21, 9, 0, tzinfo=ZoneInfo(TZ))
COORDINATORS = 200
UNITS_PER_ADVISOR = 20
BUDGETS = {"legal_review": 5, "committee_review": 7}  # default_policy, working days
LOOKBACK = 10  # rounds opened on one of the 10 working days before the sweep
CHUNK = 5000  # rows per bulk insert
WRITE_STATEMENTS_PER_BATCH = 20  # generous: an outbox page or two, Reminder pages, nothing per row
DOMAIN = "qingshan.example.gov.cn"
DRAFT = "一、主要举措\n依法行政，严格规范公正文明执法。\n二、存在的不足\n基层执法力量不足。\n"
STAGES = ["drafting"] * 10 + ["legal_review"] * 6 + ["committee_review"] * 3 + ["filed"]  # 50/30/15/5 %


class Expected:
    """What the sweep should write, worked out from the generated data with the default policy's ladder
    (budgets in working days; reminders 3 and 1 working days before, on the day, 1/3/5 days late; the
    supervisor told from 1 day late; coordinators see what is late or due within 3 working days, at most
    MAX_LISTED lines each). Every
    date involved is an ordinary working day of December 2026, so working days are plain offsets."""

    def __init__(self) -> None:
        self.people, self.rows, self.watched = set(), Counter(), Counter()

    def item(self, actor: int, supervisor: int, watchers: tuple[int, ...], ahead: int) -> None:
        """An open item due `ahead` working days after the sweep (negative: late)."""
        if ahead in (3, 1, 0) or -ahead in (1, 3, 5):  # a ladder step today
            self.tell(actor, "actor")
            if ahead <= -1:
                self.tell(supervisor, "supervisor")
        if ahead <= 3:
            for person in watchers:
                self.people.add(person)
                self.watched[person] += 1

    def tell(self, person: int, role: str) -> None:
        self.people.add(person)
        self.rows[role] += 1

    def figures(self) -> dict:
        if self.watched:
            self.rows["coordinator"] = sum(min(n, MAX_LISTED) for n in self.watched.values())
        return {"mails": len(self.people), "reminder_rows": sum(self.rows.values()),
                "reminder_rows_by_role": dict(sorted(self.rows.items()))}


def at(day: date, hour: int) -> datetime:
    return datetime.combine(day, clock(hour), ZoneInfo(TZ)).astimezone(UTC)


def working_days_before(today: date, count: int) -> list[date]:
    """The `count` working days before `today`, nearest first."""
    cal, days, day = WorkingCalendar(), [], today
    while len(days) < count:
        day -= timedelta(days=1)
        if cal.is_working_day(day):
            days.append(day)
    return days


def bulk(session: Session, table, rows: list[dict]) -> None:
    for start in range(0, len(rows), CHUNK):
        session.execute(insert(table), rows[start:start + CHUNK])


def bench_message_id(key: str) -> str:
    """The bench's mails need ids it can point rounds at; the product's own are random."""
    return f"<{key.replace(':', '.')}@{DOMAIN}>"


def outbox_row(key: str, kind: str, report_id: int, to: str, subject: str, sent: datetime,
               message_id: str | None = None) -> dict:
    return {"idempotency_key": key, "message_id": message_id or bench_message_id(key), "kind": kind,
            "report_id": report_id, "to_addrs": to, "cc_addrs": "", "subject": subject, "body_text": subject,
            "body_html": f"<p>{subject}</p>",
            "raw": subject.encode(), "status": "sent", "attempts": 1, "created_at": sent, "sent_at": sent}


def populate(session: Session, count: int) -> dict:
    """The province at the moment of the sweep, inserted in bulk; returns how many of what."""
    rng = random.Random(2026)
    told = Expected()
    days = working_days_before(NOW.date(), LOOKBACK + 3)
    advisors = max(1, count // UNITS_PER_ADVISOR)
    people, units, assignments = [], [], []
    # ids: 1 the county coordinator, 2.. the coordinators, then the advisors, then 3 people per unit
    people.append({"id": 1, "name": "吴协调", "email": f"yfzx@{DOMAIN}"})
    coordinator_id = [2 + c for c in range(COORDINATORS)]
    people += [{"id": pid, "name": f"协调员{c:03d}", "email": f"xietiao{c:03d}@{DOMAIN}"}
               for c, pid in enumerate(coordinator_id)]
    advisor_id = [2 + COORDINATORS + a for a in range(advisors)]
    people += [{"id": pid, "name": f"律师{a:04d}", "email": f"lawyer{a:04d}@lvshi-{a % 50:02d}.example.cn"}
               for a, pid in enumerate(advisor_id)]
    units.append({"id": 1, "code": "qingshan", "name": "青山县", "kind": "county", "parent_id": None,
                  "chain": "default", "approval_body": "", "filing_to": "", "filing_cc": "", "timezone": TZ})
    assignments.append({"unit_id": 1, "person_id": 1, "role": "coordinator"})
    next_person = 2 + COORDINATORS + advisors
    staff = {}  # unit id → (drafter, supervisor, approval contact)
    for i in range(1, count + 1):
        unit_id, host = i + 1, f"u{i:05d}.{DOMAIN}"
        units.append({"id": unit_id, "code": f"u{i:05d}", "name": f"第{i:05d}号镇", "kind": "township",
                      "parent_id": 1, "chain": "default", "approval_body": "党委会议",
                      "filing_to": f"xianwei-ban@{DOMAIN}", "filing_cc": f"yfzx@{DOMAIN}", "timezone": TZ})
        drafter, supervisor, contact = next_person, next_person + 1, next_person + 2
        next_person += 3
        people += [{"id": drafter, "name": f"起草人{i:05d}", "email": f"drafter@{host}"},
                   {"id": supervisor, "name": f"分管领导{i:05d}", "email": f"leader@{host}"},
                   {"id": contact, "name": f"审批人{i:05d}", "email": f"party@{host}"}]
        staff[unit_id] = (drafter, supervisor, contact)
        assignments += [{"unit_id": unit_id, "person_id": drafter, "role": "drafter"},
                        {"unit_id": unit_id, "person_id": supervisor, "role": "supervisor"},
                        {"unit_id": unit_id, "person_id": contact, "role": "approval_contact"},
                        {"unit_id": unit_id, "person_id": advisor_id[i % advisors], "role": "legal_advisor"},
                        {"unit_id": unit_id, "person_id": coordinator_id[i % COORDINATORS], "role": "coordinator"}]
    opened = at(days[-1] - timedelta(days=30), 9)
    bulk(session, Person, people)
    bulk(session, Unit, units)
    bulk(session, Assignment, assignments)
    session.execute(insert(Cycle), [{"id": 1, "year": 2026, "policy": default_policy(2026).as_json(),
                                     "opened_at": opened}])

    reports, versions, rounds, outbox = [], [], [], []
    stages = Counter()
    content = DRAFT.encode()
    sha = hashlib.sha256(content).hexdigest()
    for i in range(1, count + 1):
        unit_id, report_id = i + 1, i
        drafter, supervisor, contact = staff[unit_id]
        stage = rng.choice(STAGES)
        stages[stage] += 1
        ref = f"R-2026-{i:05d}"
        reports.append({"id": report_id, "ref": ref, "unit_id": unit_id, "cycle_id": 1, "stage": stage,
                        "row_version": 1, "created_at": opened, "updated_at": opened})
        outbox.append(outbox_row(f"kickoff:{ref}:drafter@u{i:05d}.{DOMAIN}", "kickoff", report_id,
                                 f"drafter@u{i:05d}", f"[#{ref}] 2026年度法治政府建设年度报告编制启动", opened,
                                 bench_message_id(f"kickoff:{report_id}:{drafter}")))
        watchers = (1, coordinator_id[i % COORDINATORS])  # the county's coordinator and the unit's
        if stage == "drafting":
            told.item(drafter, supervisor, watchers, ahead=0)
            continue
        versions.append({"id": report_id, "report_id": report_id, "number": 1, "filename": "draft.md",
                         "content": content, "text": DRAFT, "sha256": sha, "findings": [],
                         "submitted_by": f"drafter@u{i:05d}", "submitted_at": opened})
        ago = rng.randrange(LOOKBACK)  # days[ago] is the day the open round was opened
        legal = {"report_id": report_id, "stage": "legal_review", "number": 1,
                 "reviewer_id": advisor_id[i % advisors], "version_id": report_id}
        if stage in BUDGETS:  # the round opened ago + 1 working days before the sweep
            reviewer = advisor_id[i % advisors] if stage == "legal_review" else contact
            told.item(reviewer, supervisor, watchers, ahead=BUDGETS[stage] - (ago + 1))
        if stage == "legal_review":
            rounds.append({**legal, "opened_at": at(days[ago], 10), "decision": None, "decided_at": None})
            continue
        rounds.append({**legal, "opened_at": at(days[ago + 3], 10), "decision": "approve",
                       "decided_at": at(days[ago], 9), "decided_via": "email"})
        if stage == "committee_review":
            rounds.append({"report_id": report_id, "stage": "committee_review", "number": 1, "reviewer_id": contact,
                           "version_id": report_id, "opened_at": at(days[ago], 10), "decision": None,
                           "decided_at": None})
        else:  # filed: approved by the committee too
            rounds.append({"report_id": report_id, "stage": "committee_review", "number": 1, "reviewer_id": contact,
                           "version_id": report_id, "opened_at": at(days[ago], 10), "decision": "approve",
                           "decided_at": at(days[ago], 15), "decided_via": "email"})
    for rid, rnd in enumerate(rounds, 1):
        rnd.update(id=rid, prompt_message_id=bench_message_id(f"prompt:{rid}"), reply_code_hash=None,
                   comment=None, decided_by=None, decided_via=rnd.get("decided_via"))
        outbox.append(outbox_row(f"prompt:{rid}", "review_prompt", rnd["report_id"], "reviewer",
                                 f"[#R-2026-{rnd['report_id']:05d}] 请审核", rnd["opened_at"]))
    bulk(session, Report, reports)
    bulk(session, ReportVersion, versions)
    bulk(session, ReviewRound, rounds)
    bulk(session, OutboxMessage, outbox)
    if session.get_bind().dialect.name == "postgresql":  # explicit ids: move the sequences past them
        for table in (Person, Unit, Assignment, Cycle, Report, ReportVersion, ReviewRound, OutboxMessage):
            name = table.__tablename__
            session.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                 f"(SELECT coalesce(max(id), 1) FROM {name}))"))
    session.commit()
    return {"people": len(people), "advisors": advisors, "coordinators": COORDINATORS + 1,
            "stages": dict(sorted(stages.items())), "rounds_open": stages["legal_review"] + stages["committee_review"],
            "outbox_before": len(outbox), "expected": told.figures()}


def write_floor(engine, today: date) -> float:
    """The database's share of writing the sweep: the mails and Reminder rows it wrote, inserted again as
    ready values (keys and day changed so that the unique keys hold), in a transaction rolled back."""
    with Session(engine) as session:
        mails = [dict(row._mapping) for row in session.execute(
            select(OutboxMessage.__table__).where(OutboxMessage.kind == "reminder"))]
        reminders = [dict(row._mapping) for row in session.execute(
            select(Reminder.__table__).where(Reminder.day == today))]
    for mail in mails:
        del mail["id"]
        mail.update(idempotency_key=f"floor:{mail['idempotency_key']}", message_id=f"<floor.{mail['message_id'][1:]}")
    for reminder in reminders:
        del reminder["id"]
        reminder["day"] = today + timedelta(days=1)

    def write(session: Session) -> None:
        for rows, table in ((mails, OutboxMessage.__table__), (reminders, Reminder.__table__)):
            for start in range(0, len(rows), BATCH):
                session.execute(insert(table), rows[start:start + BATCH])

    return floor(engine, write)


def stored(session: Session) -> tuple[int, int]:
    mails = session.exec(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.kind == "reminder")).one()
    return mails, session.exec(select(func.count()).select_from(Reminder)).one()


def stored_by_role(session: Session) -> dict[str, int]:
    return dict(sorted(session.exec(select(Reminder.role, func.count()).group_by(Reminder.role)).all()))


def sweep_case(database: str, url: str, work: Path, count: int) -> dict:
    os.environ.update(REPORTCHAIN_DATABASE_URL=url, REPORTCHAIN_MAIL_FOLDER=str(work / "mail"),
                      REPORTCHAIN_SMTP_HOST="", REPORTCHAIN_TIMEZONE=TZ,
                      REPORTCHAIN_MAIL_FROM=f"fzb@{DOMAIN}", REPORTCHAIN_MAIL_FROM_NAME="青山县委依法治县办")
    settings = load_settings()
    upgrade_database(url)
    engine = get_engine(url)
    started = time.perf_counter()
    with Session(engine) as session:
        setup = populate(session, count)
    setup_seconds = time.perf_counter() - started

    statements = Statements(engine)
    try:
        with Session(engine, expire_on_commit=False) as session:  # as session_scope, which the flow uses
            statements.take()
            plan, plan_seconds, plan_mb = measured(lambda: plan_sweep(session, NOW, settings.timezone))
            plan_statements, plan_kinds = statements.take()
            if plan.quiet:
                fail("sweep", f"{database} N={count}: the sweep at {NOW.isoformat()} is quiet ({plan.quiet})")
            planned_mails = len(plan.mails)
            planned_lines = sum(len(m.lines) for m in plan.mails)
            largest = max((len(m.lines) for m in plan.mails), default=0)
            written, write_seconds, write_mb = measured(lambda: write_plan(session, settings, plan))
            write_statements, write_kinds = statements.take()
            mails, reminders = stored(session)
            by_role = stored_by_role(session)
            statements.take()
        expected = setup.pop("expected")
        if (mails, reminders, by_role) != (expected["mails"], expected["reminder_rows"],
                                           expected["reminder_rows_by_role"]):
            fail("sweep", f"{database} N={count}: the sweep wrote {mails} mails and Reminder rows {by_role}; the data "
                 f"calls for {expected['mails']} mails and {expected['reminder_rows_by_role']}")
        if not (written == planned_mails == mails and reminders == planned_lines and plan.already_sent == 0):
            fail("sweep", f"{database} N={count}: planned {planned_mails} mails / {planned_lines} lines, write_plan "
                 f"returned {written}, stored {mails} mails / {reminders} Reminder rows, "
                 f"{plan.already_sent} counted as already sent")

        with Session(engine, expire_on_commit=False) as session:  # the re-run: an hourly schedule, a crash
            started = time.perf_counter()
            again = plan_sweep(session, NOW, settings.timezone)
            rewritten = write_plan(session, settings, again)
            rerun_seconds = time.perf_counter() - started
            rerun_statements, rerun_kinds = statements.take()
            after = stored(session)
            statements.take()
        if rewritten or again.mails or after != (mails, reminders) or again.already_sent != planned_mails:
            fail("sweep", f"{database} N={count}: the re-run planned {len(again.mails)} mails and wrote {rewritten} "
                 f"(stored now {after[0]} mails / {after[1]} Reminder rows, before {mails} / {reminders}); "
                 f"{again.already_sent} of {planned_mails} people seen as already sent")
        floor_seconds = write_floor(engine, NOW.date())
    finally:
        statements.close()
    batches = -(-planned_mails // BATCH)
    result = {
        "database": database,
        "reports": count,
        **setup,
        "plan_seconds": round(plan_seconds, 3),
        "plan_statements": plan_statements,
        "plan_statements_by_kind": plan_kinds,
        "write_seconds": round(write_seconds, 3),
        "write_statements": write_statements,
        "write_statements_by_kind": write_kinds,
        "baseline": "the same mails and Reminder rows inserted as ready values (Core, 500 a statement), rolled back",
        "baseline_seconds": round(floor_seconds, 3),
        "ratio": round(floor_seconds / write_seconds, 3),
        "plan_peak_mb": round(plan_mb, 1),
        "write_peak_mb": round(write_mb, 1),
        "mails": mails,
        "reminder_rows": reminders,
        "reminder_rows_by_role": by_role,
        "largest_mail_lines": largest,
        "batches": batches,
        "mails_per_second": round(mails / write_seconds, 1),
        "sweep_mails_per_second": round(mails / (plan_seconds + write_seconds), 1),
        "plan_statements_per_1000_reports": round(plan_statements * 1000 / count, 3),
        "write_statements_per_1000_reports": round(write_statements * 1000 / count, 3),
        "write_statements_per_batch": round(write_statements / max(batches, 1), 2),
        "rerun_seconds": round(rerun_seconds, 3),
        "rerun_statements": rerun_statements,
        "rerun_statements_by_kind": rerun_kinds,
        "rerun_mails": rewritten,
        "setup_seconds": round(setup_seconds, 1),
    }
    print(f"bench.sweep {database} N={count}: plan {plan_seconds:.2f} s / {plan_statements} statements, "
          f"write {write_seconds:.2f} s / {write_statements} statements (database alone {floor_seconds:.2f} s, "
          f"peak +{write_mb:.0f} MB): {mails} mails, {reminders} Reminder rows "
          f"(largest mail {largest} lines); re-run {rerun_seconds:.2f} s / {rerun_statements} statements, "
          f"{rewritten} mails", file=sys.stderr)
    return result


def run_sqlite(count: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix="reportchain-bench-"))
    url = f"sqlite:///{work / 'bench.db'}"
    try:
        return sweep_case("sqlite", url, work, count)
    finally:
        get_engine(url).dispose()
        shutil.rmtree(work, ignore_errors=True)


def run_postgres(base: str, count: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix="reportchain-bench-"))
    try:
        with postgres_schema(base, prefix="bench") as url:
            return sweep_case("postgresql", url, work, count)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def check_scaling(runs: list[dict]) -> tuple[dict, list[str]]:
    """Planning: the same statements at every size. Writing: a few statements per batch, never one per
    mail, report or Reminder row. Returns the figures checked and the problems found."""
    checks, problems = {}, []
    for database in sorted({r["database"] for r in runs}):
        mine = [r for r in runs if r["database"] == database]
        plans = sorted({r["plan_statements"] for r in mine} | {r["rerun_statements"] for r in mine})
        checks[database] = {"plan_statements": plans,
                            "write_statements_per_batch": [r["write_statements_per_batch"] for r in mine]}
        if len(plans) != 1:
            problems.append(f"{database}: planning is not a constant number of statements: "
                            + ", ".join(f"N={r['reports']}: {r['plan_statements']} (re-run {r['rerun_statements']})"
                                        for r in mine))
        for r in mine:  # insertmanyvalues pages hold hundreds of rows: a batch needs a handful of statements
            bound = r["batches"] * WRITE_STATEMENTS_PER_BATCH + r["reminder_rows"] // 500
            if r["write_statements"] > bound:
                problems.append(f"{database} N={r['reports']}: {r['write_statements']} statements "
                                f"({r['write_statements_by_kind']}) to write {r['mails']} mails and "
                                f"{r['reminder_rows']} Reminder rows in {r['batches']} batches of {BATCH} people "
                                f"(expected at most {bound}): a statement per row")
    return checks, problems


def main(sizes: tuple[int, ...] = SIZES) -> dict:
    started = time.perf_counter()
    runs = [run_sqlite(n) for n in sizes]
    base = reachable_postgres()
    if base is not None:
        runs += [run_postgres(base, n) for n in sizes]
    else:
        print(f"bench.sweep: PostgreSQL not reachable at {os.environ.get('TEST_DATABASE_URL', PG_DEFAULT)}; "
              "SQLite only", file=sys.stderr)
    checks, problems = check_scaling(runs)
    return {
        "benchmark": "reminder_sweep",
        "now": NOW.isoformat(),
        "batch_people": BATCH,
        "data": f"1 county, N townships (own drafter, supervisor, approval contact), {COORDINATORS} coordinators "
                f"(unit i -> i % {COORDINATORS}) + the county's, advisors serving {UNITS_PER_ADVISOR} units each; "
                "reports ~50% drafting, ~30% legal_review, ~15% committee_review (rounds opened over the "
                f"{LOOKBACK} working days before), ~5% filed; kickoffs and prompts already in the outbox",
        "statements": "before_cursor_execute events: every cursor execution, each executemany/insertmanyvalues page",
        "runs": runs,
        "checks": checks,
        "problems": problems,
        "total_seconds": round(time.perf_counter() - started, 1),
        "machine": {"cpus": os.cpu_count()},
    }


def profile(count: int = 2000, top: int = 10) -> None:
    """cProfile of write_plan for N reports on SQLite: the top functions by cumulative time."""
    work = Path(tempfile.mkdtemp(prefix="reportchain-bench-"))
    url = f"sqlite:///{work / 'bench.db'}"
    try:
        os.environ.update(REPORTCHAIN_DATABASE_URL=url, REPORTCHAIN_MAIL_FOLDER=str(work / "mail"),
                          REPORTCHAIN_SMTP_HOST="", REPORTCHAIN_TIMEZONE=TZ)
        settings = load_settings()
        upgrade_database(url)
        engine = get_engine(url)
        with Session(engine) as session:
            populate(session, count)
        with Session(engine, expire_on_commit=False) as session:
            plan = plan_sweep(session, NOW, settings.timezone)
            profiled(lambda: write_plan(session, settings, plan), f"write_plan, N={count} reports", top)
    finally:
        get_engine(url).dispose()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--profile"]:
        profile(int(args[1]) if len(args) > 1 else 2000)
    else:
        result = main(tuple(int(a) for a in args) or SIZES)
        record(result)  # the figures are kept even when a check fails: they are the evidence
        if result["problems"]:
            fail("sweep", "; ".join(result["problems"]))
