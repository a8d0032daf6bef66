"""The database: `reportchain init` and `reportchain db upgrade` create it or bring it to the newest
revision of migrations/; `reportchain db current` says where it stands; `reportchain db backup | restore`
copy a SQLite database while the product runs and put a copy back (services/backup.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from core.settings import load_settings
from core.texts import message
from models.db import normalise_url, revisions, schema_state, upgrade_database
from reportchain.cli.common import app, out
from services.backup import Contents, backup_contents, current_contents, ensure_mail_secret, journal_lines, sqlite_path
from services.backup import backup as take_backup
from services.backup import restore as put_back

db_app = typer.Typer(help="数据库：查看、升级结构版本，备份、恢复。", no_args_is_help=True)
app.add_typer(db_app, name="db")


@app.command()
def init() -> None:
    """创建数据库；已有数据库则升级到最新结构版本（重复执行无害）。"""
    upgrade()


@db_app.command("upgrade")
def upgrade() -> None:
    """把数据库升级到本程序的最新结构版本（升级前请先备份数据库）；没有数据库则新建。"""
    url = load_settings().database_url
    done = upgrade_database(url)
    ensure_mail_secret(url)  # the key of Message-IDs, made before any backup is taken
    out.print(message("db.upgraded", before=done.before, head=done.head, stamped=done.stamped,
                      url=normalise_url(url)))


@db_app.command("current")
def current() -> None:
    """显示数据库的结构版本和本程序的最新版本；不是最新版本时退出码为 1。"""
    state = schema_state(load_settings().database_url)
    out.print(message("db.current", current=state.current, head=state.head, known=state.known, tables=state.tables))
    if state.current != state.head:
        raise typer.Exit(1)


def said(contents: Contents) -> str:
    last = contents.last_change.strftime("%Y-%m-%d %H:%M UTC") if contents.last_change else None
    return message("db.contents", revision=contents.revision, reports=contents.reports, sent=contents.sent,
                   last_change=last)


@db_app.command("backup")
def backup(file: Annotated[Path, typer.Argument(help="备份文件（新文件，不会覆盖已有文件）")]) -> None:
    """备份 SQLite 数据库（一致的完整副本，备份时 worker 和网页控制台可照常运行）。PostgreSQL 请用 pg_dump。"""
    url = load_settings().database_url
    contents = take_backup(url, file)
    out.print(message("db.backed_up", path=str(file), contents=said(contents)))


@db_app.command("restore")
def restore(
    file: Annotated[Path, typer.Argument(help="reportchain db backup 生成的备份文件")],
    yes: Annotated[bool, typer.Option("--yes", help="不再询问，直接恢复（脚本中使用）")] = False,
) -> None:
    """用备份替换当前 SQLite 数据库；先说明将替换什么。已发出的邮件不会重发。PostgreSQL 请用 pg_restore。"""
    settings = load_settings()
    url = settings.database_url
    sqlite_path(url)
    current, backed_up = current_contents(url), backup_contents(file)
    out.print(message("db.restore_plan", url=normalise_url(url), current=said(current), path=str(file),
                      backup=said(backed_up), journal=str(settings.sent_journal),
                      journal_lines=journal_lines(settings.sent_journal)))
    if not yes:
        if not sys.stdin.isatty():
            out.print(message("db.restore_needs_yes"))
            raise typer.Exit(1)
        if not typer.confirm(message("db.restore_confirm"), default=False):
            out.print(message("db.restore_cancelled"))
            raise typer.Exit(1)
    done = put_back(url, file)
    out.print(message("db.restored", url=normalise_url(url), contents=said(done.restored),
                      upgraded_from=done.upgraded_from, head=revisions().get_current_head()))
