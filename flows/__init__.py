"""Thin Prefect flows, one module per job a user or a schedule runs.

Each flow runs a step of services/ (a plain function taking a session, which the CLI's --dry-run and
the tests call directly) in its own transaction; a flow itself only logs, ends its run Failed when
mail waits on the relay, and publishes the board. Flows take plain values, never sessions, and are
idempotent: a second run changes nothing and sends nothing.

Flows are `async def` around short synchronous bodies: Prefect finishes an async flow run in about
a quarter of the time of a sync one (no heartbeat thread to join), which matters for the CLI and
the demo. `run` calls one from synchronous code.
"""

import asyncio
import logging
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


def run(flow_call: Awaitable[T]) -> T:
    """Run one flow call (e.g. `run(open_cycle_flow(year=2026))`) to completion from sync code."""
    return asyncio.run(flow_call)


def run_logger() -> logging.Logger | logging.LoggerAdapter:
    """The flow run's logger (its lines reach the Prefect server), or the flows' own outside a run."""
    from prefect import get_run_logger
    from prefect.exceptions import MissingContextError

    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger(__name__)


def quiet_logging() -> None:
    """Only the CLI's Chinese messages reach the terminal: Prefect's console lines (runs begun and
    finished, their tracebacks) and English log lines are not printed. A flow run's log still reaches
    the Prefect server, through the handler Prefect gives its run loggers."""
    from prefect.logging.handlers import PrefectConsoleHandler

    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, PrefectConsoleHandler)]:
        root.removeHandler(handler)
    if not root.handlers:
        root.addHandler(logging.NullHandler())  # else Python prints warnings to stderr itself
