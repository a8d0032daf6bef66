"""Benchmarks (`make bench`): each prints one JSON object and keeps it in bench/results.json."""

import json
from pathlib import Path

RESULTS = Path(__file__).with_name("results.json")


def record(result: dict) -> None:
    """Print the result and put it in bench/results.json in place of the same benchmark's last one."""
    print(json.dumps(result, ensure_ascii=False))
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    RESULTS.write_text(json.dumps([r for r in previous if r.get("benchmark") != result["benchmark"]] + [result],
                                  ensure_ascii=False, indent=2) + "\n")
