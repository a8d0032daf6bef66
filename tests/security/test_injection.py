"""Attacks by what users write: every mail kind and the public page, composed with hostile values in every
field a user controls, parsed as a browser would. Nothing a user wrote may become a tag, an attribute, a
script URL or a new header; it is still shown, as text; the plain-text part stays plain."""

from __future__ import annotations

import email
from datetime import UTC, date, datetime
from email import policy
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from core.settings import PROJECT_ROOT, Settings, load_settings
from core.texts import template_module
from documents.check import check
from documents.diff import changes
from documents.render import publication_html
from models.chain import DEFAULT_CHAIN, StageDef, StageKind
from models.deadlines import default_policy
from models.pending import Item
from models.reminders import Line, PersonMail
from models.tables import Cycle, InboundMessage, OutboxMessage, Person, Report, ReportVersion, ReviewRound, Unit
from notifications.outbox import compose
from services.reminders import Wording
from tests.drafts import report_text


def hostile(field: str) -> str:
    """A value that is markup in every way a mail client or a browser could read it."""
    return (f"{field}</title></p><script>alert('{field}')</script><img src=x onerror=alert(1)>"
            f"\"><svg onload=alert(1)><a href=\"javascript:alert(1)\">{field}</a>")


CRLF = "\r\nBcc: victim@evil.example\r\n\r\n<script>alert(1)</script>"

UNIT = Unit(id=1, code="u1", name=hostile("单位") + CRLF, kind="township", approval_body=hostile("党委会议"),
            filing_to="xw@qs.example.gov.cn")
REPORT = Report(id=1, ref="R-2026-001", unit_id=1, cycle_id=1, stage="legal_review")
CHAIN = tuple(StageDef(s.name, s.kind, s.actor, hostile("环节名称") + CRLF, hostile("角色名称"))
              if s.kind is StageKind.REVIEW else s for s in DEFAULT_CHAIN)  # a chain file's names are user data
CYCLE = Cycle(id=1, year=2026, policy=default_policy(2026).as_json())
PERSON = Person(id=1, name=hostile("人名") + CRLF, email="chen@lvshi.example.cn")
OLD = report_text("野鹤镇")
NEW = OLD.replace("全年审查规范性文件12件", "全年审查规范性文件12件" + hostile("正文改动"))
NEW = NEW.replace("无。", "无。\n" + hostile("新增段落"))
VERSION = ReportVersion(id=2, report_id=1, number=2, filename=hostile("文件名") + ".docx", content=b"x", text=NEW,
                        sha256="0" * 64, submitted_by="zw@qs.example.gov.cn")
SEEN = ReportVersion(id=1, report_id=1, number=1, filename="报告.md", content=b"x", text=OLD, sha256="1" * 64,
                     submitted_by="zw@qs.example.gov.cn")
RETURNED = ReviewRound(id=1, report_id=1, stage="legal_review", number=1, reviewer_id=1, version_id=1,
                       decision="return", comment=hostile("退回意见"), decided_at=datetime(2026, 12, 10, tzinfo=UTC))
ROUND = ReviewRound(id=2, report_id=1, stage="legal_review", number=2, reviewer_id=1, version_id=2,
                    decision="approve", comment=hostile("同意意见"), decided_at=datetime(2026, 12, 12, tzinfo=UTC))
INBOUND = InboundMessage(id=7, message_id="<x@qq.com>", raw=b"", source="folder:x.eml", decision="approve",
                         notice="correction",
                         from_address=hostile("发件人"), subject=hostile("来信主题") + CRLF)
FAILED = OutboxMessage(id=9, idempotency_key="k", message_id="<k@x>", kind="review_prompt", subject=hostile("原主题"),
                       to_addrs=hostile("收件人"), cc_addrs=hostile("抄送"), body_text="", body_html="",
                       last_error=hostile("服务器答复"))
FINDINGS = check(NEW.replace("野鹤镇", hostile("标题单位")), year=2026, unit="野鹤镇").as_json()["findings"]
ITEM = Item(key="round:2", report=REPORT, unit=UNIT, year=2026, stage="legal_review", due=date(2026, 12, 20),
            chain=CHAIN,
            actors=[PERSON], overdue=2, escalated=["supervisor", "coordinator"])
LINE = Line(item=ITEM, role="actor", step="overdue-1", position=4, total=6)
REMINDER = PersonMail(person=PERSON, own=[LINE], urge=[LINE], overview=[LINE],
                      filing=[{"year": 2026, "due": date(2027, 1, 20), "ahead": 3, "left": 2}], late=1, unlisted=3)

BASE = {"report": REPORT, "unit": UNIT, "cycle": CYCLE, "policy": default_policy(2026), "version": VERSION,
        "round": ROUND, "reviewer": PERSON, "drafter": PERSON, "due": date(2026, 12, 20), "chain": CHAIN}
CONTEXTS = {  # every mail kind, with what its flow gives it
    "kickoff": {"schedule": template_module("email/_schedule.j2", policy=default_policy(2026), due=date(2026, 12, 20),
                                           chain=CHAIN)},
    "review_prompt": {"reply_code": "ABC234", "seen_version": SEEN, "changes": changes(OLD, NEW),
                      "returned_round": RETURNED, "returned_by": PERSON,
                      "check_warnings": [f for f in FINDINGS if f["severity"] == "warning"]},
    "receipt": {"ask_meeting": True},
    "returned": {"round": RETURNED},
    "draft_problems": {"errors": [f for f in FINDINGS if f["severity"] == "error"],
                       "warnings": [f for f in FINDINGS if f["severity"] == "warning"]},
    "draft_received": {"problem": hostile("问题说明")},
    "clarify": {"comment": hostile("审核人原文")},
    "already_decided": {"sender_name": hostile("回信人"), "decided_at": "2026-12-12 10:00"},
    "reply_digest": {"person": PERSON, "day": date(2026, 12, 22), "items": [
        {"inbound": INBOUND, "report": REPORT, "unit": UNIT, "chain": CHAIN, "round": ROUND,
         "comment": hostile("对方原文"), "attachments": [hostile("附件名")]},
        {"inbound": INBOUND, "report": None, "unit": None, "chain": (), "round": None, "comment": "",
         "attachments": []}]},
    "filing": {},
    "ready_to_file": {"coordinator": PERSON},
    "auto_filed": {"coordinator": PERSON},
    "ready_to_publish": {"coordinator": PERSON, "reviewer": PERSON, "round": ROUND},
    "delivery_failed": {"mail": FAILED},
    "reminder": Wording(date(2026, 12, 22)).context(REMINDER),
}


@pytest.fixture
def settings(tmp_path, monkeypatch) -> Settings:
    """Composing needs no database: the defaults, read in an empty folder."""
    monkeypatch.chdir(tmp_path)
    return load_settings()


def test_every_mail_kind_has_a_hostile_context_here():
    kinds = {p.stem for p in (PROJECT_ROOT / "templates" / "email").glob("*.txt")}
    assert kinds == set(CONTEXTS), "a new mail kind needs its hostile context in this test"


def assert_inert(html: str, where: str) -> None:
    """No element or attribute came from user data, and what the users wrote is shown as text."""
    soup = BeautifulSoup(html, "html.parser")
    assert not soup.find_all(["script", "img", "svg", "iframe", "object", "a"]), where
    for tag in soup.find_all(True):
        for name, value in tag.attrs.items():
            assert not name.lower().startswith("on"), f"{where}: <{tag.name} {name}>"
            if name.lower() in ("href", "src", "action", "formaction", "xlink:href"):
                assert "javascript:" not in str(value).lower(), f"{where}: <{tag.name} {name}={value!r}>"
    assert "<script>alert(" in soup.get_text(), f"{where}: the hostile text is not shown"


@pytest.mark.parametrize("kind", sorted(CONTEXTS))
def test_hostile_names_comments_and_drafts_stay_text_in_every_mail(settings, kind):
    row = compose(settings, secret="test", key=f"{kind}:1", kind=kind, to=[PERSON.email], report_id=1,
                  context={**BASE, **CONTEXTS[kind]})
    assert_inert(row.body_html, kind)
    assert "<script>alert(" in row.body_text and "&lt;" not in row.body_text  # plain text, not HTML-escaped
    sent = email.message_from_bytes(row.raw, policy=policy.default)
    assert sent["Bcc"] is None and "victim@evil.example" not in str(sent["To"])  # no header from a name
    assert "\n" not in str(sent["Subject"])
    html_part = sent.get_body(("html",)).get_content()
    assert_inert(html_part, f"{kind} (as sent)")


def test_a_return_comment_and_a_draft_with_markup_stay_text_in_the_next_review_prompt(settings):
    """The attack as reported: the next prompt's HTML part showed the comment and the draft as markup."""
    row = compose(settings, secret="test", key="prompt:2", kind="review_prompt", to=[PERSON.email], report_id=1,
                  context={**BASE, **CONTEXTS["review_prompt"]})
    soup = BeautifulSoup(row.body_html, "html.parser")
    shown = soup.get_text()
    for field in ("退回意见", "正文改动", "新增段落"):
        assert f"<script>alert('{field}')</script>" in shown


def test_a_hostile_draft_stays_text_on_the_public_page(tmp_path: Path):
    text = report_text(hostile("单位"))
    text = text.replace("一、", "一、" + hostile("标题"), 1).replace("基层法治力量薄弱", hostile("段落"))
    page = publication_html(text, unit_name=hostile("落款单位"), year=2026, issued_on=date(2027, 1, 10))
    assert_inert(page, "publication page")
    shown = BeautifulSoup(page, "html.parser").get_text()
    assert all(f"<script>alert('{field}')</script>" in shown for field in ("标题", "段落", "单位"))
