"""`reportchain doctor`: whether this installation can do its work, each problem said in Chinese with what to do
(services/health.py runs the checks)."""

from __future__ import annotations

import typer

from core.settings import load_settings
from core.texts import message
from reportchain.cli.common import app, out

MARKS = {"ok": "✓", "warn": "!", "fail": "✗"}


@app.command()
def doctor() -> None:
    """检查运行环境：数据库结构版本、发信服务器和回复邮箱能否登录、Prefect 服务器和工作池、工作日历是否覆盖
    本周期各月、邮件目录能否写入。只读取、不发信；有问题时逐条说明怎么办，退出码为 1。"""
    from services.health import FAIL, examine

    findings = examine(load_settings())
    for f in findings:
        out.print(f"{MARKS[f.status]} {message('doctor.check', check=f.check)}："
                  f"{message(f'doctor.{f.check}.{f.code}', **f.params)}")
    failed = sum(f.status == FAIL for f in findings)
    out.print(message("doctor.summary", failed=failed, warned=sum(f.status == "warn" for f in findings)))
    if failed:
        raise typer.Exit(1)
