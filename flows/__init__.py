"""Thin Prefect flows, one module per job a user or a schedule runs.

Each module holds the transactional step (a plain function taking a session, used by the CLI's
--dry-run and by tests) and the flow that runs it in its own transaction. Flows take IDs, never
sessions, and are idempotent: a second run changes nothing and sends nothing.

Flows are `async def` around short synchronous bodies: Prefect finishes an async flow run in about
a quarter of the time of a sync one (no heartbeat thread to join), which matters for the CLI and
the demo. `run` calls one from synchronous code.
"""

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


def run(flow_call: Awaitable[T]) -> T:
    """Run one flow call (e.g. `run(open_cycle_flow(year=2026))`) to completion from sync code."""
    return asyncio.run(flow_call)
