"""Setting up: the roster of units and people."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from core.settings import load_settings
from core.texts import message
from reportchain.cli.common import app, out, session_for, titled_table
from services.roster import RosterPlan, configured_chains, import_roster, plan_roster

units_app = typer.Typer(help="单位名册：导入单位、人员及其职责。", no_args_is_help=True)


app.add_typer(units_app, name="units")


@units_app.command("import")
def units_import(
    file: Annotated[Path, typer.Argument(help="名册文件（.csv 或 .yaml），每行一个单位。")],
    dry: Annotated[bool, typer.Option("--dry-run", help="预览：检查名册并列出将要发生的变化，不写入数据库。")] = False,
    by: Annotated[str, typer.Option("--by", help="操作人，记入流转记录。")] = "coordinator",
) -> None:
    """导入单位名册；有任何错误行则全部不导入，并逐行说明。加 --dry-run 先预览变化。"""
    settings = load_settings()
    chains = configured_chains(settings)
    with session_for(settings) as session:
        if dry:
            plan = plan_roster(session, file, chains)
            session.rollback()
            return show_plan(plan)
        counts = import_roster(session, file, actor=by, chains=chains)
        session.commit()
    out.print(message("import.done", **counts))


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
        *(("role", "unlisted", f"{unit} · {person}", message("role_label", role=role) + "；" + kept)
          for unit, person, role in plan.assignments_unlisted),
    ]
    table = titled_table(message("import.plan_title", count=plan.changes), "import.plan_columns")
    for kind, change, what, detail in lines:
        table.add_row(message(f"import.plan_{kind}"), message(f"import.plan_{change}"), what, detail)
    out.print(table)
    out.print(message("import.plan_dry"))
