"""`reportchain demo` — the product's main job on the embedded default — in a fresh process, as
`make demo` runs it: the county's units on four chains (examples/chains.yaml; its townships on two),
every sample report filed, its filing acknowledged by the upper level's 回执, cleared by its
confidentiality review (保密审查) by reply and published, one returned and resubmitted, the mails on disk."""

from __future__ import annotations

import email
import json
import os
import sqlite3
import subprocess
import sys
from email import policy
from pathlib import Path

from core.settings import PROJECT_ROOT
from models.tables import InboundOutcome

CLI = [sys.executable, "-m", "reportchain.cli"]


def test_the_demo_files_clears_and_publishes_every_sample_report_and_leaves_the_mails_in_the_folder(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REPORTCHAIN_", "PREFECT_API_URL"))}
    done = subprocess.run([*CLI, "demo", "--workdir", str(tmp_path)], capture_output=True, text=True,
                          env=env, cwd=PROJECT_ROOT, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "13 份报告全部报送，通过保密审查后公开发布" in done.stdout
    assert f"REPORTCHAIN_DATABASE_URL=sqlite:///{tmp_path / 'demo.db'} reportchain web" in done.stdout
    demo_console_accounts(f"sqlite:///{tmp_path / 'demo.db'}")

    env.update(REPORTCHAIN_DATABASE_URL=f"sqlite:///{tmp_path / 'demo.db'}")
    board = json.loads(subprocess.run([*CLI, "status", "--json"], capture_output=True, text=True, env=env,
                                      cwd=tmp_path, check=True).stdout)
    assert board["year"] == 2026
    assert len(board["reports"]) == 13
    assert {r["stage"] for r in board["reports"]} == {"published"}

    mails = [email.message_from_bytes(p.read_bytes(), policy=policy.default)
             for p in Path(tmp_path / "mail").glob("*.eml")]
    kinds = [m["X-Reportchain-Kind"] for m in mails]
    assert kinds.count("kickoff") == 13 and kinds.count("filing") == 13
    assert kinds.count("reminder") == 13 + 1  # 16 Dec: every drafter, and the county's digest, once
    # legal review for all but the scenic area (no advisor; one township's ran twice), the townships'
    # 政府常务会议, every committee, every confidentiality review
    assert kinds.count("review_prompt") == (12 + 1) + 4 + 13 + 13
    prompts = [str(m["Subject"]) for m in mails if m["X-Reportchain-Kind"] == "review_prompt"]
    government = [subject for subject in prompts if "政府常务会议" in subject]
    assert len(government) == 4 and all("镇" in subject or "白云乡" in subject for subject in government)
    assert kinds.count("ready_to_publish") == 13  # each unit's coordinator, once its review cleared it
    clearance = [m for m in mails if m["X-Reportchain-Kind"] == "review_prompt" and "保密审查" in str(m["Subject"])]
    assert len(clearance) == 13 and all("baomi" in m["To"] for m in clearance)
    [returned] = [m for m in mails if m["X-Reportchain-Kind"] == "returned"]
    assert "下社镇" in str(returned["Subject"])
    assert "请补充原因分析" in returned.get_body(("plain",)).get_content()

    # every decision came in as a reply; the unclear one was asked again, the auto-reply ignored
    with sqlite3.connect(tmp_path / "demo.db") as db:
        outcomes = dict(db.execute("SELECT outcome, count(*) FROM inboundmessage GROUP BY outcome").fetchall())
        via = {row[0] for row in db.execute("SELECT decided_via FROM reviewround")}
        published = db.execute("SELECT count(*) FROM report WHERE publication_url LIKE 'https://%'").fetchone()[0]
        chains = dict(db.execute("SELECT chain, count(*) FROM report GROUP BY chain").fetchall())
        acknowledged = db.execute("SELECT count(*) FROM report WHERE acknowledged_at IS NOT NULL").fetchone()[0]
    assert chains == {"township": 4, "default": 4, "department": 4, "no_advisor": 1}  # 清溪乡 on the default one
    assert outcomes == {InboundOutcome.APPLIED: 11 + 1 + 1 + 4 + 13 + 13, InboundOutcome.UNCLEAR: 1,
                        InboundOutcome.AUTO_REPLY: 1, InboundOutcome.NEW_VERSION: 1,
                        InboundOutcome.ACKNOWLEDGED: 13}
    assert acknowledged == 13
    assert via == {"email"} and published == 13
    assert kinds.count("clarify") == 1 and kinds.count("draft_received") == 1
    assert not list((tmp_path / "inbox").glob("*.eml"))  # every reply was taken in and moved to processed/


def demo_console_accounts(db_url: str) -> None:
    """`demo --serve`'s accounts: each signs in with the password printed for it, again after a re-run."""
    from sqlmodel import Session

    from models.db import get_engine
    from reportchain.demo import demo_accounts
    from services.accounts import authenticate

    demo_accounts(db_url)
    made = demo_accounts(db_url)  # a second --serve on the same database: new passwords, same accounts
    with Session(get_engine(db_url)) as session:
        assert [authenticate(session, login, password) is not None for _, login, password in made] == [True] * 3
