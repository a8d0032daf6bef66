"""The status board printed for the CLI (the board itself is read by services/board.py)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from core.texts import message
from models.chain import Stage
from services.board import columns, rows


def print_board(console: Console, board: dict) -> None:
    """The status board as a table, with the summary line under it."""
    reports = board["reports"]
    if not reports:
        console.print(message("no_reports", year=board["year"]))
        return
    table = Table(title=message("status_title", year=board["year"]))
    for column in columns():
        table.add_column(column)
    for r, row in zip(reports, rows(board), strict=True):
        style = "red" if r["overdue"] else "yellow" if r["unacknowledged_days"] else None
        table.add_row(*row[:-1], Text(row[-1], style=style) if style else row[-1])
    console.print(table)
    done = sum(r["stage"] in (Stage.FILED, Stage.CONFIDENTIALITY_REVIEW, Stage.PUBLISHED) for r in reports)
    console.print(message("status_summary", total=len(reports), filed=done, overdue=sum(r["overdue"] for r in reports)))
