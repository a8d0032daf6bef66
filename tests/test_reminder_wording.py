"""The reminder mails the sweep writes in bulk read exactly as the templates wrote them one mail at a time.

services/reminders.py renders each item's line and each mail's subject once per sweep (`Wording`) and lets
the text and HTML parts share them. This compares the mails of three sweeps (bench.sweep's data at 120
reports, some waiting to be filed, some filed and some cleared by their confidentiality review, some
unit and person names carrying HTML's special characters; on the drafting due date and near the filing
and disclosure dates) with those the templates rendered one mail at a time before that change, kept in
tests/data/reminder_mails.json: recipients, threading, subject, text body and the HTML body's SHA-256,
byte for byte. After a deliberate change of the reminder's wording, write the file again with
`REGENERATE=1 .venv/bin/pytest tests/test_reminder_wording.py` and review its diff.
"""

from __future__ import annotations

import hashlib
import json
import os

from sqlalchemy import update
from sqlmodel import Session, select

from bench.sweep import NOW, TZ, populate
from core.settings import PROJECT_ROOT, load_settings
from models.chain import Stage
from models.db import get_engine, upgrade_database
from models.reminders import plan_sweep
from models.tables import OutboxMessage, Person, Report, Unit
from services.reminders import write_plan

GOLDEN = PROJECT_ROOT / "tests" / "data" / "reminder_mails.json"
FIELDS = ("to_addrs", "report_id", "in_reply_to", "subject", "body_text")  # and the HTML part's SHA-256
HOSTILE = ' <b>&amp;"\'</b> & <script>'
MOMENTS = (NOW, NOW.replace(year=2027, month=1, day=27), NOW.replace(year=2027, month=3, day=26))  # due dates near:
# drafting, filing (31 Jan) and disclosure (31 Mar)


def sweep_mails(tmp_path, monkeypatch) -> tuple[dict[str, dict], list[str]]:
    """The reminders of the sample sweep by key (the HTML part as its hash), and their HTML parts."""
    url = f"sqlite:///{tmp_path / 'wording.db'}"
    for name, value in {"DATABASE_URL": url, "MAIL_FOLDER": str(tmp_path / "mail"), "SMTP_HOST": "",
                        "TIMEZONE": TZ}.items():
        monkeypatch.setenv(f"REPORTCHAIN_{name}", value)
    settings = load_settings()
    upgrade_database(url)
    engine = get_engine(url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            populate(session, 120)
            session.execute(update(Report).where(Report.id % 9 == 0).values(stage=Stage.FILING.value))
            # half the filed reports cleared by their confidentiality review: the coordinators publish them
            session.execute(update(Report).where(Report.stage == Stage.FILED.value, Report.id % 2 == 0)
                            .values(stage=Stage.CONFIDENTIALITY_REVIEW.value))
            for unit_id in (2, 3, 5, 8):  # townships whose names an HTML part must escape
                session.execute(update(Unit).where(Unit.id == unit_id).values(name=f"第{unit_id}号镇{HOSTILE}"))
            session.execute(update(Person).where(Person.id.in_([1, 2, 250])).values(name=f"协调员{HOSTILE}"))
            session.commit()
            for moment in MOMENTS:
                assert write_plan(session, settings, plan_sweep(session, moment, settings.timezone)) > 20
            rows = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "reminder")).all()
            return {row.idempotency_key: {**{field: getattr(row, field) for field in FIELDS},
                                          "html_sha256": hashlib.sha256(row.body_html.encode()).hexdigest()}
                    for row in rows}, [row.body_html for row in rows]
    finally:
        get_engine(url).dispose()


def test_the_sweeps_reminders_read_as_the_templates_wrote_them_one_by_one(tmp_path, monkeypatch):
    mails, html_parts = sweep_mails(tmp_path, monkeypatch)
    if os.environ.get("REGENERATE"):
        GOLDEN.write_text(json.dumps(mails, ensure_ascii=False, indent=1, sort_keys=True) + "\n")
    before = json.loads(GOLDEN.read_text())
    assert sorted(mails) == sorted(before)
    for key, mail in mails.items():
        assert mail == before[key], key
    texts = " ".join(m["subject"] + m["body_text"] for m in mails.values())
    for shape in ("以下事项已逾期，请您督促办理", "您负责统筹的单位中", "【请督办】", "另有", "提醒 1/", "待办提醒",
                  "督办提醒", "稿件请回复", "审核意见请分别", "请直接回复本邮件", "报送请执行",
                  "在名册中指定保密审查人", "在门户网站公开发布后，请登记公开网址：reportchain publish",
                  "公开发布并登记公开网址",
                  "报送截止日期为"):
        assert shape in texts, shape  # the sample has every kind of section
    htmls = " ".join(html_parts)
    assert HOSTILE in texts and HOSTILE in " ".join(m["subject"] for m in mails.values())
    assert "&lt;script&gt;" in htmls and "<script>" not in htmls
