"""Benchmark: the console's board page (and its .xlsx) for a province of N reports, on SQLite.

The province is bench/sweep.py's (`populate`), with each report's `report_opened` (and, past drafting,
`submit`) audit events for the chart. For each size it prints the SQL statements one board request
runs (counted with a `before_cursor_execute` listener) and the server time; the statements must be
the same number at every size, the page must list every report and the .xlsx hold one row each.
`python -m bench.web_board [N …]` (default 2000 20000); exit 1 when a check fails.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import sys
import tempfile
import time
import warnings
from datetime import timedelta
from pathlib import Path

from openpyxl import load_workbook
from sqlmodel import Session, select

from bench import Statements, fail, record
from bench.sweep import TZ, bulk, populate
from core.settings import load_settings
from models.db import get_engine, upgrade_database
from models.tables import AuditEvent, Cycle, Report
from services.accounts import add_account, set_password
from web.pages import PAGE_ROWS

SIZES = (2000, 20000)
LOGIN, PASSWORD = "yfzx@qingshan.example.gov.cn", "bench-password-2026"


def audit_rows(session: Session) -> None:
    """The stage changes the chart reads: opened (drafting), and submitted (to the report's stage)."""
    opened = session.exec(select(Cycle.opened_at)).one()
    rows = []
    for report_id, stage in session.exec(select(Report.id, Report.stage)):
        rows.append({"report_id": report_id, "at": opened, "actor": "system", "action": "report_opened",
                     "to_stage": "drafting", "detail": {}})
        if stage != rows[-1]["to_stage"]:
            rows.append({"report_id": report_id, "at": opened + timedelta(days=1), "actor": "bench",
                         "action": "submit", "from_stage": "drafting", "to_stage": stage, "detail": {}})
    bulk(session, AuditEvent, rows)
    session.commit()


def client_for(settings):
    from web.app import create_app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient
    client = TestClient(create_app(settings), follow_redirects=False)
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)[1]
    signed = client.post("/login", data={"csrf": csrf, "login": LOGIN, "password": PASSWORD})
    if signed.status_code != 303:
        fail("web_board", f"could not sign in: {signed.status_code}")
    return client


def timed(client, statements: Statements, path: str):
    statements.take()
    started = time.perf_counter()
    response = client.get(path)
    seconds = time.perf_counter() - started
    return response, statements.take(), round(seconds, 3)


def board_case(count: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix="reportchain-bench-"))
    url = f"sqlite:///{work / 'bench.db'}"
    os.environ.update(REPORTCHAIN_DATABASE_URL=url, REPORTCHAIN_MAIL_FOLDER=str(work / "mail"),
                      REPORTCHAIN_SMTP_HOST="", REPORTCHAIN_TIMEZONE=TZ)
    try:
        settings = load_settings()
        upgrade_database(url)
        engine = get_engine(url)
        with Session(engine) as session:
            populate(session, count)
            audit_rows(session)
            account, person = add_account(session, LOGIN, "county_coordinator", None, actor="bench")
            set_password(session, account, person, PASSWORD, actor="bench")
            session.commit()
        client = client_for(settings)
        statements = Statements(engine)
        page, (page_statements, page_kinds), page_seconds = timed(client, statements, "/")
        sheet, (xlsx_statements, _), xlsx_seconds = timed(client, statements, "/board.xlsx")
        statements.close()
        rows = len(page.text.split('<td><a href="/reports/')) - 1
        book_rows = load_workbook(io.BytesIO(sheet.content), read_only=True).active.max_row - 1
        return {"reports": count, "page_status": page.status_code, "page_rows": rows,
                "page_kb": len(page.content) // 1024,
                "page_statements": page_statements, "page_statements_by_kind": page_kinds,
                "page_seconds": page_seconds, "xlsx_rows": book_rows, "xlsx_statements": xlsx_statements,
                "xlsx_seconds": xlsx_seconds}
    finally:
        get_engine(url).dispose()
        shutil.rmtree(work, ignore_errors=True)


def main(sizes: tuple[int, ...] = SIZES) -> dict:
    runs = [board_case(n) for n in sizes]
    problems = []
    if len({r["page_statements"] for r in runs}) != 1 or len({r["xlsx_statements"] for r in runs}) != 1:
        problems.append("the board's statements grow with the number of reports: "
                        + ", ".join(f"N={r['reports']}: {r['page_statements']} / {r['xlsx_statements']}" for r in runs))
    for r in runs:
        if r["page_status"] != 200 or r["page_rows"] != min(r["reports"], PAGE_ROWS) or r["xlsx_rows"] != r["reports"]:
            problems.append(f"N={r['reports']}: status {r['page_status']}, {r['page_rows']} rows on the page, "
                            f"{r['xlsx_rows']} in the .xlsx")
    return {"benchmark": "web_board", "database": "sqlite",
            "statements": "before_cursor_execute events during one GET / (and one GET /board.xlsx), session included",
            "runs": runs, "problems": problems}


if __name__ == "__main__":
    result = main(tuple(int(a) for a in sys.argv[1:]) or SIZES)
    record(result)
    if result["problems"]:
        fail("web_board", "; ".join(result["problems"]))
