"""The county board as a Prefect table artifact (key `county-board`), so it shows in Prefect's UI.

Every state-changing flow and the sweep end with `await publish_board(...)`: the board of the cycle
they touched, with the same Chinese columns as `reportchain status`. Only inside a flow run (a flow
called as a plain function by the CLI has no Prefect server to write to), and never failing the flow:
a board that cannot be written is logged and the run goes on.
"""

from __future__ import annotations

from prefect.artifacts import acreate_table_artifact
from prefect.context import FlowRunContext
from sqlmodel import Session, select

from core.clock import today_in
from core.settings import load_settings
from core.texts import message
from flows import run_logger
from models.db import get_engine
from models.tables import Cycle, Report
from services.board import columns, latest_year, rows, status

KEY = "county-board"


def board_table(session: Session, year: int, timezone: str) -> list[dict[str, str]]:
    """One dict per report, keyed by the Chinese column names."""
    names = columns()
    return [dict(zip(names, row, strict=True)) for row in rows(status(session, year, today_in(timezone)))]


async def publish_board(*, ref: str | None = None, year: int | None = None) -> bool:
    """Write the board of `year` (the cycle of report `ref`; else the latest cycle) as the flow run's
    `county-board` artifact; False when nothing was written (outside a run, no cycle, or an error)."""
    if FlowRunContext.get() is None:
        return False
    try:
        settings = load_settings()
        with Session(get_engine(settings.database_url)) as session:
            if ref is not None:
                year = session.exec(select(Cycle.year).join(Report, Report.cycle_id == Cycle.id)
                                    .where(Report.ref == ref)).first()
            year = year or latest_year(session)
            if year is None:
                return False
            table = board_table(session, year, settings.timezone)
        await acreate_table_artifact(table=table, key=KEY, description=message("status_title", year=year))
        return True
    except Exception:  # the board is a view: a run's work is done whether or not it can be shown
        run_logger().warning("the county board artifact could not be written", exc_info=True)
        return False
