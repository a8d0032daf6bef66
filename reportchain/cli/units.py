"""Setting up: the database and the roster of units and people."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from core.settings import load_settings
from core.texts import message
from models.db import create_tables, normalise_url
from reportchain.cli.common import app, out, session_for
from services.roster import import_roster

units_app = typer.Typer(help="单位名册：导入单位、人员及其职责。", no_args_is_help=True)


app.add_typer(units_app, name="units")


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
