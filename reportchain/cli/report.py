"""What is recorded about one report besides its stage: the committee meeting that approved it."""

from __future__ import annotations

from typing import Annotated

import typer

from core.settings import load_settings
from core.texts import message
from reportchain.cli.common import app, day_option, out, session_for

report_app = typer.Typer(help="报告登记事项：登记审议会议的日期和会议纪要编号。", no_args_is_help=True)
app.add_typer(report_app, name="report")


@report_app.command("meeting")
def meeting_cmd(
    ref: Annotated[str, typer.Argument(help="报告编号。")],
    day: Annotated[str | None, typer.Option("--date", help="会议日期 YYYY-MM-DD（不能晚于今天）。")] = None,
    minutes: Annotated[str | None, typer.Option("--minutes", help="会议纪要编号，如 纪要〔2026〕15号。")] = None,
    by: Annotated[str, typer.Option("--by", help="操作人，记入流转记录。")] = "coordinator",
) -> None:
    """登记审议通过本报告的会议（党委会议、党组会议等）的日期和会议纪要编号：报送上级时注明，并记入流转记录。
    只写其中一项的，另一项保持已登记的内容。"""
    from services.meeting import record_meeting
    from services.stages import find_report

    on = day_option(day, "meeting_bad_day")
    settings = load_settings()
    with session_for(settings) as session:
        report = find_report(session, ref)
        changed = record_meeting(session, report, on=on, minutes=minutes, actor=by, via="cli")
        session.commit()
        out.print(message("meeting_recorded" if changed else "meeting_unchanged", ref=report.ref,
                          meeting=message("meeting", body=report.meeting_body, on=report.meeting_on,
                                          minutes=report.meeting_minutes)))
