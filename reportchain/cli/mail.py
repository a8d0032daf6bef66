"""Mail out: deliver the outbox, look at it and retry, the reminder sweep."""

from __future__ import annotations

import json
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from core.settings import load_settings
from core.texts import message
from models.reminders import parse_now, plan_sweep
from notifications.outbox import listing, reason
from reportchain.cli.common import (
    DryRun,
    Flows,
    app,
    deliver_now,
    err,
    out,
    report_delivery,
    run_flow,
    session_for,
    shown,
    titled_table,
)

outbox_app = typer.Typer(help="发件箱：查看待发、重试中和发送失败的邮件。", invoke_without_command=True)


app.add_typer(outbox_app, name="outbox")


@app.command()
def deliver(dry: DryRun = False) -> None:
    """投递发件箱中待发的邮件（配置了 SMTP 服务器时经 SMTP 发送，否则写入邮件目录）。"""
    if dry:
        return show_outbox(failed=False)
    deliver_now()


def show_outbox(failed: bool, verbose: bool = False) -> None:
    """The waiting and failed mails, each with its reason in Chinese (`verbose`: and the English detail)."""
    settings = load_settings()
    tz = ZoneInfo(settings.timezone)
    with session_for(settings) as session:
        rows = listing(session, failed_only=failed)
    if not rows:
        out.print(message("outbox_empty", failed=failed))
        return
    table = titled_table(message("outbox_title", count=len(rows)), "outbox_columns")
    for row in rows:
        waiting = row.next_attempt_at.astimezone(tz).strftime("%m-%d %H:%M") if row.next_attempt_at else "—"
        table.add_row(str(row.id), message("outbox_status", status=row.status), row.subject, row.to_addrs,
                      str(row.attempts), waiting, reason(row.last_error))
    out.print(table)
    answered = [row for row in rows if row.last_error]
    if answered and not verbose:
        out.print(message("outbox_verbose_hint"))
    for row in answered if verbose else ():
        out.print(message("outbox_detail", outbox_id=row.id, detail=shown(row.last_error)))


@outbox_app.callback()
def outbox(
    ctx: typer.Context,
    failed: Annotated[bool, typer.Option("--failed", help="只看发送失败（不再重试）的邮件。")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="同时显示邮件服务器的原始答复（英文）。")] = False,
) -> None:
    """列出待发送、等待重试和发送失败的邮件及原因。"""
    if ctx.invoked_subcommand is None:
        show_outbox(failed, verbose)


@outbox_app.command("retry")
def outbox_retry(
    outbox_id: Annotated[int, typer.Argument(help="邮件编号（见 reportchain outbox --failed）。")],
    by: Annotated[str | None, typer.Option("--by", help="操作人，记入流转记录（默认：统筹协调人）。")] = None,
    dry: DryRun = False,
) -> None:
    """把一封发送失败的邮件重新排入发送队列，并立即投递。"""
    from services.mail import retry_mail

    settings = load_settings()
    with session_for(settings) as session:
        row = retry_mail(session, outbox_id, (by or "").strip() or message("cli_actor"))
        if dry:
            session.rollback()
            out.print(message("dry_run", count=1))
            out.print(message("dry_run_mail", to=row.to_addrs, subject=row.subject))
            return
        session.commit()
    out.print(message("outbox_retried", outbox_id=outbox_id))
    deliver_now()


@app.command("sweep")
def sweep_cmd(
    now: Annotated[str | None, typer.Option(help="按此时刻计算（ISO 时间，如 2026-12-17T09:00；不带时区按本地时间）。")]
    = None,
    dry: DryRun = False,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出。")] = False,
) -> None:
    """催办提醒：按截止日期和工作日历，给今天需要提醒的人各发一封汇总提醒（每人每天最多一封）。"""
    settings = load_settings()
    try:
        moment = parse_now(now, settings.timezone)
    except ValueError:
        raise typer.BadParameter(message("sweep.bad_now", value=now)) from None
    if dry:
        with session_for(settings) as session:
            plan = plan_sweep(session, moment, settings.timezone)
            result = plan.as_json()
    else:
        result = run_flow(Flows.sweep, now=moment.isoformat())
    if as_json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return
    out.print(message("sweep.result", dry=dry, **result))
    for year_ in result["unpublished_years"]:
        err.print(message("calendar.unpublished", year=year_), style="yellow")
    if "delivery" in result:
        report_delivery(result["delivery"])
