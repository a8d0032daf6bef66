"""Benchmark: how fast `read_reply` reads replies, so that a slower stripping rule shows.

Reads the 327 peer fixtures in ../shared/peers (the test suites of public reply parsers, never copied into
the project) `rounds` times, then four pathological bodies of about 1 MB (see `pathological`), each of
which must be read in well under a second of CPU time: every line-level pattern runs only on short lines
and is linear, and the structure is read only up to mailtext.READ_LIMIT characters and LINE_LIMIT lines.
Count checks: every fixture is read exactly once per round, none raises, and no reply is read as an
approval (none of them answers a review) — if one disagrees, the figures are still printed and the
benchmark exits 1.

`python -m bench.reply_reader [ROUNDS]` (default 5); `--smoke` reads one round and, when ../shared/peers
is absent, says so and reads the pathological bodies only (without --smoke that is a failure). Prints one
JSON object and writes it into bench/results.json (not in smoke mode).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from bench import record
from notifications.decision import APPROVE
from notifications.reply import UnreadableMessage, read_reply

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT.parent / "shared" / "peers"


SHAPES = ("-" * 30, "> " * 20 + "同意", "On Mon, 1 Jan 2026 10:00, x <x@y.cn> wrote:", "发件人: x <x@y.cn>")


def as_mail(body: str) -> bytes:
    return ("From: a <a@b.cn>\nSubject: Re: x\nContent-Type: text/plain; charset=utf-8\n\n" + body).encode()


def pathological() -> dict[str, bytes]:
    """About 1 MB each: one long line of word characters and "@" then the shapes every rule looks for
    (dashes, deep "> " quotes, attributions, header fields); the shapes alone, each line different; 500,000
    one-character lines; an answer over 300,000 quoted lines."""
    return {
        "long_line_then_shapes": as_mail("a@" * 300_000 + "\n" + "\n".join(SHAPES[i % 4] for i in range(20_000))),
        "distinct_shapes": as_mail("\n".join(f"{SHAPES[i % 4]} {i}" for i in range(25_000))),
        "one_character_lines": as_mail("a\n" * 500_000),
        "answer_over_quoted_lines": as_mail("同意\n\n" + "> x\n" * 300_000),
    }


def main(argv: list[str]) -> int:
    smoke = "--smoke" in argv
    numbers = [a for a in argv if a.isdigit()]
    rounds = 1 if smoke else int(numbers[0]) if numbers else 5
    files = sorted(PEERS.glob("*/*.eml")) if PEERS.is_dir() else []
    if not files and not smoke:
        print(json.dumps({"benchmark": "reply_reader", "skipped": f"no peer fixtures at {PEERS}"}))
        return 1
    raws = [f.read_bytes() for f in files]
    problems, read, approvals = [], 0, 0
    started = time.perf_counter()
    for _ in range(rounds):
        for raw in raws:
            try:
                reply = read_reply(raw)
            except UnreadableMessage as exc:
                problems.append(f"unreadable: {exc}")
                continue
            read += 1
            approvals += reply.decision == APPROVE
    elapsed = time.perf_counter() - started
    if read != rounds * len(raws):
        problems.append(f"read {read} of {rounds * len(raws)}")
    if approvals:
        problems.append(f"{approvals} peer replies read as approvals")
    slowest = {}
    for name, big in pathological().items():
        t0 = time.process_time()  # CPU time: other jobs on a busy machine do not count
        reply = read_reply(big)
        slowest[name] = round(time.process_time() - t0, 3)
        if slowest[name] > 1.0:
            problems.append(f"1 MB pathological body {name} took {slowest[name]:.2f} s")
        if reply.decision == APPROVE:
            problems.append(f"the pathological body {name} was read as an approval")
    result = {"benchmark": "reply_reader", "messages": len(raws), "rounds": rounds,
              "messages_per_second": round(rounds * len(raws) / elapsed, 1) if raws else None,
              **({} if raws else {"skipped": f"no peer fixtures at {PEERS}: the pathological bodies only"}),
              "pathological_1mb_cpu_seconds": slowest, "problems": problems}
    if smoke:
        print(json.dumps(result, ensure_ascii=False))
    else:
        record(result)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
