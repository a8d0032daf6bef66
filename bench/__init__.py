"""Benchmarks (`make bench`): each prints one JSON object and keeps it in bench/results.json.

Shared here: `record` (the results file), `measured` (seconds and peak resident memory of one operation),
`Statements` (SQL statements counted on an engine) and `floor` (the database's own cost of writing the
same rows: a baseline measured in the same run, rolled back afterwards)."""

from __future__ import annotations

import cProfile
import json
import pstats
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import event
from sqlmodel import Session

RESULTS = Path(__file__).with_name("results.json")


def record(result: dict) -> None:
    """Print the result and put it in bench/results.json in place of the same benchmark's last one."""
    print(json.dumps(result, ensure_ascii=False))
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    RESULTS.write_text(json.dumps([r for r in previous if r.get("benchmark") != result["benchmark"]] + [result],
                                  ensure_ascii=False, indent=2) + "\n")


def fail(name: str, problem: str) -> None:
    print(f"bench.{name} FAILED: {problem}", file=sys.stderr)
    raise SystemExit(1)


def vm(field: str) -> float:
    return int(re.search(rf"{field}:\s+(\d+)", Path("/proc/self/status").read_text()).group(1)) / 1024


def measured(operation: Callable):
    """(result, seconds, MB of peak resident memory above the resident set before the operation).

    Resident memory (VmHWM) counts C allocations (lxml, psycopg) that tracemalloc does not see and costs
    nothing while timing; Linux only."""
    Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) starts again from here
    before = vm("VmRSS")
    started = time.perf_counter()
    result = operation()
    return result, time.perf_counter() - started, vm("VmHWM") - before


def profiled(operation: Callable, title: str, top: int):
    """Run `operation` under cProfile and print its top functions by cumulative time (`--profile` runs)."""
    profiler = cProfile.Profile()
    result = profiler.runcall(operation)
    print(title, file=sys.stderr)
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(top)
    return result


def process_peak() -> float:
    """The whole process's peak since the last measurement began (imports, database and all)."""
    return round(vm("VmHWM"), 1)


class Statements:
    """Cursor executions on an engine (each executemany page counts), by first SQL keyword."""

    def __init__(self, engine) -> None:
        self.engine, self.kinds = engine, Counter()
        event.listen(engine, "before_cursor_execute", self.count)

    def count(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.kinds[statement.lstrip().split(None, 1)[0].upper()] += 1

    def take(self) -> tuple[int, dict]:
        """Statements since the last take."""
        kinds, self.kinds = dict(self.kinds), Counter()
        return sum(kinds.values()), kinds

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self.count)


def floor(engine, write: Callable[[Session], None]) -> float:
    """Seconds `write` takes to insert rows (Core inserts of ready values, as many per statement as the
    driver takes), in a transaction rolled back afterwards: what the database alone costs."""
    with Session(engine) as session:
        started = time.perf_counter()
        write(session)
        session.flush()
        seconds = time.perf_counter() - started
        session.rollback()
    return seconds
