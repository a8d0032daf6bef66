"""`reportchain demo`: a sample county runs a whole cycle on the embedded default.

A throwaway SQLite database and mail folder, the roster in examples/sample_county.yaml, the 2026
cycle, and every report driven through every stage by real Prefect flows with simulated
decisions (one report is returned once and resubmitted). Exit code 1 if any report is not filed.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from rich.console import Console

from reportchain.settings import PROJECT_ROOT
from reportchain.texts import message, render

SAMPLE_ROSTER = PROJECT_ROOT / "examples" / "sample_county.yaml"
YEAR = 2026
RETURNED_UNIT = "xiashe"  # the legal advisor returns this township's first draft


def run_demo(workdir: Path | None, out: Console) -> int:
    workdir = Path(workdir or tempfile.mkdtemp(prefix="reportchain-demo-")).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    db_url = f"sqlite:///{workdir / 'demo.db'}"
    os.environ["REPORTCHAIN_DATABASE_URL"] = db_url
    os.environ["REPORTCHAIN_MAIL_FOLDER"] = str(workdir / "mail")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    step = lambda text: out.print(message("demo.step", text=text))  # noqa: E731

    from sqlmodel import select

    from flows import run
    from flows.cycle import open_cycle_flow
    from flows.decisions import record_decision_flow, round_to_decide
    from flows.delivery import deliver_outbox_flow
    from flows.drafts import submit_draft_flow
    from flows.filing import file_report_flow
    from models.db import create_tables, session_scope
    from models.tables import Report, Unit
    from reportchain.board import status
    from reportchain.cli import print_board
    from reportchain.roster import import_roster

    out.print(message("demo.start", workdir=str(workdir)))
    create_tables(db_url)
    with session_scope(db_url) as session:
        import_roster(session, SAMPLE_ROSTER)
    step("导入样例县名册，开启 2026 年度周期（首次运行需启动 Prefect 临时服务器，约 20 秒）")
    run(open_cycle_flow(year=YEAR))
    with session_scope(db_url) as session:
        reports = [(r.id, r.ref, u) for r, u in session.exec(
            select(Report, Unit).join(Unit, Unit.id == Report.unit_id).order_by(Report.ref))]

    def submit(report_id: int, unit: Unit, revised: bool) -> None:
        path = workdir / "drafts" / f"{unit.code}-{'v2' if revised else 'v1'}.md"
        path.parent.mkdir(exist_ok=True)
        path.write_text(render("documents/demo_draft.md", unit=unit, year=YEAR, revised=revised), encoding="utf-8")
        run(submit_draft_flow(report_id=report_id, path=str(path), submitted_by=unit.code + "-drafter"))

    def decide(ref: str, decision: str, comment: str = "") -> None:
        with session_scope(db_url) as session:
            round_id = round_to_decide(session, ref).id
        run(record_decision_flow(round_id=round_id, decision=decision, comment=comment, via="simulated",
                                 actor="demo"))

    step("各单位提交初稿，法律顾问审核")
    for report_id, ref, unit in reports:
        submit(report_id, unit, revised=False)
        if unit.code == RETURNED_UNIT:
            decide(ref, "return", "第二部分只列了不足，没有分析原因，请补充原因分析。")
            submit(report_id, unit, revised=True)
        decide(ref, "approve", "同意。")
    step("党委（党组、党工委）审议")
    for _, ref, unit in reports:
        decide(ref, "approve", f"经{unit.approval_body}审议通过。")
    step("报送上级并投递全部邮件")
    for report_id, _, _ in reports:
        run(file_report_flow(report_id=report_id))
    run(deliver_outbox_flow())

    from reportchain.board import today_in
    from reportchain.settings import load_settings

    with session_scope(db_url) as session:
        board = status(session, YEAR, today_in(load_settings().timezone))
    print_board(board)
    not_filed = [r["ref"] for r in board["reports"] if r["stage"] != "filed"]
    if not_filed or not board["reports"]:
        out.print(message("demo.failed", refs=not_filed or ["—"]))
        return 1
    out.print(message("demo.done", count=len(board["reports"]), folder=str(workdir / "mail"), db=db_url))
    return 0
