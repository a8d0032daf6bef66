"""The committee meeting that approved a report, and the upper level's acknowledgement of its filing.

The meeting (approval body, day, minutes number) is read from the committee's approval reply when it names
it plainly — a future, impossible or unlinked date is not taken, and reading it never changes the decision —
else the receipt asks for it and the contact's answer records it, or a coordinator sets it (CLI, console).
The filing mail prints it, the history shows it. An answer to the filing mail acknowledges the filing only
when it is threaded under that mail and comes from the unit's filing addresses; once, with its day; the board
marks a filing still unacknowledged after the cycle's `acknowledgement` working days.
"""

from __future__ import annotations

from datetime import date, timedelta
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from sqlmodel import select

from core.settings import load_settings
from documents.meeting import Meeting, read_meeting
from models.calendar import load_calendar
from models.db import utcnow
from models.deadlines import local_day
from models.tables import AuditEvent, InboundMessage, InboundOutcome, OutboxMessage, Report
from notifications.mailbox import FolderInbox
from services.board import rows, status
from services.delivery import deliver_all
from services.filing import file_report
from services.replies import intake
from tests.replies_kit import drop, reply_to
from tests.test_cli import cli, ok, refused
from tests.test_ready_to_file import ADVISOR, COMMITTEE, approve_by_reply, mails, set_policy

UPPER = "县委办 <xianwei-ban@qingshan.example.gov.cn>"  # 野鹤镇's filing_to
TODAY = date(2027, 1, 5)
NOT_ADDRESSEE = InboundOutcome.NOT_FILING_ADDRESSEE


# ---------------------------------------------------------------- reading the words


@pytest.mark.parametrize(("text", "on", "minutes"), [
    ("同意。经2026年12月28日镇党委会议审议通过。", date(2026, 12, 28), None),
    ("同意。经二〇二六年十二月二十八日镇党委会议审议通过", date(2026, 12, 28), None),
    ("同意，12月28日党委会上研究通过", date(2026, 12, 28), None),
    ("2026年12月28日，镇党委会议审议通过。同意", date(2026, 12, 28), None),
    ("同意，2026年第12次党委会研究通过", None, "2026年第12次党委会"),
    ("同意。会议纪要〔2026〕15号", None, "纪要〔2026〕15号"),
    ("同意，2026年第12次党委会研究通过，纪要〔2026〕15号。", None, "纪要〔2026〕15号"),
    ("会议时间：2026-12-28，纪要号：2026-15。同意", date(2026, 12, 28), "2026-15"),
])
def test_the_meeting_is_read_as_contacts_write_it(text, on, minutes):
    assert read_meeting(text, TODAY) == Meeting(on, minutes)


@pytest.mark.parametrize("text", [
    "同意",
    "经党委会议审议通过",  # no day, no number
    "同意。经2027年2月28日党委会议审议",  # ahead of today
    "经2026年2月30日党委会议审议同意",  # no such day
    "请于2026年12月30日前报送。同意。",  # a day, but not a meeting's
    "经2026年12月28日党委会议和2026年12月29日党委会议审议",  # two meetings: which?
    "纪要〔2026〕15号、纪要〔2026〕16号",
])
def test_a_date_that_is_no_meeting_day_or_unclear_is_not_taken(text):
    assert read_meeting(text, TODAY) is None


# ---------------------------------------------------------------- by reply


def to_committee(session, settings, report) -> None:
    approve_by_reply(session, settings, report, ADVISOR, "同意。")


def committee_says(session, settings, report, text: str) -> None:
    to_committee(session, settings, report)
    approve_by_reply(session, settings, report, COMMITTEE, text)
    session.expire_all()


def events(session, report, action: str) -> list[AuditEvent]:
    return list(session.exec(select(AuditEvent).where(AuditEvent.report_id == report.id, AuditEvent.action == action)))


def test_an_approval_naming_its_meeting_records_it_and_the_filing_mail_prints_it(session, settings, yehe):
    report, _, _ = yehe
    committee_says(session, settings, report, "同意。经2026年11月28日镇党委会议审议通过，纪要〔2026〕15号。")
    report = session.get(Report, report.id)
    assert report.stage == "filing"
    assert (report.meeting_body, report.meeting_on, report.meeting_minutes) == (
        "镇党委会议", date(2026, 11, 28), "纪要〔2026〕15号")
    [event] = events(session, report, "meeting_recorded")
    assert event.actor == "party-yehe@qingshan.example.gov.cn" and event.detail["via"] == "email"
    receipt = mails(session, "receipt")[-1]
    assert "已记录审议会议：镇党委会议（2026年11月28日召开，会议纪要：纪要〔2026〕15号）" in receipt.body_text
    assert "会议纪要编号，报送上级时将一并注明" not in receipt.body_text

    filing = file_report(session, settings, report)
    for part in (filing.body_text, filing.body_html):
        assert "已经镇党委会议（2026年11月28日召开，会议纪要：纪要〔2026〕15号）审议通过" in part
    history = ok(cli("history", report.ref))
    assert "登记审议会议" in history and "会议日期：2026-11-28" in history
    assert "会议纪要编号：纪要〔2026〕15号" in history


def test_an_approval_without_the_meeting_asks_for_it_and_the_answer_to_the_receipt_records_it(
        session, settings, yehe):
    report, _, _ = yehe
    committee_says(session, settings, report, "同意。")
    report = session.get(Report, report.id)
    assert report.stage == "filing" and report.meeting_on is None
    receipt = mails(session, "receipt")[-1]
    for part in (receipt.body_text, receipt.body_html):
        assert "告知镇党委会议审议本报告的会议日期和会议纪要编号" in part

    drop(settings.inbox_folder, reply_to(receipt, COMMITTEE, "会议时间：2026年11月28日，纪要〔2026〕15号"))
    intake(session, settings, FolderInbox(settings.inbox_folder))
    session.expire_all()
    report = session.get(Report, report.id)
    assert (report.meeting_on, report.meeting_minutes) == (date(2026, 11, 28), "纪要〔2026〕15号")
    assert mails(session, "already_decided") == []
    # the same answer again changes nothing
    drop(settings.inbox_folder, reply_to(receipt, COMMITTEE, "会议时间：2026年11月28日，纪要〔2026〕15号"))
    intake(session, settings, FolderInbox(settings.inbox_folder))
    assert len(events(session, report, "meeting_recorded")) == 1


def test_a_meeting_day_in_the_future_is_not_taken_and_the_approval_still_counts(session, settings, yehe):
    report, _, _ = yehe
    ahead = local_day(utcnow(), "Asia/Shanghai") + timedelta(days=20)
    committee_says(session, settings, report, f"同意。经{ahead.year}年{ahead.month}月{ahead.day}日镇党委会议审议通过。")
    report = session.get(Report, report.id)
    assert report.stage == "filing"  # the decision is read as it always was
    assert report.meeting_on is None and events(session, report, "meeting_recorded") == []
    assert "会议纪要编号，报送上级时将一并注明" in mails(session, "receipt")[-1].body_text


@pytest.mark.parametrize("text", ["退回：经2026年11月28日镇党委会议审议，请补充存在的不足和原因。",
                                  "经2026年11月28日镇党委会议研究，待书记签字后再同意。"])
def test_words_naming_a_meeting_never_make_a_return_or_an_unclear_answer_an_approval(session, settings, yehe, text):
    report, _, _ = yehe
    committee_says(session, settings, report, text)
    report = session.get(Report, report.id)
    assert report.stage in ("drafting", "committee_review")
    assert report.meeting_on is None and events(session, report, "meeting_recorded") == []


# ---------------------------------------------------------------- set by a coordinator


def test_a_coordinator_records_the_meeting_by_cli_once_and_bad_input_changes_nothing(session, settings, yehe):
    report, _, _ = yehe
    refused(cli("report", "meeting", report.ref, "--date", "2026-11-28"), "尚未审议通过，不能登记审议会议")
    committee_says(session, settings, report, "同意。")
    refused(cli("report", "meeting", report.ref), "请用 --date 写明会议日期")
    refused(cli("report", "meeting", report.ref, "--date", "2099-01-01"), "晚于今天")
    refused(cli("report", "meeting", report.ref, "--minutes", "纪要\x1b[2J"), "会议纪要编号应为一行")
    bad = cli("report", "meeting", report.ref, "--date", "28/11/2026")
    assert bad.exit_code == 2 and "无法识别，请写成 YYYY-MM-DD" in bad.output
    refused(cli("report", "meeting", "R-2026-999", "--date", "2026-11-28"), "找不到报告")
    assert events(session, report, "meeting_recorded") == []

    said = ok(cli("report", "meeting", report.ref.lower(), "--date", "2026-11-28", "--minutes", " 纪要〔2026〕15号 ",
                  "--by", "吴协调"))
    assert "已登记报告 R-2026-001 的审议会议：镇党委会议（2026年11月28日召开，会议纪要：纪要〔2026〕15号）" in said
    assert "未作改动" in ok(cli("report", "meeting", report.ref, "--date", "2026-11-28"))
    ok(cli("report", "meeting", report.ref, "--minutes", "纪要〔2026〕16号"))  # a correction keeps the day
    session.expire_all()
    report = session.get(Report, report.id)
    assert (report.meeting_on, report.meeting_minutes) == (date(2026, 11, 28), "纪要〔2026〕16号")
    assert [e.actor for e in events(session, report, "meeting_recorded")] == ["吴协调", "coordinator"]


# ---------------------------------------------------------------- the filing acknowledged


def filed(session, settings, report) -> OutboxMessage:
    """The report approved, filed and its filing mail delivered; the filing mail."""
    committee_says(session, settings, report, "同意。")
    filing = file_report(session, settings, report)
    session.commit()
    deliver_all(session, settings)
    session.commit()
    session.expire_all()
    assert session.get(Report, report.id).stage == "confidentiality_review"  # filed, and on to its clearance
    return filing


def answer(filing: OutboxMessage, sender: str, text: str = "已收到，谢谢。", *, thread: bool = True,
           headers: dict | None = None, subject: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "fzb@qingshan.example.gov.cn"
    msg["Subject"] = subject or "回复：" + filing.subject
    msg["Message-ID"] = make_msgid("ack", domain="qingshan.example.gov.cn")
    if thread:
        msg["In-Reply-To"] = msg["References"] = filing.message_id
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(text + "\n\n------------------ 原始邮件 ------------------\n" + filing.body_text)
    return msg.as_bytes()


def take_in(session, settings, raw: bytes) -> InboundMessage:
    drop(settings.inbox_folder, raw)
    intake(session, settings, FolderInbox(settings.inbox_folder))
    session.expire_all()
    return session.exec(select(InboundMessage).order_by(InboundMessage.id.desc())).first()


def test_only_the_filing_addressees_answer_threaded_under_the_filing_mail_acknowledges_it(
        session, settings, yehe, monkeypatch):
    report, _, _ = yehe
    filing = filed(session, settings, report)
    attacks = {
        "a stranger's answer in the thread": (answer(filing, "路人 <someone@elsewhere.example.cn>"), NOT_ADDRESSEE),
        "the address only in the display name": (
            answer(filing, '"xianwei-ban@qingshan.example.gov.cn" <evil@attacker.example>'), NOT_ADDRESSEE),
        "a forged From without the thread": (answer(filing, UPPER, thread=False), InboundOutcome.UNMATCHED),
        "two From addresses": (answer(filing, f"{UPPER}, evil@attacker.example"), InboundOutcome.BAD_SENDER),
        "another report's tag in the thread": (answer(filing, UPPER, subject="回复：[#R-2026-002] 已收到"),
                                               InboundOutcome.UNMATCHED),
        "an out-of-office": (answer(filing, UPPER, "我正在休假。", headers={"Auto-Submitted": "auto-replied"}),
                             InboundOutcome.AUTO_REPLY),
    }
    for name, (raw, outcome) in attacks.items():
        inbound = take_in(session, settings, raw)
        assert inbound.outcome == outcome, name
        assert session.get(Report, report.id).acknowledged_at is None, name
    monkeypatch.setenv("REPORTCHAIN_AUTHSERV_ID", "mx.qingshan.example.gov.cn")
    checked = load_settings()
    forged = answer(filing, UPPER, headers={
        "Authentication-Results": "mx.qingshan.example.gov.cn; dmarc=fail header.from=qingshan.example.gov.cn"})
    assert take_in(session, checked, forged).outcome == InboundOutcome.UNAUTHENTICATED
    assert session.get(Report, report.id).acknowledged_at is None
    assert events(session, report, "acknowledge") == []

    inbound = take_in(session, settings, answer(filing, UPPER))
    assert inbound.outcome == InboundOutcome.ACKNOWLEDGED
    report = session.get(Report, report.id)
    assert report.acknowledged_by == "xianwei-ban@qingshan.example.gov.cn"
    assert report.acknowledged_at == inbound.received_at and report.stage == "confidentiality_review"
    first = report.acknowledged_at
    # a second 回执 (here from the copied office) changes nothing
    again = take_in(session, settings, answer(filing, "依法治县办 <yfzx@qingshan.example.gov.cn>", "收到"))
    assert again.outcome == InboundOutcome.ACKNOWLEDGED and "nothing changed" in again.detail
    assert session.get(Report, report.id).acknowledged_at == first
    assert len(events(session, report, "acknowledge")) == 1
    assert "上级确认收到" in ok(cli("history", report.ref))
    assert mails(session, "already_decided") == [] and mails(session, "clarify") == []  # nothing answers a 回执


def test_the_board_marks_a_filing_left_unacknowledged_for_the_cycles_working_days(session, settings, yehe):
    report, _, _ = yehe
    filing = filed(session, settings, report)
    sent_on = local_day(session.get(OutboxMessage, filing.id).sent_at, "Asia/Shanghai")
    calendar = load_calendar(session)

    def row(today: date) -> dict:
        board = status(session, 2026, today)
        return next((r, cells) for r, cells in zip(board["reports"], rows(board), strict=True)
                    if r["ref"] == report.ref)

    r, cells = row(calendar.add_working_days(sent_on, 4))
    assert r["unacknowledged_days"] == 0 and cells[-1] == "正常"
    r, cells = row(calendar.add_working_days(sent_on, 5))
    assert r["unacknowledged_days"] == 5 and cells[-1] == "报送 5 个工作日未确认收到"
    assert not r["overdue"]  # disclosure is due in March
    set_policy(session, acknowledgement="8")
    assert row(calendar.add_working_days(sent_on, 5))[0]["unacknowledged_days"] == 0
    assert "报送后 8 个工作日仍未收到上级回复确认的" in ok(cli("deadlines", "show"))

    acknowledged = take_in(session, settings, answer(filing, UPPER))
    r, cells = row(calendar.add_working_days(sent_on, 5))
    assert r["unacknowledged_days"] == 0 and cells[-1] == "正常"
    assert r["acknowledged_on"] == local_day(acknowledged.received_at, "Asia/Shanghai").isoformat()
