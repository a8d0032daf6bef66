"""What every command shares: the app and its one error funnel, the consoles, running a flow, dry runs."""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session, select

from core.names import visible
from core.settings import Settings, SettingsError, load_settings
from core.texts import message
from documents.reading import UnreadableDocument
from models.chain import Refused
from models.db import get_engine
from models.deadlines import PolicyError
from models.tables import Cycle
from notifications.backends import DeliveryConfigError
from services.board import latest_year
from services.roster import RosterError


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


def day_option(value: str | None, bad: str) -> date | None:
    """A YYYY-MM-DD option's value, or None when it was not given; message `bad` (with the value) otherwise."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise typer.BadParameter(message(bad, value=value)) from None


def session_for(settings: Settings) -> Session:
    return Session(get_engine(settings.database_url), expire_on_commit=False)


class Flows:
    """The flows the CLI runs, each imported only when it runs: read-only commands never load Prefect,
    and a bad setting is refused before it is loaded."""

    @staticmethod
    def open_cycle():
        from flows.cycle import open_cycle_flow
        return open_cycle_flow

    @staticmethod
    def submit_draft():
        from flows.drafts import submit_draft_flow
        return submit_draft_flow

    @staticmethod
    def accept_draft():
        from flows.drafts import accept_draft_flow
        return accept_draft_flow

    @staticmethod
    def record_decision():
        from flows.decisions import record_decision_flow
        return record_decision_flow

    @staticmethod
    def file_report():
        from flows.filing import file_report_flow
        return file_report_flow

    @staticmethod
    def publish_report():
        from flows.filing import publish_report_flow
        return publish_report_flow

    @staticmethod
    def deliver_outbox():
        from flows.delivery import deliver_outbox_flow
        return deliver_outbox_flow

    @staticmethod
    def fetch_replies():
        from flows.replies import fetch_replies_flow
        return fetch_replies_flow

    @staticmethod
    def sweep():
        from flows.reminders import sweep_flow
        return sweep_flow


def run_flow(flow: Callable[[], object], **params):
    """Run a flow (one of `Flows`): through Prefect when a server is configured, else in-process.
    A run that ended Failed because mails wait on the relay gives back what it did (its delivery's
    `problem` says why)."""
    import httpx

    settings = load_settings()  # a bad setting is refused before Prefect is imported
    from flows import quiet_logging, run
    from flows.delivery import MailWaiting

    flow_obj = flow()
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
    report_delivery(run_flow(Flows.deliver_outbox))


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
    from services.rehearsal import rehearse

    settings = load_settings()
    with session_for(settings) as session:
        result, mails = rehearse(session, lambda: step(session, settings))
    if show is not None:
        show(result)
    out.print(message("dry_run", count=len(mails)))
    for mail in mails:
        out.print(message("dry_run_mail", to=mail.to_addrs, subject=mail.subject))


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


def titled_table(title: str, columns: str) -> Table:
    """A table titled `title` with the columns of message `columns` ("编号|单位|…")."""
    table = Table(title=title)
    for column in message(columns).split("|"):
        table.add_column(column)
    return table


def shown(text: str | None) -> str | None:
    """What a stranger wrote (a sender, a subject, a comment, a file name), printable: no escape
    sequence reaches the coordinator's terminal."""
    return None if text is None else visible(text, keep="\n")


def cycle_of(session: Session, year: int | None) -> Cycle:
    year = year or latest_year(session)
    cycle = session.exec(select(Cycle).where(Cycle.year == year)).first() if year else None
    if cycle is None:
        fail(message("no_cycle_of", year=year) if year else message("no_cycle"))
    return cycle
