"""The coordinator's front door: `reportchain …`, thin over the flows and the tables.

Commands that change something run the Prefect flows (tracked on the server named by
PREFECT_API_URL, or in this process when none is set); read-only commands never start Prefect.
"""

from __future__ import annotations

import errno
import json
import logging
from collections.abc import Callable
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy import func
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session, select

from core.clock import today_in
from core.names import safe_filename, visible, write_new
from core.settings import Settings, SettingsError, load_settings
from core.texts import message
from documents.reading import UnreadableDocument, read_draft
from models.calendar import load_calendar, published
from models.chain import Refused, Stage
from models.db import create_tables, get_engine, normalise_url
from models.deadlines import DeadlinePolicy, PolicyError
from models.reminders import parse_now, plan_sweep
from models.tables import CalendarOverride, Cycle, OutboxMessage, Report, Unit
from notifications.backends import DeliveryConfigError
from notifications.outbox import listing, reason, retry
from reportchain.board import history, latest_year, status
from services.roster import RosterError, import_roster


class Funnel(typer.core.TyperGroup):
    """Every command, from loading the settings on, runs inside the one error funnel."""

    def invoke(self, ctx):
        with user_errors():
            return super().invoke(ctx)


app = typer.Typer(
    cls=Funnel,
    help="法治政府建设年度报告流转系统：起草 → 法律顾问审核 → 党委审议 → 报送 → 公开。",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)
units_app = typer.Typer(help="单位名册：导入单位、人员及其职责。", no_args_is_help=True)
cycle_app = typer.Typer(help="报告周期：按年度开启。", no_args_is_help=True)
draft_app = typer.Typer(help="报告稿件：提交初稿或修改稿；检查有问题的稿件可决定仍送审。", no_args_is_help=True)
app.add_typer(units_app, name="units")
app.add_typer(cycle_app, name="cycle")
app.add_typer(draft_app, name="draft")
outbox_app = typer.Typer(help="发件箱：查看待发、重试中和发送失败的邮件。", invoke_without_command=True)
app.add_typer(outbox_app, name="outbox")
deadlines_app = typer.Typer(help="截止日期：查看或调整年度周期的截止日期、审核时限和提醒安排。", no_args_is_help=True)
app.add_typer(deadlines_app, name="deadlines")
calendar_app = typer.Typer(help="工作日历：法定节假日和调休（国务院公布），以及本地调整。", no_args_is_help=True)
app.add_typer(calendar_app, name="calendar")
replies_app = typer.Typer(help="审核回复：收取审核人的回复邮件，查看每封邮件如何被识别。", no_args_is_help=True)
app.add_typer(replies_app, name="replies")

# Messages carry names as users typed them ("报告[定稿].docx"): never read them as rich markup.
out = Console(markup=False)
err = Console(stderr=True, markup=False)
log = logging.getLogger("reportchain")

DryRun = Annotated[bool, typer.Option("--dry-run", help="试运行：显示将要发出的邮件，不写入数据库、不发送。")]


def fail(text: str, detail: str = "", code: int = 1) -> None:
    if detail:
        log.info("refused: %s", detail)
    err.print(text, style="red")
    raise typer.Exit(code)


@contextmanager
def user_errors():
    """Turn every known failure into its Chinese message and exit code 1 (2: the configuration);
    stored data stays intact."""
    try:
        yield
    except SettingsError as exc:
        fail(message("settings.bad", variable=exc.variable, value=visible(exc.value), rule=exc.rule,
                     allowed=exc.allowed), str(exc), code=2)
    except OSError as exc:
        if exc.filename is None:  # not a file: a network error that a backend did not handle
            raise
        fail(message("file_error", path=str(exc.filename), error=errno.errorcode.get(exc.errno, ""),
                     detail=exc.strerror, mail_folder=in_mail_folder(Path(exc.filename))), str(exc))
    except Refused as exc:
        fail(message(f"refused.{exc.code}", **exc.params), str(exc))
    except UnreadableDocument as exc:
        fail(message(f"document.{exc.code}", filename=exc.filename, detail=exc.detail), str(exc))
    except RosterError as exc:
        fail("\n".join(exc.problems))
    except DeliveryConfigError as exc:
        fail(message("delivery_config", detail=str(exc)), str(exc))
    except PolicyError as exc:
        fail(message(f"policy.{exc.code}", **exc.params), str(exc))
    except StaleDataError as exc:
        fail(message("refused.stale", ref=""), str(exc))
    except (OperationalError, ProgrammingError) as exc:
        fail(message("db_error", detail=str(exc.orig).strip().splitlines()[0]), str(exc))


def in_mail_folder(path: Path) -> bool:
    """Whether `path` is the mail folder or in it (whose mails then stay in the outbox)."""
    try:
        folder = load_settings().mail_folder
    except (SettingsError, OSError):
        return False
    return path == folder or folder in path.parents


def session_for(settings: Settings) -> Session:
    return Session(get_engine(settings.database_url), expire_on_commit=False)


def run_flow(flow_name: str, **params):
    """Run a flow by module:function name: through Prefect when a server is configured, else in-process.
    A run that ended Failed because mails wait on the relay gives back what it did (its delivery's
    `problem` says why)."""
    import importlib

    import httpx

    settings = load_settings()  # a bad setting is refused before Prefect is imported
    from flows import quiet_logging, run
    from flows.delivery import MailWaiting

    module_name, func_name = flow_name.split(":")
    flow_obj = getattr(importlib.import_module(module_name), func_name)
    quiet_logging()
    try:
        return run(flow_obj(**params) if settings.prefect_api_url else flow_obj.fn(**params))
    except MailWaiting as exc:
        return exc.result
    except (RuntimeError, httpx.TransportError) as exc:  # Prefect says RuntimeError("Failed to reach API")
        if not isinstance(exc, httpx.TransportError) and not isinstance(exc.__cause__, httpx.TransportError):
            raise
        fail(message("prefect_unreachable", url=settings.prefect_api_url), str(exc))


def deliver_now() -> None:
    report_delivery(run_flow("flows.delivery:deliver_outbox_flow"))


def report_delivery(result: dict) -> None:
    """What a delivery run sent, filed, and could not send yet."""
    settings = load_settings()
    folder = None if settings.smtp else str(settings.mail_folder)
    out.print(message("delivered", sent=result["sent"], filed=result["filed"], folder=folder))
    if result["retrying"] or result["failed"]:
        err.print(message("delivery_problems", retrying=result["retrying"], failed=len(result["failed"])),
                  style="yellow")
    if result["problem"]:
        fail(result["problem"])


def dry_run(step: Callable[[Session, Settings], object], show: Callable[[object], None] | None = None) -> None:
    """Run a transactional step, show what it did (`show`) and the mails it would write, and roll
    everything back."""
    settings = load_settings()
    with session_for(settings) as session:
        before = session.exec(select(func.max(OutboxMessage.id))).one() or 0
        result = step(session, settings)
        session.flush()
        query = select(OutboxMessage.to_addrs, OutboxMessage.subject).where(OutboxMessage.id > before)
        mails = list(session.exec(query.order_by(OutboxMessage.id)))
        session.rollback()
    if show is not None:
        show(result)
    out.print(message("dry_run", count=len(mails)))
    for to, subject in mails:
        out.print(message("dry_run_mail", to=to, subject=subject))


@app.command()
def init() -> None:
    """创建数据库表（重复执行无害）。"""
    settings = load_settings()
    create_tables(settings.database_url)
    out.print(message("init_done", url=normalise_url(settings.database_url)))


@units_app.command("import")
def units_import(file: Annotated[Path, typer.Argument(help="名册文件（.csv 或 .yaml），每行一个单位。")]) -> None:
    """导入单位名册；有任何错误行则全部不导入，并逐行说明。"""
    settings = load_settings()
    with session_for(settings) as session:
        counts = import_roster(session, file)
        session.commit()
    out.print(message("import.done", **counts))


def valid_year(year: int | None) -> int | None:
    """A year the working calendar and the deadlines can hold (a callback for year arguments)."""
    if year is not None and not 2000 <= year <= 2100:
        raise typer.BadParameter(message("bad_year", year=year))
    return year


def parse_assignments(values: list[str]) -> dict[str, str]:
    """`key=value` arguments (`drafting=2026-12-18`, `legal_review=5`) → {key: value}."""
    changes = {}
    for value in values:
        key, equals, setting = (part.strip() for part in value.replace("＝", "=").partition("="))
        if not equals or not key or not setting:
            raise typer.BadParameter(message("policy.bad_assignment", value=value))
        changes[key] = setting
    return changes


SetOption = Annotated[list[str], typer.Option(
    "--set", help="调整截止日期或时限：键=值，可重复。如 drafting=2026-12-18、legal_review=5、remind_before=3,1"
                  "（键见 reportchain deadlines show）。")]


@cycle_app.command("open")
def cycle_open(
    year: Annotated[int, typer.Argument(help="报告所属年度，例如 2026。", callback=valid_year)],
    settings_: SetOption = [],  # noqa: B006
    confirm_year: Annotated[bool, typer.Option(
        "--confirm-year", help="确认开启已经结束的往年周期，或两年以后的周期（默认只能开启当前和下一年度）。")] = False,
    dry: DryRun = False,
) -> None:
    """开启年度报告周期：为每个报告单位建立报告，并向起草人发送启动通知。"""
    changes = parse_assignments(settings_)
    settings = load_settings()  # a broken setting is refused before Prefect is imported
    from services.cycle import check_cycle_year, open_cycle

    if not confirm_year:
        check_cycle_year(year, settings.timezone)
    if dry:
        return dry_run(lambda s, st: open_cycle(s, st, year, changes))
    result = run_flow("flows.cycle:open_cycle_flow", year=year, changes=changes)
    out.print(message("cycle_opened", year=year, created=len(result["created"]), mails=result["mails"]))
    deliver_now()


@draft_app.command("submit")
def draft_submit(
    unit: Annotated[str, typer.Argument(help="单位名称或代码。")],
    file: Annotated[Path, typer.Argument(help="稿件文件：.docx、.txt 或 .md。")],
    year: Annotated[int | None, typer.Option(help="年度（默认最新周期）。")] = None,
    by: Annotated[str | None, typer.Option("--by", help="提交人（姓名或邮箱），记入流转记录。")] = None,
    dry: DryRun = False,
) -> None:
    """提交初稿或退回后的修改稿，报告转入法律顾问审核。"""
    settings = load_settings()
    if not file.is_file():
        fail(message("file_not_found", path=str(file)))
    draft = read_draft(file.name, file.read_bytes())  # refuse unreadable files before anything runs
    from services.drafts import report_for_unit, submit_draft

    with session_for(settings) as session:
        report = report_for_unit(session, unit, year)
    by = by or message("cli_actor")
    if dry:
        return dry_run(lambda s, st: submit_draft(s, st, s.get(Report, report.id), draft, by))
    result = run_flow("flows.drafts:submit_draft_flow", report_id=report.id, path=str(file.resolve()),
                      submitted_by=by)
    if result["new"] and result["stage"] == Stage.DRAFTING:
        fail(message("draft_held", ref=result["ref"], version=result["version"], findings=result["findings"]))
    if result["new"]:
        out.print(message("draft_submitted", ref=result["ref"], version=result["version"], stage=result["stage"]))
        if warnings := message("draft_warnings", findings=result["findings"]):
            out.print(warnings)
    else:
        out.print(message("draft_unchanged", ref=result["ref"], version=result["version"]))
    deliver_now()


@draft_app.command("accept")
def draft_accept(
    ref: Annotated[str, typer.Argument(help="报告编号。")],
    by: Annotated[str, typer.Option("--by", help="作出决定的统筹协调人（姓名），记入流转记录。")],
) -> None:
    """检查发现问题而暂未送审的稿件，由统筹协调人决定仍按此稿送审（记入流转记录）。"""
    from services.stages import find_report

    settings = load_settings()
    with session_for(settings) as session:
        report = find_report(session, ref)
    result = run_flow("flows.drafts:accept_draft_flow", report_id=report.id, actor=by)
    out.print(message("draft_accepted", **result))
    deliver_now()


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
    from services.decisions import record_decision, round_to_decide

    with session_for(settings) as session:
        rnd = round_to_decide(session, ref, stage, number)
    params = {"comment": comment, "via": "phone", "actor": by or message("cli_actor")}
    if dry:
        return dry_run(lambda s, st: record_decision(s, st, rnd.id, decision, **params))
    try:
        result = run_flow("flows.decisions:record_decision_flow", round_id=rnd.id, decision=decision, **params)
    except StaleDataError:  # another terminal or a mail decided the round at the same moment
        fail(message("refused.stale", ref=ref.strip().upper()))
    if not result["applied"]:  # … or just before we looked again
        fail(message("refused.round_already_decided", ref=result["ref"], decision=decision))
    out.print(message("decision_recorded", ref=result["ref"], decision=decision, stage=result["stage"]))
    deliver_now()


@app.command("file")
def file_cmd(
    ref: Annotated[str, typer.Argument(help="报告编号。")],
    dry: DryRun = False,
) -> None:
    """报送：把审议通过的报告发送给上级（主送 + 抄送，附报告全文）。"""
    settings = load_settings()
    from services.filing import file_report
    from services.stages import find_report

    with session_for(settings) as session:
        report = find_report(session, ref)
        unit = session.get(Unit, report.unit_id)
    if dry:
        return dry_run(lambda s, st: file_report(s, st, s.get(Report, report.id)))
    result = run_flow("flows.filing:file_report_flow", report_id=report.id)
    out.print(message("filing_written", ref=result["ref"], to=unit.filing_to))
    deliver_now()


@app.command()
def publish(
    ref: Annotated[str, typer.Argument(help="报告编号。")],
    url: Annotated[str, typer.Argument(help="报告在门户网站上的公开网址（http:// 或 https://）。")],
    reviewed: Annotated[bool, typer.Option("--confidentiality-reviewed", help="确认已通过保密审查（必填）。")] = False,
    by: Annotated[str, typer.Option("--by", help="操作人，记入流转记录。")] = "coordinator",
) -> None:
    """登记公开：报告已通过保密审查并在门户网站公开后，登记公开网址，流程结束，不再提醒。"""
    from services.stages import find_report

    if not reviewed:
        raise typer.BadParameter(message("publish_needs_review"))
    if not url.strip().lower().startswith(("http://", "https://")):
        raise typer.BadParameter(message("publish_bad_url", url=url))
    settings = load_settings()
    with session_for(settings) as session:
        report = find_report(session, ref)
    result = run_flow("flows.filing:publish_report_flow", report_id=report.id, url=url.strip(), actor=by)
    out.print(message("published", ref=result["ref"], url=url.strip(), new=result["new"]))


@app.command("render")
def render_cmd(
    ref: Annotated[str, typer.Argument(help="报告编号。")],
    out_dir: Annotated[Path, typer.Option("--out", help="保存到的目录（默认当前目录）。")] = Path("."),
) -> None:
    """生成定稿的两种版式：报送用的公文格式 Word 文件，和在门户网站公开用的网页（HTML）。"""
    from documents.render import publication_html
    from services.filing import filing_day, filing_document
    from services.stages import find_report, latest_version

    settings = load_settings()
    with session_for(settings) as session:
        report = find_report(session, ref)
        if report.stage not in (Stage.FILING, Stage.FILED, Stage.PUBLISHED):
            fail(message("render_not_approved", ref=report.ref, stage=report.stage))
        unit, version = session.get(Unit, report.unit_id), latest_version(session, report.id)
        year = session.get(Cycle, report.cycle_id).year
        document, issued_on = filing_document(session, report, version), filing_day(session, report, version)
    name = safe_filename(message("render_name", unit=unit.name, year=year), fallback=report.ref)
    out_dir.mkdir(parents=True, exist_ok=True)
    docx, page = out_dir / f"{name}.docx", out_dir / f"{name}.html"
    docx.write_bytes(document)
    page.write_text(publication_html(version.text, unit_name=unit.name, year=year, issued_on=issued_on),
                    encoding="utf-8")
    out.print(message("rendered", ref=report.ref, version=version.number, files=[str(docx), str(page)]))


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
    table = Table(title=message("outbox_title", count=len(rows)))
    for column in message("outbox_columns").split("|"):
        table.add_column(column)
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
    outbox_id: Annotated[int, typer.Argument(help="邮件编号（见 reportchain outbox）。")],
    dry: DryRun = False,
) -> None:
    """把一封失败或等待重试的邮件重新排入发送队列，并立即投递。"""
    settings = load_settings()
    with session_for(settings) as session:
        row = retry(session, outbox_id)
        if row is None:
            fail(message("outbox_not_retryable", outbox_id=outbox_id))
        if dry:
            out.print(message("dry_run", count=1))
            out.print(message("dry_run_mail", to=row.to_addrs, subject=row.subject))
            return
        session.commit()
    deliver_now()


@app.command("status")
def status_cmd(
    year: Annotated[int | None, typer.Option(help="年度（默认最新周期）。")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出。")] = False,
) -> None:
    """流转情况一览：每份报告所处环节、等谁办理、截止日期、是否逾期。"""
    settings = load_settings()
    with session_for(settings) as session:
        year = year or latest_year(session)
        if year is None:
            fail(message("no_cycle"))
        board = status(session, year, today_in(settings.timezone))
    if as_json:
        print(json.dumps(board, ensure_ascii=False, indent=2))
        return
    print_board(board)


def print_board(board: dict) -> None:
    reports = board["reports"]
    if not reports:
        out.print(message("no_reports", year=board["year"]))
        return
    table = Table(title=message("status_title", year=board["year"]))
    for column in message("status_columns").split("|"):
        table.add_column(column)
    for r in reports:
        state = Text(message("overdue"), style="red") if r["overdue"] else message("on_time")
        table.add_row(r["ref"], r["unit"], message("stage_label", stage=r["stage"]), "、".join(r["waiting_on"]) or "—",
                      r["due"] or "—", state)
    out.print(table)
    done = sum(r["stage"] in (Stage.FILED, Stage.PUBLISHED) for r in reports)
    out.print(message("status_summary", total=len(reports), filed=done, overdue=sum(r["overdue"] for r in reports)))


@app.command("history")
def history_cmd(ref: Annotated[str, typer.Argument(help="报告编号。")]) -> None:
    """一份报告的完整流转记录（谁、何时、做了什么）。"""
    from services.stages import find_report

    settings = load_settings()
    tz = ZoneInfo(settings.timezone)
    with session_for(settings) as session:
        report = find_report(session, ref)
        unit = session.get(Unit, report.unit_id)
        events = history(session, report)
    table = Table(title=message("history_title", ref=report.ref, unit=unit.name))
    for column in message("history_columns").split("|"):
        table.add_column(column)
    for e in events:
        stages = " → ".join(message("stage_label", stage=s) for s in (e.from_stage, e.to_stage) if s)
        note = "；".join(message("detail", key=k, value=v) for k, v in e.detail.items() if v not in (None, ""))
        table.add_row(e.at.astimezone(tz).strftime("%Y-%m-%d %H:%M"), shown(e.actor),
                      message("event_label", event=e.action), stages, shown(note))
    out.print(table)


def shown(text: str | None) -> str | None:
    """What a stranger wrote (a sender, a subject, a comment, a file name), printable: no escape
    sequence reaches the coordinator's terminal."""
    return None if text is None else visible(text, keep="\n")


def print_intake(rows: list[dict]) -> None:
    if not rows:
        out.print(message("replies.none"))
        return
    table = Table(title=message("replies.title", count=len(rows)))
    for column in message("replies.columns").split("|"):
        table.add_column(column)
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
                      auto_reply=data["auto_reply"], comment=shown(data["comment"]),
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
            from flows.replies import busy_since, intake
            from notifications.mailbox import inbox_for

            inbox = inbox_for(settings)
            try:
                return dry_run(lambda s, st: intake(s, st, inbox, apply=False),
                               show=lambda report: print_fetched(report.rows, busy_since(settings, report)))
            finally:
                inbox.close()
        result = run_flow("flows.replies:fetch_replies_flow")
    except MailboxError as exc:
        fail(message("replies.mailbox_error", detail=str(exc)), str(exc))
    print_fetched(result["rows"], result["busy_since"])
    report_delivery(result["delivery"])


@replies_app.command("list")
def replies_list(
    outcome: Annotated[str | None, typer.Option(help="只看某种处理结果，如 unclear、unreadable。")] = None,
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


# -- deadlines, the working calendar and reminders ------------------------------------------------------

def cycle_of(session: Session, year: int | None) -> Cycle:
    year = year or latest_year(session)
    cycle = session.exec(select(Cycle).where(Cycle.year == year)).first() if year else None
    if cycle is None:
        fail(message("no_cycle_of", year=year) if year else message("no_cycle"))
    return cycle


def deadlines_view(session: Session, cycle: Cycle) -> dict:
    policy, cal = DeadlinePolicy.from_json(cycle.policy), load_calendar(session)
    dates = {key: policy.date_due(cal, key) for key in policy.dates}
    return {"year": cycle.year, "policy": policy.as_json(), "steps": policy.steps, "overdue_days": policy.overdue_days,
            "due": {key: day.isoformat() for key, day in dates.items()},
            "unpublished_years": cal.warnings(min(dates.values()), max(dates.values()))}


@deadlines_app.command("show")
def deadlines_show(
    year: Annotated[int | None, typer.Option(help="年度（默认最新周期）。")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出。")] = False,
) -> None:
    """查看年度周期的截止日期、审核时限（工作日）和提醒安排。"""
    settings = load_settings()
    with session_for(settings) as session:
        view = deadlines_view(session, cycle_of(session, year))
    if as_json:
        print(json.dumps(view, ensure_ascii=False, indent=2))
        return
    out.print(message("policy.view", **view))
    for year_ in view["unpublished_years"]:
        err.print(message("calendar.unpublished", year=year_), style="yellow")


@deadlines_app.command("set")
def deadlines_set(
    values: Annotated[list[str], typer.Argument(help="键=值，如 filing=2027-01-25 committee_review=5 "
                                                     "remind_overdue=1,3,5 working_hours=08:30-17:30。")],
    year: Annotated[int | None, typer.Option(help="年度（默认最新周期）。")] = None,
    by: Annotated[str, typer.Option("--by", help="操作人，记入流转记录。")] = "coordinator",
    dry: DryRun = False,
) -> None:
    """调整已开启周期的截止日期、审核时限或提醒安排（记入流转记录）；之后的提醒按新安排计算。"""
    from services.cycle import change_policy

    changes = parse_assignments(values)
    settings = load_settings()
    with session_for(settings) as session:
        cycle = cycle_of(session, year)
        changed = change_policy(session, cycle, changes, by)
        view = deadlines_view(session, cycle)
        session.rollback() if dry else session.commit()
    out.print(message("policy.changed" if changed else "policy.unchanged", dry=dry, year=view["year"]))
    out.print(message("policy.view", **view))


@calendar_app.command("show")
def calendar_show(
    year: Annotated[int, typer.Argument(help="年份，例如 2027。", callback=valid_year)],
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出。")] = False,
) -> None:
    """列出一年中不上班的工作日（节假日）和要上班的周末（调休），以及本地调整。"""
    settings = load_settings()
    with session_for(settings) as session:
        cal = load_calendar(session)
        overrides = {o.day: o for o in session.exec(select(CalendarOverride).where(
            CalendarOverride.working.is_not(None)))}
    days = [date(year, 1, 1) + timedelta(days=n) for n in range((date(year + 1, 1, 1) - date(year, 1, 1)).days)]
    special = [{"day": d.isoformat(), "working": cal.is_working_day(d), "holiday": cal.holiday_name(d),
                "override": overrides[d].note or True if d in overrides else None}
               for d in days if cal.is_working_day(d) != (d.weekday() < 5) or d in overrides]
    view = {"year": year, "published": published(year), "days": special}
    if as_json:
        print(json.dumps(view, ensure_ascii=False, indent=2))
        return
    out.print(message("calendar.view", **view))
    if not view["published"]:
        err.print(message("calendar.unpublished", year=year), style="yellow")


@calendar_app.command("set")
def calendar_set(
    day: Annotated[str, typer.Argument(help="日期 YYYY-MM-DD。")],
    kind: Annotated[str, typer.Argument(help="workday（上班）、holiday（放假）或 official（取消调整，按国家公布）。")],
    note: Annotated[str, typer.Option(help="说明，如“2027年春节调休”。")] = "",
    by: Annotated[str, typer.Option("--by", help="操作人，记入流转记录。")] = "coordinator",
) -> None:
    """调整工作日历：把某天设为上班或放假（用于国家安排公布前，或本地特殊安排）。"""
    from services.calendar import KINDS, set_calendar_day

    if kind not in KINDS:
        raise typer.BadParameter(message("calendar.bad_kind", kind=kind))
    try:
        when = date.fromisoformat(day.strip())
    except ValueError:
        raise typer.BadParameter(message("calendar.bad_day", day=day)) from None
    settings = load_settings()
    with session_for(settings) as session:
        set_calendar_day(session, when, kind, note, by)
        session.commit()
    out.print(message("calendar.set", day=when, kind=kind))


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
        result = run_flow("flows.reminders:sweep_flow", now=moment.isoformat())
    if as_json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return
    out.print(message("sweep.result", dry=dry, **result))
    for year_ in result["unpublished_years"]:
        err.print(message("calendar.unpublished", year=year_), style="yellow")
    if "delivery" in result:
        report_delivery(result["delivery"])


@app.command("check")
def check_cmd(
    file: Annotated[Path, typer.Argument(help="报告稿件：.docx、.txt 或 .md。")],
    year: Annotated[int | None, typer.Option(help="报告年度（默认按标题或正文所写的年度）。")] = None,
    unit: Annotated[str | None, typer.Option(help="单位名称，用于核对报告中的单位。")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出。")] = False,
) -> None:
    """检查报告稿：五项必备内容是否齐全，以及标题编号、未填写的占位内容、年份、落款和成文日期。

    只读取文件，不连接数据库、不作任何改动。退出码：0 表示没有错误（可能有提醒），1 表示有错误或文件无法读取。
    """
    from documents.check import ELEMENTS, check

    if not file.is_file():
        fail(message("file_not_found", path=str(file)))
    draft = read_draft(file.name, file.read_bytes())
    report = check(draft.text, year=year, unit=unit)
    if as_json:
        print(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
    else:
        out.print(message("check.header", filename=draft.filename, year=report.year, source=report.year_source))
        table = Table()
        for column in message("check.columns").split("|"):
            table.add_column(column)
        for key in ELEMENTS:
            element = report.elements[key]
            state = message("check.state", element=key, present=element.present, as_section=element.as_section)
            style = "green" if element.as_section else "yellow" if element.present else (
                "red" if key != "other_matters" else "dim")
            where = element.heading or (message("check.paragraph", line=element.line) if element.present else "—")
            table.add_row(message("check.element_short", element=key), Text(state, style=style), where)
        out.print(table)
        for finding in report.findings:
            out.print(message("check.finding", line=finding.line, severity=finding.severity, text=finding.message),
                      style="red" if finding.severity == "error" else "yellow")
        out.print(message("check.summary", errors=len(report.errors), warnings=len(report.warnings)))
    raise typer.Exit(1 if report.errors else 0)


@app.command()
def demo(
    workdir: Annotated[Path | None, typer.Option(help="演示用工作目录（默认新建临时目录）。")] = None,
) -> None:
    """演示：样例县 12 个以上单位走完一个年度的全流程（临时数据库与邮件目录）。"""
    from reportchain.demo import run_demo

    load_settings()  # a bad setting is refused before the demo starts Prefect
    raise typer.Exit(run_demo(workdir, out))


if __name__ == "__main__":
    app()
