"""Triage: the inbound mails a coordinator must look at; record the decision one carries, or dismiss it."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from core.settings import load_settings
from core.texts import message
from reportchain.cli.common import app, deliver_now, out, session_for, shown, titled_table

triage_app = typer.Typer(
    help="核处来信：无法自动处理的邮件（意见不明、无法对应、非审核人……），由统筹协调人登记意见或不予采用。",
    no_args_is_help=True)


app.add_typer(triage_app, name="triage")

By = Annotated[str, typer.Option("--by", help="必填：核处人（统筹协调人）在名册中的邮箱，记入流转记录。")]


@triage_app.command("list")
def triage_list(
    limit: Annotated[int, typer.Option(help="最多显示多少封（最新的在前）。")] = 50,
) -> None:
    """列出待核处的邮件：报告、轮次和来信人的原话摘要。"""
    from services.triage import pending

    settings = load_settings()
    tz = ZoneInfo(settings.timezone)
    with session_for(settings) as session:
        items = pending(session, limit)
    if not items:
        out.print(message("triage.none"))
        return
    table = titled_table(message("triage.title", count=len(items)), "triage.columns")
    for item in items:
        table.add_row(str(item.inbound_id), item.received_at.astimezone(tz).strftime("%m-%d %H:%M"),
                      shown(item.from_address) or "—", item.ref or "—",
                      message("triage.round", stage=item.stage, number=item.round),
                      message("replies.outcome", outcome=item.outcome),
                      message("triage.excerpt", excerpt=shown(item.excerpt), under_header=item.under_header))
    out.print(table)


@triage_app.command("decide")
def triage_decide(
    inbound_id: Annotated[int, typer.Argument(help="邮件编号（见 reportchain triage list）。")],
    decision: Annotated[str, typer.Argument(help="approve（同意）或 return（退回）。")],
    by: By,
    stage: Annotated[str | None, typer.Option(
        "--stage", help="必填：这一意见所决定的审核环节，legal_review 或 committee_review（也可写中文名称）。")] = None,
    number: Annotated[int | None, typer.Option("--round", help="审核轮次：第2轮起必填。")] = None,
    ref: Annotated[str | None, typer.Option("--ref", help="报告编号：系统无法确定邮件针对哪份报告时必填。")] = None,
    comment: Annotated[str, typer.Option("--comment", help="审核意见（默认：来信人的原话）。")] = "",
) -> None:
    """按来信登记审核意见：与电话告知的意见一样流转、发送回执和下一环节的审核请求，记入流转记录并注明依据的邮件。"""
    from services.stages import chain_of, find_report
    from services.triage import decide

    settings = load_settings()
    with session_for(settings) as session:
        result = decide(session, settings, inbound_id, decision, stage=stage, number=number, ref=ref,
                        comment=comment, actor=by.strip())
        session.commit()
        chain = chain_of(session, find_report(session, result.ref))
    out.print(message("triage.decided", inbound_id=inbound_id, ref=result.ref, decision=decision,
                      stage=result.stage, chain=chain))
    deliver_now()


@triage_app.command("dismiss")
def triage_dismiss(
    inbound_id: Annotated[int, typer.Argument(help="邮件编号（见 reportchain triage list）。")],
    by: By,
    reason: Annotated[str, typer.Option("--reason", help="必填：不予采用的理由，记入流转记录。")] = "",
) -> None:
    """不予采用：写明理由后，该邮件不再列入待核处和每日汇总。"""
    from services.triage import dismiss

    settings = load_settings()
    with session_for(settings) as session:
        dismiss(session, inbound_id, reason, actor=by.strip())
        session.commit()
    out.print(message("triage.dismissed", inbound_id=inbound_id))
