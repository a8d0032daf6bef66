"""The demo: a whole cycle for a sample county."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from core.settings import load_settings
from reportchain.cli.common import app, out


@app.command()
def demo(
    workdir: Annotated[Path | None, typer.Option(help="演示用工作目录（默认新建临时目录）。")] = None,
) -> None:
    """演示：样例县 12 个以上单位走完一个年度的全流程（临时数据库与邮件目录）。"""
    from reportchain.demo import run_demo

    load_settings()  # a bad setting is refused before the demo starts Prefect
    raise typer.Exit(run_demo(workdir, out))
