"""A decision given by phone, recorded for the stage it decides."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.orm.exc import StaleDataError

from core.settings import load_settings
from core.texts import message
from reportchain.cli.common import DryRun, Flows, app, deliver_now, dry_run, fail, out, run_flow, session_for


@app.command()
def decide(
    ref: Annotated[str, typer.Argument(help="报告编号，例如 R-2026-017。")],
    decision: Annotated[str, typer.Argument(help="approve（同意）或 return（退回）。")],
    stage: Annotated[str | None, typer.Option(
        "--stage", help="必填：这一意见所决定的审核环节，legal_review（法律顾问审核）或 committee_review（党委审议），"
                        "也可写中文名称。同一命令再执行一次不会误决下一环节。")] = None,
    number: Annotated[int | None, typer.Option(
        "--round", help="审核轮次：退回修改后再次审核的（第2轮起）必填，见 reportchain history。")] = None,
    comment: Annotated[str, typer.Option("--comment", help="审核意见；退回时必填。")] = "",
    by: Annotated[str | None, typer.Option("--by", help="录入人（默认：统筹协调人）。")] = None,
    dry: DryRun = False,
) -> None:
    """录入审核人通过电话等方式给出的意见（记入流转记录，注明“电话告知”）。"""
    settings = load_settings()
    from models.tables import Report
    from services.decisions import record_decision, round_to_decide
    from services.stages import chain_of

    with session_for(settings) as session:
        rnd = round_to_decide(session, ref, stage, number)
        chain = chain_of(session, session.get(Report, rnd.report_id))
    params = {"comment": comment, "via": "phone", "actor": by or message("cli_actor")}
    if dry:
        return dry_run(lambda s, st: record_decision(s, st, rnd.id, decision, **params))
    try:
        result = run_flow(Flows.record_decision, round_id=rnd.id, decision=decision, **params)
    except StaleDataError:  # another terminal or a mail decided the round at the same moment
        fail(message("refused.stale", ref=ref.strip().upper()))
    if not result["applied"]:  # … or just before we looked again
        fail(message("refused.round_already_decided", ref=result["ref"], decision=decision))
    out.print(message("decision_recorded", ref=result["ref"], decision=decision, stage=result["stage"], chain=chain))
    deliver_now()
