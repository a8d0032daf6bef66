"""Setting up: the roster of units and people, and closing a unit merged or abolished (乡镇撤并)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from core.settings import load_settings
from core.texts import message
from reportchain.cli.common import app, out, session_for, titled_table
from services.roster import RosterPlan, import_roster, plan_roster
from services.units import close_unit

units_app = typer.Typer(help="单位名册：导入单位、人员及其职责；关闭撤并的单位。", no_args_is_help=True)


app.add_typer(units_app, name="units")


@units_app.command("import")
def units_import(
    file: Annotated[Path, typer.Argument(help="名册文件（.csv 或 .yaml），每行一个单位。")],
    dry: Annotated[bool, typer.Option("--dry-run", help="预览：检查名册并列出将要发生的变化，不写入数据库。")] = False,
    by: Annotated[str, typer.Option("--by", help="操作人，记入流转记录。")] = "coordinator",
) -> None:
    """导入单位名册；有任何错误行则全部不导入，并逐行说明。加 --dry-run 先预览变化。

    名册中某单位不再列出的人员，其职责即告结束（不再收到邮件，记录保留）；新增的报告单位如遇正在进行的
    年度周期，立即建立报告并发送启动通知。"""
    settings = load_settings()
    with session_for(settings) as session:
        if dry:
            plan = plan_roster(session, file, settings)
            session.rollback()
            return show_plan(plan)
        counts = import_roster(session, file, actor=by, settings=settings)
        session.commit()
    out.print(message("import.done", **counts))


@units_app.command("close")
def units_close(
    unit: Annotated[str, typer.Argument(help="单位名称或代码。")],
    reason: Annotated[str, typer.Option("--reason", help="关闭原因，如“并入野鹤镇”“撤销建制”。")] = "",
    by: Annotated[str, typer.Option("--by", help="操作人，记入流转记录。")] = "coordinator",
) -> None:
    """关闭撤并或撤销的单位：保留全部流转记录，不再提醒、不再送审，今后的周期不再为其建立报告。"""
    settings = load_settings()
    with session_for(settings) as session:
        closed = close_unit(session, unit, reason, by)
        session.commit()
    out.print(message("unit_closed", unit=closed.unit, reason=closed.reason, unfinished=closed.unfinished,
                      cancelled=closed.cancelled))


def show_plan(plan: RosterPlan) -> None:
    """The changes an import would make, one line each, in a table."""
    if not plan.changes:
        out.print(message("import.plan_none", units=len(plan.rows)))
        return
    kept = message("import.plan_kept")
    lines = [  # (kind, change, what, detail)
        *(("unit", "added", name, "") for name in plan.units_added),
        *(("unit", "changed", name, message("import.plan_fields", fields=f)) for name, f in plan.units_changed),
        *(("unit", "unlisted", name, kept) for name in plan.units_unlisted),
        *(("person", "added", person, "") for person in plan.people_added),
        *(("person", "changed", email, message("import.plan_fields", fields=f)) for email, f in plan.people_changed),
        *(("person", "unlisted", person, kept) for person in plan.people_unlisted),
        *(("role", "added", f"{unit} · {person}", message("role_label", role=role))
          for unit, person, role in plan.assignments_added),
        *(("role", "ended", f"{unit} · {person}", message("role_label", role=role) + "；"
           + message("import.plan_ended_detail")) for unit, person, role in plan.assignments_ended),
        *(("report", "opened", unit, message("import.plan_report_detail", year=year))
          for year, unit in plan.reports_added),
    ]
    table = titled_table(message("import.plan_title", count=plan.changes), "import.plan_columns")
    for kind, change, what, detail in lines:
        table.add_row(message(f"import.plan_{kind}"), message(f"import.plan_{change}"), what, detail)
    out.print(table)
    out.print(message("import.plan_dry"))
