"""Benchmark: how fast `read_reply` reads replies, so that a slower stripping rule shows.

Reads the 327 peer fixtures in ../shared/peers (the test suites of public reply parsers, never copied into
the project) `rounds` times, then four pathological bodies of about 1 MB (see `pathological`), each of
which must be read in well under a second of CPU time: every line-level pattern runs only on short lines
and is linear, and the structure is read only up to mailtext.READ_LIMIT characters and LINE_LIMIT lines.
Count checks: every fixture is read exactly once per round, none raises, and no reply is read as an
approval (none of them answers a review) — if one disagrees, the figures are still printed and the
benchmark exits 1.

Then a typical reply — "同意。" from an iPhone over a prompt QQ Mail quotes in full (a second version's prompt
rendered from templates/email/review_prompt.txt: the return's comment, the changed paragraphs, the checker's
warnings; about 4 KB) — read with the prompt's text as the intake does, against a baseline: the same words
with nothing quoted. The reader's own work (`own_text`, the decision) must not grow with the quoted original,
and stays within TYPICAL_TARGET_MS of CPU time. Each read is of a different prompt (its own 审核码), so
nothing of the prompt is remembered from one read to the next.

`python -m bench.reply_reader [ROUNDS]` (default 5); `--smoke` reads one round and, when ../shared/peers
is absent, says so and reads the pathological bodies only (without --smoke that is a failure). Prints one
JSON object and writes it into bench/results.json (not in smoke mode).
"""

from __future__ import annotations

import datetime
import json
import sys
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from types import SimpleNamespace

from bench import record
from core.texts import render_block
from models.chain import DEFAULT_CHAIN
from notifications.decision import APPROVE, has_decision_word
from notifications.mailtext import own_text
from notifications.reply import UnreadableMessage, body_and_attachments, decide, read_reply

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


TYPICAL_TARGET_MS = 0.4  # CPU time of own_text and the decision on the typical reply
TYPICAL_READS = 300


def prompt_text(number: int) -> str:
    """A second version's review prompt as reportchain renders it, with its own 审核码 (about 4 KB)."""
    rest = "行政诉讼出庭应诉率达到百分之百，行政机关负责人出庭应诉率达到百分之九十以上。"
    changed = [SimpleNamespace(kind="changed", text="", pieces=[
        ("same", f"第{k}部分：本年度共办理行政复议案件{k + 12}件，"), ("del", "其中"), ("ins", f"依法纠正{k}件，"),
        ("same", rest)]) for k in range(1, 17)]
    added = SimpleNamespace(kind="added", pieces=[],
                            text="全面推行行政执法公示制度、执法全过程记录制度、重大执法决定法制审核制度。")
    return render_block(
        "email/review_prompt.txt", "body", report=SimpleNamespace(ref="R-2026-003"),
        unit=SimpleNamespace(name="野鹤镇"), cycle=SimpleNamespace(year=2026), version=SimpleNamespace(number=2),
        round=SimpleNamespace(stage="legal_review"), reviewer=SimpleNamespace(name="陈律师"),
        seen_version=SimpleNamespace(number=1), changes=[*changed, added],
        returned_round=SimpleNamespace(comment="第三部分缺少行政复议数据分析，请补充后再报。", stage="legal_review"),
        returned_by=SimpleNamespace(name="陈明"), chain=DEFAULT_CHAIN, due=datetime.date(2026, 12, 31),
        reply_code=f"K{number:05d}",
        check_warnings=[{"message": "第二部分提到的数据与上一年度报告不一致", "line": 12},
                        {"message": "缺少“主要负责人履行推进法治建设第一责任人职责”一节", "line": None}],
        settings=SimpleNamespace(mail_from_name="青山县委依法治县办"))


def qq_reply(words: str, prompt: str | None) -> bytes:
    """QQ Mail's reply: the words, then (when given) the prompt under its 原始邮件 block."""
    msg = EmailMessage()
    msg["From"] = "陈明 <2847193650@qq.com>"
    msg["To"] = "fzb@qingshan.example.gov.cn"
    msg["Subject"] = "回复：[#R-2026-003] 请审核：野鹤镇2026年度法治政府建设年度报告（第2稿，法律顾问审核）"
    msg["In-Reply-To"] = "<rc.prompt@qingshan.example.gov.cn>"
    quoted = "" if prompt is None else (
        "\n\n------------------ 原始邮件 ------------------\n"
        "发件人: \"青山县委依法治县办\"<fzb@qingshan.example.gov.cn>;\n"
        "发送时间: 2026年12月20日(星期天) 上午9:13\n收件人: \"陈明\"<2847193650@qq.com>;\n"
        "主题: [#R-2026-003] 请审核：野鹤镇2026年度法治政府建设年度报告（第2稿，法律顾问审核）\n\n" + prompt)
    msg.set_content(words + quoted, charset="utf-8")
    return msg.as_bytes()


def cpu_ms(operation, cases: list) -> float:
    """Median CPU milliseconds of `operation` over the cases (each read once)."""
    times = []
    for case in cases:
        t0 = time.process_time()
        operation(*case)
        times.append((time.process_time() - t0) * 1000)
    return round(sorted(times)[len(times) // 2], 3)


def typical(problems: list[str]) -> dict:
    words = "同意。\n\n发自我的iPhone"
    prompts = [prompt_text(n) for n in range(TYPICAL_READS)]
    quoted = [(qq_reply(words, p), p) for p in prompts]
    bare = [(qq_reply(words, None), p) for p in prompts]
    texts = [(body_and_attachments(message_from_bytes(raw, policy=policy.compat32))[0], p) for raw, p in quoted]
    for raw, prompt in quoted[:3] + bare[:3]:
        reply = read_reply(raw, prompt)
        if (reply.decision, reply.comment) != (APPROVE, "同意。"):
            problems.append(f"the typical reply was read as {reply.decision} {reply.comment!r}")

    def own(text, prompt):
        return decide(own_text(text, has_decision_word, prompt))

    result = {"prompt_bytes": len(prompts[0].encode()),
              "read_reply_ms": cpu_ms(read_reply, quoted), "read_reply_unquoted_ms": cpu_ms(read_reply, bare),
              "own_text_and_decision_ms": cpu_ms(own, texts),
              "own_text_and_decision_unquoted_ms": cpu_ms(own, [("同意。\n\n发自我的iPhone", p) for p in prompts])}
    result["read_reply_ratio"] = round(result["read_reply_ms"] / max(result["read_reply_unquoted_ms"], 0.001), 2)
    if result["own_text_and_decision_ms"] > TYPICAL_TARGET_MS:
        problems.append(f"own_text and the decision took {result['own_text_and_decision_ms']} ms of CPU on the "
                        f"typical reply (target {TYPICAL_TARGET_MS} ms)")
    return result


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
    typical_reply = typical(problems)
    result = {"benchmark": "reply_reader", "messages": len(raws), "rounds": rounds,
              "messages_per_second": round(rounds * len(raws) / elapsed, 1) if raws else None,
              **({} if raws else {"skipped": f"no peer fixtures at {PEERS}: the pathological bodies only"}),
              "pathological_1mb_cpu_seconds": slowest, "typical_reply": typical_reply, "problems": problems}
    if smoke:
        print(json.dumps(result, ensure_ascii=False))
    else:
        record(result)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
