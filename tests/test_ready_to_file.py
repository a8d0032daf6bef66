"""Ready to file is somebody's job: when the last review approves, the unit's coordinators are told the
report is ready to file (the command and the filing due date) and the status board names them; a county
that chose `auto_file` has the report filed at once, and its coordinators are told it went out."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlmodel import select

from core.settings import PROJECT_ROOT
from flows import run
from flows.decisions import record_decision_flow
from models.tables import Cycle, OutboxMessage, Report, ReviewRound
from notifications.mailbox import FolderInbox
from services.board import status
from services.cycle import change_policy
from services.reminders import sweep
from services.replies import intake
from services.stages import open_round_of
from tests.conftest import report_of
from tests.replies_kit import drop, prompt_of, reply_to, to_legal_review
from tests.test_cli import advance, board, cli, mail_subjects, ok, refused, stored
from tests.test_reminders import at

ADVISOR = "陈律师 <chen.lawyer@lvshi-a.example.cn>"
COMMITTEE = "刘芳 <party-yehe@qingshan.example.gov.cn>"
COORDINATOR = "吴协调 <yfzx@qingshan.example.gov.cn>"


def mails(session, kind: str) -> list[OutboxMessage]:
    session.expire_all()
    return list(session.exec(select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)))


def set_policy(session, **changes) -> None:
    cycle = session.exec(select(Cycle).where(Cycle.year == 2026)).one()
    change_policy(session, cycle, changes, "吴协调")
    session.commit()


def approve_by_reply(session, settings, report, reviewer: str, text: str) -> None:
    """The open round's reviewer answers its prompt, and the intake reads the inbox."""
    drop(settings.inbox_folder, reply_to(prompt_of(session, open_round_of(session, report)), reviewer, text))
    intake(session, settings, FolderInbox(settings.inbox_folder))


def committee_approves_by_reply(session, settings, report) -> OutboxMessage:
    """The legal advisor, then the committee's contact approve by reply; the committee's prompt."""
    approve_by_reply(session, settings, report, ADVISOR, "同意。")
    prompt = prompt_of(session, open_round_of(session, report))
    approve_by_reply(session, settings, report, COMMITTEE, "同意。经镇党委会议审议通过。")
    session.expire_all()
    return prompt


def test_a_committee_approval_by_reply_tells_the_coordinator_once_with_the_command_and_the_due_date(
        session, settings, yehe):
    report, _, _ = yehe
    set_policy(session, filing="2027-01-22")
    prompt = committee_approves_by_reply(session, settings, report)
    assert session.get(Report, report.id).stage == "filing"
    [ready] = mails(session, "ready_to_file")
    assert ready.to_addrs == COORDINATOR
    assert ready.subject.startswith("[#R-2026-001]") and "野鹤镇" in ready.subject
    for part in (ready.body_text, ready.body_html):
        assert "reportchain file R-2026-001" in part
        assert "2027年1月22日" in part
        assert "第1稿" in part

    # a second approval of the decided round, and the intake run again: nothing is told twice
    drop(settings.inbox_folder, reply_to(prompt, COMMITTEE, "同意。"))
    intake(session, settings, FolderInbox(settings.inbox_folder))
    intake(session, settings, FolderInbox(settings.inbox_folder))
    assert len(mails(session, "ready_to_file")) == 1


def test_the_status_board_names_the_coordinator_of_a_report_waiting_to_be_filed(session, settings, yehe):
    report, _, _ = yehe
    set_policy(session, filing="2027-01-22")
    committee_approves_by_reply(session, settings, report)
    [row] = [r for r in status(session, 2026, date(2027, 1, 5))["reports"] if r["ref"] == report.ref]
    assert (row["stage"], row["waiting_on"], row["due"], row["overdue"]) == ("filing", ["吴协调"], "2027-01-22",
                                                                           False)


def test_running_the_decision_flow_again_tells_nobody_twice(session, settings, yehe):
    report, _, _ = yehe
    prompt = committee_approves_by_reply(session, settings, report)
    rnd = session.exec(select(ReviewRound).where(ReviewRound.prompt_message_id == prompt.message_id)).one()
    result = run(record_decision_flow.fn(rnd.id, "approve", via="phone", actor="吴协调"))
    assert result == dict(ref=report.ref, applied=False, stage="filing")
    assert len(mails(session, "ready_to_file")) == 1


def test_a_committee_approval_by_the_decide_command_mails_the_coordinator_once(county, settings, tmp_path):
    advance(tmp_path, "committee_review")
    ok(cli("deadlines", "set", "filing=2027-01-22"))
    ok(cli("decide", "R-2026-001", "approve", "--stage", "committee_review"))
    ready = [s for s in mail_subjects(settings) if "待报送" in s]
    assert len(ready) == 1 and ready[0].startswith("[#R-2026-001]")
    [row] = [r for r in board()["reports"] if r["ref"] == "R-2026-001"]
    assert (row["stage"], row["waiting_on"], row["due"]) == ("filing", ["吴协调"], "2027-01-22")

    before = stored(settings)
    refused(cli("decide", "R-2026-001", "approve", "--stage", "committee_review"), "本次未作改动")
    assert stored(settings) == before


def test_a_report_waiting_to_be_filed_is_in_its_coordinators_reminder_once_with_the_command(
        session, settings, yehe):
    report, _, _ = yehe
    set_policy(session, filing="2027-01-22", drafting="2027-01-29")  # the other reports are not due yet
    committee_approves_by_reply(session, settings, report)
    sweep(session, settings, at("2027-01-22T09:00"))  # the filing date
    [mail] = [m for m in mails(session, "reminder") if "yfzx@qingshan.example.gov.cn" in m.to_addrs]
    assert "以下年度报告事项需要您办理：\n  1. [#R-2026-001] 野鹤镇2026年度报告：报送上级" in mail.body_text
    assert mail.body_text.count("[#R-2026-001]") == 1  # not again in the overview
    assert "reportchain file R-2026-001" in mail.body_text


@pytest.mark.parametrize("how", ["reply", "decide"])
def test_with_auto_file_the_approval_files_at_once_and_the_coordinator_is_told_it_went_out(
        session, settings, county, tmp_path, monkeypatch, how):
    if how == "decide":
        advance(tmp_path, "committee_review")
        ok(cli("deadlines", "set", "auto_file=是"))
        ok(cli("decide", "R-2026-001", "approve", "--stage", "committee_review"))
        assert [r["stage"] for r in board()["reports"] if r["ref"] == "R-2026-001"] == ["confidentiality_review"]
    else:  # the county's policy file says so
        policy = tmp_path / "deadlines.yaml"
        policy.write_text((PROJECT_ROOT / "examples" / "deadlines.yaml").read_text(encoding="utf-8")
                          .replace("auto_file: false", "auto_file: true"), encoding="utf-8")
        monkeypatch.setenv("REPORTCHAIN_DEADLINES_FILE", str(policy))
        ok(cli("cycle", "open", 2026))
        report = report_of(session, county["yehe"])
        to_legal_review(session, settings, report)
        committee_approves_by_reply(session, settings, report)
        assert session.get(Report, report.id).stage == "filing"  # until the filing mail is delivered
    [filing] = mails(session, "filing")
    assert filing.to_addrs == "xianwei-ban@qingshan.example.gov.cn"
    assert mails(session, "ready_to_file") == []
    [told] = mails(session, "auto_filed")
    assert told.to_addrs == COORDINATOR
    assert "xianwei-ban@qingshan.example.gov.cn" in told.body_text
    # the next step is the confidentiality review, not publication: nothing to publish yet
    assert "保密审查人回复“同意公开”后，您会收到通知" in told.body_text
    assert "reportchain publish" not in told.body_text and "--confidentiality-reviewed" not in told.body_text


def test_auto_file_is_off_unless_a_county_turns_it_on_and_deadlines_show_says_which(county, settings):
    ok(cli("cycle", "open", 2026))
    assert json.loads(ok(cli("deadlines", "show", "--json")))["policy"]["auto_file"] is False
    assert "审议通过后通知统筹协调人报送" in ok(cli("deadlines", "show"))
    ok(cli("deadlines", "set", "auto_file=是"))
    assert json.loads(ok(cli("deadlines", "show", "--json")))["policy"]["auto_file"] is True
    assert "审议通过后自动报送上级" in ok(cli("deadlines", "show"))


@pytest.mark.parametrize("command", [["deadlines", "set", "auto_file=maybe"],
                                     ["cycle", "open", 2026, "--set", "auto_file=maybe"]])
def test_an_auto_file_value_that_is_not_yes_or_no_is_refused_and_nothing_is_stored(county, settings, command):
    if command[0] == "deadlines":
        ok(cli("cycle", "open", 2026))
    before = stored(settings)
    refused(cli(*command), "“auto_file”应为“是”或“否”（true/false），“maybe”不可用。")
    assert stored(settings) == before
