"""The demo: a whole cycle for a sample county."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from core.settings import load_settings
from core.texts import message
from reportchain.cli.common import app, out
from reportchain.cli.web import serve as serve_console


@app.command()
def demo(
    workdir: Annotated[Path | None, typer.Option(help="演示用工作目录（默认新建临时目录）。")] = None,
    serve: Annotated[bool, typer.Option("--serve", help="演示结束后开通演示账号并启动网页控制台（Ctrl+C 停止）。")]
    = False,
    host: Annotated[str, typer.Option(help="网页控制台监听地址（与 --serve 同用）。")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="网页控制台端口（与 --serve 同用）。")] = 8000,
) -> None:
    """演示：样例县 12 个以上单位走完一个年度的全流程（临时数据库与邮件目录）。"""
    from reportchain.demo import demo_accounts, run_demo

    load_settings()  # a bad setting is refused before the demo starts Prefect
    code = run_demo(workdir, out)
    if not serve or code:
        raise typer.Exit(code)
    settings = load_settings()  # the demo's database (run_demo set it)
    for role, login, password in demo_accounts(settings.database_url):
        out.print(message("demo.account", role=role, login=login, password=password))
    serve_console(settings, host, port)
