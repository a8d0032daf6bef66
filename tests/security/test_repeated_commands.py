"""Attacks by repetition: a command run twice (shell history, two terminals) or a year typed wrong must
not move a report further than its user meant. Each is refused with a Chinese message and changes nothing."""

from __future__ import annotations

import threading
from datetime import date

import pytest
import typer
from sqlmodel import select

import flows.decisions
from models.tables import AuditEvent, OutboxMessage, ReviewRound
from notifications.mailbox import FolderInbox
from reportchain import cli as cli_module
from reportchain.cli.common import user_errors
from services.replies import intake
from tests.conftest import report_of, write_draft
from tests.drafts import DRAFT, report_text
from tests.replies_kit import drop, reply_to
from tests.test_cli import advance, cli, mail_files, ok, refused, stage_of, stored


def mails_of(session, kind: str) -> list[OutboxMessage]:
    session.expire_all()
    return list(session.exec(select(OutboxMessage).where(OutboxMessage.kind == kind)))


# --- decide: a decision names the stage it decides ----------------------------------------------------

def test_decide_approve_run_twice_does_not_approve_the_committee_review(county, settings, tmp_path):
    advance(tmp_path, "legal_review")
    said = ok(cli("decide", "R-2026-001", "approve", "--stage", "legal_review"))
    assert "报告现处于“党委审议”环节" in said
    before = stored(settings)
    again = cli("decide", "R-2026-001", "approve", "--stage", "legal_review")  # the same line from shell history
    refused(again, "R-2026-001 的法律顾问审核已于")
    assert "记录为“同意”（电话告知）" in again.output and "现在等待党委审议" in again.output
    assert "--stage committee_review" in again.output
    assert stored(settings) == before
    assert stage_of("R-2026-001") == "committee_review"


def test_decide_without_a_stage_is_refused_and_says_what_the_report_waits_for(county, settings, tmp_path):
    advance(tmp_path, "legal_review")
    before = stored(settings)
    result = cli("decide", "R-2026-001", "approve")  # the old form, e.g. from shell history
    refused(result, "请用 --stage 写明")
    assert "现在等待法律顾问审核（--stage legal_review）" in result.output
    assert stored(settings) == before


def test_decide_naming_a_stage_the_report_has_not_reached_is_refused(county, settings, tmp_path):
    advance(tmp_path, "legal_review")
    before = stored(settings)
    refused(cli("decide", "R-2026-001", "approve", "--stage", "committee_review"),
            "R-2026-001 还没有进行党委审议，现在等待法律顾问审核")
    refused(cli("decide", "R-2026-001", "approve", "--stage", "filing"), "“filing”不是审核环节")
    assert stored(settings) == before


def test_decide_return_run_twice_is_refused_the_second_time(county, settings, session, tmp_path):
    advance(tmp_path, "legal_review")
    args = ("decide", "R-2026-001", "return", "--stage", "法律顾问审核", "--comment", "请补充原因分析")  # a label
    ok(cli(*args))
    before = stored(settings)
    refused(cli(*args), "记录为“退回”（电话告知），现在等待起草")
    assert stored(settings) == before and len(mails_of(session, "returned")) == 1


def test_a_return_repeated_after_the_revised_draft_arrived_does_not_return_the_new_round(county, settings,
                                                                                          tmp_path):
    advance(tmp_path, "legal_review")
    args = ("decide", "R-2026-001", "return", "--stage", "legal_review", "--comment", "请补充原因分析")
    ok(cli(*args))
    ok(cli("draft", "submit", "yehe", write_draft(tmp_path, "修改稿.md", DRAFT.replace("3次", "4次"))))
    before = stored(settings)
    refused(cli(*args), "法律顾问审核现在是第2轮（此前的轮次已有结论），本次未作改动。如确是对第2轮作出决定，"
                        "请写 --round 2")
    refused(cli(*args, "--round", "1"), "现在是第2轮，不是第1轮")
    assert stored(settings) == before
    assert "报告现处于“党委审议”环节" in ok(cli("decide", "R-2026-001", "approve", "--stage", "legal_review",
                                                "--round", "2"))


def test_a_phone_decision_is_audited_with_its_stage_and_the_phone(county, settings, session, tmp_path):
    advance(tmp_path, "legal_review")
    ok(cli("decide", "R-2026-001", "approve", "--stage", "legal_review", "--by", "吴协调"))
    session.expire_all()
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "approve")).one()
    assert (event.from_stage, event.actor, event.detail["via"]) == ("legal_review", "吴协调", "phone")
    assert "法律顾问审核 → 党委审议" in cli("history", "R-2026-001").output


def test_two_terminals_deciding_at_once_let_exactly_one_through(county, settings, session, tmp_path, monkeypatch,
                                                                capsys):
    advance(tmp_path, "legal_review")
    both_found_the_round = threading.Barrier(2, timeout=30)
    record = flows.decisions.record_decision

    def at_the_same_moment(*args, **kwargs):
        both_found_the_round.wait()
        return record(*args, **kwargs)

    monkeypatch.setattr(flows.decisions, "record_decision", at_the_same_moment)
    exits: list[int] = []

    def terminal(decision: str, comment: str) -> None:
        try:
            with user_errors():  # what the installed command wraps every command in
                cli_module.decide("R-2026-001", decision, stage="legal_review", comment=comment, by=None, dry=False)
            exits.append(0)
        except typer.Exit as exc:
            exits.append(exc.exit_code)

    threads = [threading.Thread(target=terminal, args=args) for args in (("approve", ""), ("return", "请修改"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(exits) == [0, 1]
    said = capsys.readouterr().err  # the other terminal is told, with the report's number: by the version check,
    assert any(words in said for words in (  # or, had it looked a moment later, by the round's decision or stage
        "报告 R-2026-001 刚刚被其他操作更新", "报告 R-2026-001 的本轮审核已有结论", "报告 R-2026-001 已进入")), said
    session.expire_all()
    [decided] = session.exec(select(ReviewRound).where(ReviewRound.decision.is_not(None))).all()
    assert stage_of("R-2026-001") == {"approve": "committee_review", "return": "drafting"}[decided.decision]
    assert len(mails_of(session, "receipt")) == 1


# --- cycle open: a past or far-off year needs to be meant ---------------------------------------------

@pytest.fixture
def in_may_2028(monkeypatch):
    monkeypatch.setattr("services.cycle.today_in", lambda timezone: date(2028, 5, 10))


def test_cycle_open_for_a_year_already_past_needs_the_confirmation_flag(county, settings, in_may_2028):
    before = stored(settings)
    result = cli("cycle", "open", 2026)
    refused(result, "2026年度的报告周期已经结束")
    assert "--confirm-year" in result.output
    assert stored(settings) == before
    assert "新建报告 13 份" in ok(cli("cycle", "open", 2026, "--confirm-year"))


def test_cycle_open_for_a_year_far_ahead_needs_the_confirmation_flag(county, settings, in_may_2028):
    before = stored(settings)
    refused(cli("cycle", "open", 2082), "2082年度还远未开始")
    assert stored(settings) == before
    assert "新建报告 13 份" in ok(cli("cycle", "open", 2029))  # next year's cycle may be prepared early


@pytest.mark.parametrize(("today", "year"), [(date(2026, 12, 1), 2026), (date(2027, 3, 20), 2026),
                                             (date(2027, 11, 20), 2027)])
def test_cycle_open_for_the_cycle_under_way_needs_no_flag(county, settings, monkeypatch, today, year):
    monkeypatch.setattr("services.cycle.today_in", lambda timezone: today)
    assert "新建报告 13 份" in ok(cli("cycle", "open", year))


def test_cycle_open_run_twice_sends_no_second_kickoff(county, settings):
    ok(cli("cycle", "open", 2026))
    files = mail_files(settings)
    assert len(files) == 13
    assert "新建报告 0 份，待发启动通知 0 封" in ok(cli("cycle", "open", 2026))
    assert mail_files(settings) == files


# --- a draft naming another unit is held, not sent to review ------------------------------------------

def test_a_draft_naming_another_unit_is_held_like_a_content_error(county, settings, session, tmp_path):
    ok(cli("cycle", "open", 2026))
    path = write_draft(tmp_path, "上社镇报告.md", DRAFT)  # 野鹤镇's report, submitted for 上社镇
    said = cli("draft", "submit", "上社镇", path)
    assert said.exit_code == 1 and "暂未送法律顾问审核" in said.output and "野鹤镇" in said.output
    assert stage_of("R-2026-002") == "drafting"
    [problems] = mails_of(session, "draft_problems")
    assert "liqiang@" in problems.to_addrs and "请确认是否为本单位的报告" in problems.body_text
    assert not mails_of(session, "review_prompt")
    assert "已按统筹协调人决定送审" in ok(cli("draft", "accept", "R-2026-002", "--by", "吴协调"))
    assert stage_of("R-2026-002") == "legal_review"


def test_a_mailed_draft_naming_another_unit_is_held_and_explained(session, settings, county):
    from services.cycle import open_cycle

    open_cycle(session, settings, 2026)
    session.commit()
    kickoff = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "kickoff",
                                                       OutboxMessage.to_addrs.contains("liqiang@"))).one()
    drop(settings.inbox_folder, reply_to(kickoff, "李强 <liqiang@shangshe.qingshan.example.gov.cn>", "初稿见附件。",
                                         attachments=(("报告.md", report_text("松源镇").encode()),)))
    intake(session, settings, FolderInbox(settings.inbox_folder))
    assert report_of(session, county["shangshe"]).stage == "drafting"
    [problems] = mails_of(session, "draft_problems")
    assert "松源镇" in problems.body_text and not mails_of(session, "review_prompt")

