"""Attacks on the decision grammar (issue 11 §1): words that are not a present, unconditional approval by
the writer must never approve. The phrase table (decision_phrases.yaml) holds what reviewers really write,
each with its reading; the twenty phrases the issue found read as approvals are named tests here, and a few
are proven on whole messages through `reportchain replies parse` and through mail intake."""

from __future__ import annotations

import json
from email.message import EmailMessage
from pathlib import Path

import pytest
import yaml
from hypothesis import assume, given
from hypothesis import strategies as st
from sqlmodel import select
from typer.testing import CliRunner

from models.tables import InboundOutcome, OutboxMessage, Report
from notifications.decision import UNCLEAR, read_decision, tokens
from notifications.mailbox import FolderInbox
from reportchain.cli import app
from services.replies import intake
from tests.properties import budget
from tests.replies_kit import drop, reply_to

PHRASES: list[dict] = yaml.safe_load((Path(__file__).with_name("decision_phrases.yaml")).read_text(encoding="utf-8"))
KINDS = {"approve": "approve", "approve_with_remarks": "approve", "return": "return", "adversarial": None}
ADVISOR = "陈律师 <chen.lawyer@lvshi-a.example.cn>"

# The phrases of issue 11 §1, each named for the attack it tries.
ISSUE_ATTACKS = {
    "approval_beside_a_demand_to_rewrite_and_resubmit": "同意，不过第三部分要重写后再报",
    "approval_after_changes_short_form": "改后同意",
    "approval_after_a_rewrite": "重写后同意",
    "approval_with_after_revision_in_brackets": "同意（修改后）",
    "leaders_approval_then_submit": "领导同意后再报",
    "wait_for_the_leaders_approval": "等领导同意了再说",
    "if_the_leader_approves": "如领导同意即可上报",
    "approval_deferred_until_i_ask_my_superior": "同意，等我请示后再定",
    "provisional_approval_pending_the_leader": "暂时同意，待领导定",
    "do_not_submit_yet_i_will_reply_if_i_approve": "先不要报，同意的话我会再回复",
    "if_i_approve_i_will_reply_again": "同意的话我再回复您",
    "undecided_leaning_to_approve": "待定，倾向同意",
    "whether_to_approve_is_undecided": "同意与否待定",
    "rhetorical_who_said_i_approved": "谁说我同意了",
    "future_approval_not_now": "我会同意的，但不是现在",
    "vote_count_with_approve_label": "同意票：0，反对票：3",
    "sarcastic_approval": "同意个屁",
    "english_approve_after_revision": "approve after revision",
    "english_approve_once_fixed": "approve once fixed",
    "english_can_be_approved_after_changes": "can be approved after changes",
}


def test_the_phrase_table_is_large_and_covers_every_kind_in_both_languages():
    assert len(PHRASES) >= 300
    assert {p["kind"] for p in PHRASES} == set(KINDS)
    for p in PHRASES:
        assert set(p) <= {"kind", "expected", "text", "issue"}, p
        assert KINDS[p["kind"]] in (p["expected"], None), p
        assert p["kind"] != "adversarial" or p["expected"] in (UNCLEAR, "return"), p
    for kind in KINDS:
        texts = [p["text"] for p in PHRASES if p["kind"] == kind]
        assert any(t.isascii() and t.strip() for t in texts) and any(not t.isascii() for t in texts), kind
    assert len({p["text"] for p in PHRASES}) == len(PHRASES), "a phrase listed twice"
    assert {p["text"] for p in PHRASES if p.get("issue")} == set(ISSUE_ATTACKS.values())


@pytest.mark.parametrize("phrase", PHRASES, ids=[f"{p['kind']}-{i:03d}" for i, p in enumerate(PHRASES)])
def test_every_phrase_in_the_table_is_read_as_expected(phrase):
    assert read_decision(phrase["text"]) == phrase["expected"], phrase["text"]


def test_no_phrase_that_is_not_an_approval_is_read_as_one():
    not_approvals = [p["text"] for p in PHRASES if p["expected"] != "approve"]
    assert len(not_approvals) >= 250
    assert [text for text in not_approvals if read_decision(text) == "approve"] == []


@pytest.mark.parametrize("text", list(ISSUE_ATTACKS.values()), ids=list(ISSUE_ATTACKS))
def test_the_issues_non_approvals_do_not_approve(text):
    assert read_decision(text) != "approve"


# A doubt of each kind; whatever approval it stands beside, in whichever order, the reply is no approval.
DOUBT_PHRASES = [
    "如果数据无误", "修改后", "待定", "先不要报", "领导同意", "我会同意的", "应该没问题", "吗？", "?", "谁说", "个屁",
    "同意票：2", "的话", "暂时", "倾向同意", "等我请示后再定", "上一稿", "if the data is right", "once fixed",
    "after revision", "not yet", "pending", "yeah right", "the director approved", "I would approve", "votes: 2",
]
# (a correction replaces whatever came before it, a doubt included: approvals that carry one are left out)
APPROVALS = [p["text"] for p in PHRASES
             if p["expected"] == "approve" and not any(t.kind == "correction" for t in tokens(p["text"]))]


@budget(400)
@given(approval=st.sampled_from(APPROVALS), doubt=st.sampled_from(DOUBT_PHRASES), doubt_first=st.booleans(),
       sep=st.sampled_from(["", " ", "，", "。", "\n", "; ", ", "]))
def test_an_approval_beside_any_doubt_is_never_an_approval(approval, doubt, doubt_first, sep):
    first, second = (doubt, approval) if doubt_first else (approval, doubt)
    assume(sep or not (first[-1:].isascii() and first[-1:].isalpha() and second[:1].isascii() and second[:1].isalpha()))
    text = first + sep + second  # English words are never glued together ("not yetapproved")
    assert read_decision(text) != "approve", text


# ---------------------------------------------------------------- whole messages


def reply_eml(text: str) -> bytes:
    """A reviewer's QQ Mail reply: `text` on top, our prompt (which offers 同意 and 退回) quoted below."""
    msg = EmailMessage()
    msg["From"] = ADVISOR
    msg["To"] = "青山县委依法治县办 <fzb@qingshan.example.gov.cn>"
    msg["Subject"] = "回复：[#R-2026-003] 请审核：野鹤镇2026年度法治政府建设年度报告（第1稿，法律顾问审核）"
    msg["Message-ID"] = "<attack@qq.com>"
    msg["In-Reply-To"] = "<rc.0f3a9c1e5b7d4a2c8e6f1a3b5c7d9e0f@qingshan.example.gov.cn>"
    msg.set_content(text + "\n\n------------------ 原始邮件 ------------------\n"
                    "发件人: \"青山县委依法治县办\"<fzb@qingshan.example.gov.cn>;\n"
                    "主题: [#R-2026-003] 请审核：野鹤镇2026年度法治政府建设年度报告\n\n"
                    "请于12月31日前直接回复本邮件：\n  同意 —— 回复“同意”；\n  退回 —— 回复“退回”。\n审核码：K7QM2P\n")
    return msg.as_bytes()


def parsed(tmp_path: Path, text: str) -> dict:
    path = tmp_path / "reply.eml"
    path.write_bytes(reply_eml(text))
    result = CliRunner().invoke(app, ["replies", "parse", str(path), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("name", ["approval_beside_a_demand_to_rewrite_and_resubmit", "leaders_approval_then_submit",
                                  "provisional_approval_pending_the_leader", "english_approve_once_fixed",
                                  "vote_count_with_approve_label"])
def test_replies_parse_reads_the_issues_non_approvals_as_unclear_in_a_whole_mail(tmp_path, name):
    got = parsed(tmp_path, ISSUE_ATTACKS[name])
    assert got["decision"] == UNCLEAR
    assert got["comment"] == ISSUE_ATTACKS[name]  # the quoted 同意 below is not the reviewer's


def test_replies_parse_still_approves_an_approval_with_remarks_and_keeps_the_remarks(tmp_path):
    got = parsed(tmp_path, "原则同意，另有个别错别字见附件。")
    assert (got["decision"], got["comment"]) == ("approve", "原则同意，另有个别错别字见附件。")


@pytest.mark.parametrize("text", ["改后同意", "等领导同意了再说", "approve after revision"])
def test_a_conditional_approval_by_mail_leaves_the_report_in_review_and_asks_again(session, settings, yehe, text):
    report, rnd, prompt = yehe
    drop(settings.inbox_folder, reply_to(prompt, ADVISOR, text))
    assert intake(session, settings, FolderInbox(settings.inbox_folder)).outcomes == {InboundOutcome.UNCLEAR: 1}
    session.expire_all()
    assert session.get(Report, report.id).stage == "legal_review"
    answers = session.exec(select(OutboxMessage).where(OutboxMessage.in_reply_to == prompt.message_id))
    sent = {m.kind: m for m in answers}
    assert "receipt" not in sent
    assert "chen.lawyer@" in sent["clarify"].to_addrs
