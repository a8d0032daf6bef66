"""Reviewers' replies: fetch them, watch the mailbox for them, list and show how each was read, parse one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from sqlmodel import select

from core.names import safe_filename, write_new
from core.settings import load_settings
from core.texts import message
from models.tables import InboundOutcome, Report
from reportchain.cli.common import (
    DryRun,
    Flows,
    app,
    dry_run,
    err,
    fail,
    out,
    report_delivery,
    run_flow,
    session_for,
    shown,
    titled_table,
)

replies_app = typer.Typer(help="审核回复：收取审核人的回复邮件，查看每封邮件如何被识别。", no_args_is_help=True)


app.add_typer(replies_app, name="replies")


def print_intake(rows: list[dict]) -> None:
    if not rows:
        out.print(message("replies.none"))
        return
    table = titled_table(message("replies.title", count=len(rows)), "replies.columns")
    for r in rows:
        decision = message("decision_label", decision=r["decision"]) if r["decision"] else "—"
        table.add_row(str(r["id"]), shown(r["from"]) or "—", r["ref"] or "—", decision,
                      message("replies.outcome", outcome=r["outcome"]), shown(r["subject"]) or "—")
    out.print(table)


def print_reading(reply) -> None:
    """How one message was read, in the coordinator's words."""
    data = reply.as_json()
    out.print(message("reply.reading", sender=shown(data["from"]), subject=shown(data["subject"]),
                      tag=data["subject_tag"], in_reply_to=shown(data["in_reply_to"]), decision=data["decision"],
                      auto_reply=data["auto_reply"], comment=shown(data["comment"]), under_header=data["under_header"],
                      attachments=[shown(name) for name in data["attachments"]]))


def print_fetched(rows: list[dict], busy_since: str | None) -> None:
    if busy_since:
        out.print(message("replies.busy", since=busy_since))
    else:
        print_intake(rows)


@replies_app.command("fetch")
def replies_fetch(dry: DryRun = False) -> None:
    """收取审核回复：从邮箱（IMAP）或收件目录读取新邮件，识别审核意见并自动流转，随后投递回执。"""
    from notifications.mailbox import MailboxError

    settings = load_settings()
    try:
        if dry:
            from notifications.mailbox import opened_inbox
            from services.replies import busy_since, intake

            with opened_inbox(settings) as inbox:
                return dry_run(lambda s, st: intake(s, st, inbox, apply=False),
                               show=lambda report: print_fetched(report.rows, busy_since(settings, report)))
        result = run_flow(Flows.fetch_replies)
    except MailboxError as exc:
        fail(message("replies.mailbox_error", detail=str(exc)), str(exc))
    print_fetched(result["rows"], result["busy_since"])
    report_delivery(result["delivery"])


@replies_app.command("watch")
def replies_watch() -> None:
    """守候回复邮箱：一直连着邮箱，回复一到（IMAP IDLE，几秒内）就识别、流转并发出回执；作为服务长期运行。

    邮件服务器不支持即时通知时，每 REPORTCHAIN_WATCH_POLL_SECONDS 秒查看一次。邮箱或发信服务器出错时
    说明原因并稍后自动重试，不会退出；按 Ctrl+C（或服务管理器发出的停止信号）停止。与定时的“收取回复”
    同时运行也不会重复处理同一封邮件。"""
    import contextlib
    import signal
    import threading

    from services.watch import watch

    settings = load_settings()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    mode: list[bool] = []  # whether the server pushes, once it is known (said again when it changes)

    def on_round(result) -> None:
        if result.problem is not None:
            err.print(message("replies.watch_problem", detail=result.problem, pause=result.pause), style="yellow")
            return
        if mode != [result.pushes]:
            mode[:] = [result.pushes]
            name = settings.imap.mailbox if settings.imap else str(settings.inbox_folder)
            out.print(message("replies.watching", mailbox=name, pushes=result.pushes, poll=settings.watch_poll))
        if result.intake.fetched:
            print_fetched(result.intake.rows, None)
        delivery = result.delivery or {}
        if delivery.get("sent") or delivery.get("filed"):
            out.print(message("delivered", sent=delivery["sent"], filed=delivery["filed"], folder=None))
        if delivery.get("problem"):
            err.print(delivery["problem"], style="yellow")

    with contextlib.suppress(KeyboardInterrupt):
        watch(settings, stop, on_round)
    out.print(message("replies.watch_stopped"))


@replies_app.command("list")
def replies_list(
    outcome: Annotated[InboundOutcome | None, typer.Option(help="只看某种处理结果，如 unclear、unreadable。")] = None,
    limit: Annotated[int, typer.Option(help="最多显示多少封（最新的在前）。")] = 50,
) -> None:
    """列出收到的邮件及处理结果（已采用、无法判断、非审核人、自动回复……）。"""
    from models.tables import InboundMessage

    settings = load_settings()
    with session_for(settings) as session:
        query = select(InboundMessage)
        if outcome:
            query = query.where(InboundMessage.outcome == outcome)
        rows = session.exec(query.order_by(InboundMessage.id.desc()).limit(limit)).all()
        refs = dict(session.exec(select(Report.id, Report.ref)).all())
    if not rows:
        out.print(message("replies.none_stored"))
        return
    print_intake([{"id": r.id, "from": r.from_address, "ref": refs.get(r.report_id), "decision": r.decision,
                   "outcome": r.outcome, "subject": r.subject} for r in rows])


@replies_app.command("show")
def replies_show(
    inbound_id: Annotated[int, typer.Argument(help="邮件编号（见 reportchain replies list）。")],
    save: Annotated[Path | None, typer.Option("--save", help="把邮件原文（.eml）和附件保存到这个目录。")] = None,
) -> None:
    """查看一封收到的邮件：如何识别、处理结果和原因；可保存原文和附件。"""
    from models.tables import InboundMessage
    from notifications.reply import UnreadableMessage, read_reply

    settings = load_settings()
    with session_for(settings) as session:
        row = session.get(InboundMessage, inbound_id)
        if row is None:
            fail(message("replies.unknown", inbound_id=inbound_id))
        out.print(message("replies.detail", row=row, outcome=message("replies.outcome", outcome=row.outcome)))
        try:
            reply = read_reply(row.raw)
        except UnreadableMessage:
            reply = None
        if reply is not None:
            print_reading(reply)
        if save is not None:
            save.mkdir(parents=True, exist_ok=True)
            write_new(save, f"inbound-{row.id}.eml", row.raw)
            for n, attachment in enumerate(reply.attachments if reply else (), 1):
                write_new(save, safe_filename(attachment.name, fallback=f"inbound-{row.id}-{n}"), attachment.data)
            out.print(message("replies.saved", folder=str(save)))


@replies_app.command("parse")
def replies_parse(
    file: Annotated[Path, typer.Argument(help="一封邮件（.eml 文件）。")],
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出。")] = False,
) -> None:
    """显示一封回复邮件被如何识别（同意 / 退回 / 无法判断），不连接数据库、不作任何改动。"""
    from notifications.reply import UnreadableMessage, read_reply

    if not file.is_file():
        fail(message("file_not_found", path=str(file)))
    try:
        reply = read_reply(file.read_bytes())
    except UnreadableMessage as exc:
        fail(message("reply.unreadable", path=str(file), detail=str(exc)), str(exc))
    if as_json:
        print(json.dumps(reply.as_json(), ensure_ascii=False, indent=2))
        return
    print_reading(reply)
