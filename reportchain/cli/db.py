"""The database's schema: `reportchain init` and `reportchain db upgrade` create it or bring it to the
newest revision of migrations/; `reportchain db current` says where it stands."""

from __future__ import annotations

import typer

from core.settings import load_settings
from core.texts import message
from models.db import normalise_url, schema_state, upgrade_database
from reportchain.cli.common import app, out

db_app = typer.Typer(help="数据库结构版本：查看、升级。", no_args_is_help=True)
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
    out.print(message("db.upgraded", before=done.before, head=done.head, stamped=done.stamped,
                      url=normalise_url(url)))


@db_app.command("current")
def current() -> None:
    """显示数据库的结构版本和本程序的最新版本；不是最新版本时退出码为 1。"""
    state = schema_state(load_settings().database_url)
    out.print(message("db.current", current=state.current, head=state.head, known=state.known, tables=state.tables))
    if state.current != state.head:
        raise typer.Exit(1)
