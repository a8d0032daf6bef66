"""Benchmark: one mail composed — `mail_values`, which renders a kind's text blocks and HTML part and writes its
bytes — for the two mails the reply intake writes per approval (the reviewer's receipt, threaded under the
prompt it answers; the next round's review prompt with the draft attached and its .ics entry) and a kickoff
with its drafting kit; against the same rows' bytes written by the email package (the reference,
notifications/message.build_message), measured in the same run.

Checked, or the benchmark exits 1 after printing its figures: every mail takes the fast path, and a sample
of each kind parses back as its reference does (the summary tests/test_message.py compares: headers,
parts, parameters, filenames, contents).

`python -m bench.compose [N]` (default 2000 mails of each kind). Prints one JSON object and writes it into
bench/results.json.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import date
from email.policy import SMTP
from types import SimpleNamespace

from bench import fail, record
from core.settings import load_settings
from core.texts import template_module
from documents.kit import drafting_skeleton
from models.chain import DEFAULT_CHAIN
from models.deadlines import default_policy
from models.tables import Cycle, Person, Report, ReportVersion, ReviewRound, Unit
from notifications.message import Attachment, build_message, fast_message
from notifications.outbox import Recipient, mail_values, new_message_id
from tests.drafts import report_text
from tests.test_message import parsed, summary

COUNT = 2000
DOMAIN = "qingshan.example.gov.cn"
SECRET = "bench-secret"  # keys the Message-IDs as mail_secret would
SAMPLED = 20  # mails of each kind parsed against their reference


def mails(settings) -> dict[str, callable]:
    """Each kind's `mail_values` call, with what the intake or `cycle open` gives it."""
    policy = default_policy(2026)
    cycle = Cycle(id=1, year=2026, policy=policy.as_json())
    unit = Unit(id=2, code="yehe", name="野鹤镇", kind="township", parent_id=1)
    report = Report(id=1, ref="R-2026-001", unit_id=2, cycle_id=1, stage="committee_review")
    reviewer = Person(id=3, name="李律师", email=f"lishi@lvshi-01.{DOMAIN}")
    drafter = Person(id=4, name="王起草", email=f"wang@yehe.{DOMAIN}")
    draft = report_text("野鹤镇").encode()
    version = ReportVersion(id=1, report_id=1, number=2, filename="野鹤镇2026年度报告（第2稿）.md", content=draft,
                            text=draft.decode(), sha256="0" * 64, findings=[], submitted_by=drafter.email)
    decided = ReviewRound(id=5, report_id=1, stage="legal_review", number=1, reviewer_id=3, version_id=1,
                          decision="approve", comment="原则同意，建议补充行政复议案件的办理数据。",
                          prompt_message_id=new_message_id(DOMAIN))
    opened = ReviewRound(id=6, report_id=1, stage="committee_review", number=1, reviewer_id=3, version_id=1)
    base = {"report": report, "unit": unit, "cycle": cycle, "policy": policy, "chain": DEFAULT_CHAIN}
    kit = Attachment("template.docx", drafting_skeleton(unit.name, 2026, "青山县人民政府"))
    schedule = template_module("email/_schedule.j2", cycle=cycle, policy=policy, due=date(2026, 12, 21),
                               chain=DEFAULT_CHAIN)
    to_reviewer, to_drafter = [Recipient(reviewer.name, reviewer.email)], [Recipient(drafter.name, drafter.email)]
    return {
        "receipt": lambda: (mail_values(
            settings, secret=SECRET, key="receipt:5", kind="receipt", to=to_reviewer, report_id=1,
            in_reply_to=decided.prompt_message_id,
            context={**base, "round": decided, "reviewer": reviewer, "version": version, "ask_meeting": False}),
            None),
        "review_prompt": lambda: (mail_values(
            settings, secret=SECRET, key="prompt:6", kind="review_prompt", to=to_reviewer, report_id=1,
            attachment=Attachment(version.filename, version.content), attachment_version_id=1,
            context={**base, "round": opened, "reviewer": reviewer, "version": version, "due": date(2026, 12, 28),
                     "reply_code": "K7M2QX", "seen_version": None, "changes": [], "returned_round": None,
                     "returned_by": None, "check_warnings": []}), Attachment(version.filename, version.content)),
        "kickoff": lambda: (mail_values(
            settings, secret=SECRET, key="kickoff:1:4", kind="kickoff", to=to_drafter, report_id=1, attachment=kit,
            context={**base, "due": date(2026, 12, 21), "schedule": schedule, "drafter": drafter}), kit),
    }


def main(count: int = COUNT) -> dict:
    os.environ.update(REPORTCHAIN_MAIL_FROM=f"fzb@{DOMAIN}", REPORTCHAIN_MAIL_FROM_NAME="青山县委依法治县办",
                      REPORTCHAIN_REPLY_TO=f"reply@{DOMAIN}")
    settings = load_settings()
    kinds, problems = {}, []
    for kind, compose in mails(settings).items():
        compose()  # templates loaded and compiled before the clock starts
        started = time.perf_counter()
        written = [compose() for _ in range(count)]
        seconds = time.perf_counter() - started
        rows = [(SimpleNamespace(**values), attachment) for values, attachment in written]
        started = time.perf_counter()
        fast = [fast_message(settings, row, attachment) for row, attachment in rows]
        fast_seconds = time.perf_counter() - started
        started = time.perf_counter()
        reference = [build_message(settings, row, attachment).as_bytes(policy=SMTP) for row, attachment in rows]
        reference_seconds = time.perf_counter() - started
        if fast.count(None):
            problems.append(f"{kind}: {fast.count(None)} of {count} mails outside the fast path")
        for i in range(0, count, max(1, count // SAMPLED)):
            if fast[i] is not None and summary(parsed(fast[i])) != summary(parsed(reference[i])):
                problems.append(f"{kind}: mail {i} does not parse back as the email package's")
        kinds[kind] = {
            "ms_per_mail": round(seconds * 1000 / count, 3),
            "bytes_ms_per_mail": round(fast_seconds * 1000 / count, 3),
            "baseline": "the same rows' bytes written by the email package (build_message, policy SMTP)",
            "baseline_bytes_ms_per_mail": round(reference_seconds * 1000 / count, 3),
            "ratio": round(reference_seconds / fast_seconds, 1),
            "mail_bytes": len(written[0][0]["raw"]),
        }
        print(f"bench.compose {kind}: {kinds[kind]['ms_per_mail']:.3f} ms a mail (its bytes "
              f"{kinds[kind]['bytes_ms_per_mail']:.3f} ms, the email package's "
              f"{kinds[kind]['baseline_bytes_ms_per_mail']:.3f} ms)", file=sys.stderr)
    return {"benchmark": "compose", "mails_per_kind": count, "kinds": kinds, "problems": problems,
            "machine": {"cpus": os.cpu_count()}}


if __name__ == "__main__":
    result = main(*(int(a) for a in sys.argv[1:2]))
    record(result)
    if result["problems"]:
        fail("compose", "; ".join(result["problems"]))
