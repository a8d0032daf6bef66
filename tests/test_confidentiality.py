"""The confidentiality review (保密审查) by reply, on SQLite and PostgreSQL: the filed version goes to the
unit's confidentiality reviewer; only that reviewer's own, present 同意公开 clears it for publication;
a forged sender, a replayed approval or a refusal never does; a refusal asks the drafters for a public
version that goes back to this review alone, the filed version staying as filed; `publish` before the
clearance is refused in Chinese and changes nothing; the reviewer is reminded by the disclosure date."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from models.chain import Refused
from models.reminders import plan_sweep
from models.tables import AuditEvent, InboundOutcome, OutboxMessage, Report, ReportVersion, ReviewRound
from notifications.mailbox import FolderInbox
from services.cycle import open_cycle
from services.decisions import record_decision
from services.delivery import deliver_all
from services.filing import file_report, filed_version, publish_report
from services.reminders import write_plan
from services.replies import intake
from services.stages import open_round_of
from tests.conftest import report_of
from tests.drafts import report_text
from tests.replies_kit import drop, prompt_of, reply_to, to_legal_review
from tests.test_cli import cli

REVIEWER = "林静 <baomi01@qingshan.example.gov.cn>"  # 野鹤镇's confidentiality reviewer (sample roster)
ADVISOR = "chen.lawyer@lvshi-a.example.cn"
DRAFTER = "张伟 <zhangwei@yehe.qingshan.example.gov.cn>"
URL = "https://www.qingshan.example.gov.cn/fzzf/2026-yehe.html"


@pytest.fixture
def clearance(session, settings, county):
    """野鹤镇's report approved, filed (the filing mail delivered) and waiting for its confidentiality
    reviewer: (report, the open round, the prompt that was sent)."""
    open_cycle(session, settings, 2026)
    session.commit()
    report = report_of(session, county["yehe"])
    to_legal_review(session, settings, report)
    for _ in range(2):
        record_decision(session, settings, open_round_of(session, report).id, "approve", via="phone", actor="吴协调")
        session.commit()
    file_report(session, settings, report)
    session.commit()
    assert deliver_all(session, settings)["filed"] == [report.ref]
    session.commit()
    rnd = open_round_of(session, report)
    assert (report.stage, rnd.stage) == ("confidentiality_review", "confidentiality_review")
    return report, rnd, prompt_of(session, rnd)


def take_in(session, settings) -> dict:
    result = intake(session, settings, FolderInbox(settings.inbox_folder))
    session.expire_all()
    return result.outcomes


def mails(session, kind: str) -> list[OutboxMessage]:
    return list(session.exec(select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)))


def refused_publication(session, report) -> str:
    with pytest.raises(Refused) as refused:
        publish_report(session, session.get(Report, report.id), URL, "吴协调")
    session.rollback()
    return refused.value.code


def public_version_after(session, settings, report, prompt, refusal: str) -> ReviewRound:
    """The reviewer refuses by reply, the drafter answers the return with a public version attached:
    the round that version opened."""
    drop(settings.inbox_folder, reply_to(prompt, REVIEWER, refusal))
    assert take_in(session, settings) == {InboundOutcome.APPLIED: 1}
    [returned] = mails(session, "returned")
    public = report_text("野鹤镇").replace("全年审查", "全年共审查")
    drop(settings.inbox_folder, reply_to(returned, DRAFTER, "公开版见附件。",
                                         attachments=(("野鹤镇报告（公开版）.md", public.encode()),)))
    assert take_in(session, settings) == {InboundOutcome.NEW_VERSION: 1}
    return open_round_of(session, session.get(Report, report.id))


def test_the_filed_version_goes_to_the_units_confidentiality_reviewer_with_its_attachment(session, clearance):
    report, rnd, prompt = clearance
    assert prompt.to_addrs == REVIEWER and "保密审查" in prompt.subject
    assert "同意公开" in prompt.body_text and "不同意公开" in prompt.body_text
    assert rnd.version_id == filed_version(session, report).id
    assert mails(session, "ready_to_publish") == []


def test_a_forged_from_answering_the_confidentiality_prompt_clears_nothing(session, settings, clearance):
    report, rnd, prompt = clearance
    drop(settings.inbox_folder, reply_to(prompt, "林静 <baomi01@evil.example>", "同意公开"))  # a look-alike address
    drop(settings.inbox_folder, reply_to(prompt, "baomi01@qingshan.example.gov.cn <a@evil.example>", "同意公开"))
    drop(settings.inbox_folder, reply_to(prompt, ADVISOR, "同意公开"))  # in the roster, but not this reviewer
    assert take_in(session, settings) == {InboundOutcome.NOT_REVIEWER: 2, InboundOutcome.BAD_SENDER: 1}
    assert session.get(ReviewRound, rnd.id).decision is None
    assert mails(session, "ready_to_publish") == []
    assert refused_publication(session, report) == "not_cleared"


def test_a_refusal_is_never_read_as_an_approval(session, settings, clearance):
    report, rnd, prompt = clearance
    drop(settings.inbox_folder, reply_to(prompt, REVIEWER, "不同意公开。第三部分涉及未公开的案件信息，请删去。"))
    assert take_in(session, settings) == {InboundOutcome.APPLIED: 1}
    assert session.get(ReviewRound, rnd.id).decision == "return"
    assert session.get(Report, report.id).stage == "drafting"
    [returned] = mails(session, "returned")
    assert "zhangwei@" in returned.to_addrs and "未公开的案件信息" in returned.body_text
    assert mails(session, "ready_to_publish") == []
    assert refused_publication(session, report) == "not_cleared"


def test_a_replayed_approval_to_a_decided_round_does_not_clear_the_public_version(session, settings, clearance):
    report, first, prompt = clearance
    approval = reply_to(prompt, REVIEWER, "同意公开")
    second = public_version_after(session, settings, report, prompt, "不宜公开，请删去第三部分的案件细节。")
    assert (second.stage, second.number) == ("confidentiality_review", 2)

    drop(settings.inbox_folder, approval)  # an approval of round 1, written before the refusal was sent
    drop(settings.inbox_folder, approval, name="again.eml")  # and the same mail delivered twice
    assert take_in(session, settings) == {InboundOutcome.ALREADY_DECIDED: 1}  # the copy is the same mail
    assert session.get(ReviewRound, second.id).decision is None
    assert session.get(ReviewRound, first.id).decision == "return"
    assert mails(session, "ready_to_publish") == []
    assert refused_publication(session, report) == "not_cleared"


def test_publish_before_the_review_is_refused_in_chinese_and_changes_nothing(session, settings, clearance):
    report, rnd, _ = clearance
    events = len(session.exec(select(AuditEvent)).all())
    result = cli("publish", report.ref, URL)
    assert result.exit_code != 0
    assert "尚未通过保密审查" in result.output and "等待保密审查人回复" in result.output
    session.expire_all()
    assert session.get(Report, report.id).publication_url is None
    assert session.get(Report, report.id).stage == "confidentiality_review"
    assert len(session.exec(select(AuditEvent)).all()) == events


def test_refuse_then_public_version_then_approve_then_publish_all_by_reply(session, settings, clearance):
    report, first, prompt = clearance
    filed = filed_version(session, report)
    filed_bytes = (filed.id, filed.number, filed.sha256, filed.text)
    legal_prompts = len([r for r in session.exec(select(ReviewRound)) if r.stage != "confidentiality_review"])

    second = public_version_after(session, settings, report, prompt, "不同意公开，第三部分有内部工作数据，请出公开版。")
    assert second.stage == "confidentiality_review"  # not through legal and committee review again
    assert len([r for r in session.exec(select(ReviewRound)) if r.stage != "confidentiality_review"]) == legal_prompts

    again = prompt_of(session, second)
    assert again.to_addrs == REVIEWER and "第2稿" in again.subject
    drop(settings.inbox_folder, reply_to(again, REVIEWER, "经审查，同意公开。"))
    assert take_in(session, settings) == {InboundOutcome.APPLIED: 1}
    assert session.get(Report, report.id).stage == "confidentiality_review"  # waits for the URL
    [ready] = mails(session, "ready_to_publish")
    assert "yfzx@qingshan.example.gov.cn" in ready.to_addrs and "reportchain publish" in ready.body_text

    assert publish_report(session, session.get(Report, report.id), URL, "吴协调") is True
    session.commit()
    session.expire_all()
    published = session.get(Report, report.id)
    assert (published.stage, published.publication_url) == ("published", URL)
    [event] = session.exec(select(AuditEvent).where(AuditEvent.action == "publish")).all()
    assert (event.detail["reviewed_by"], event.detail["round"], event.detail["version"]) == ("林静", 2, 2)
    # the filed version stays as filed: nothing deleted or overwritten, the filing still names it
    kept = session.get(ReportVersion, filed_bytes[0])
    assert (kept.id, kept.number, kept.sha256, kept.text) == filed_bytes
    assert filed_version(session, published).id == filed_bytes[0]
    assert len(mails(session, "filing")) == 1


def test_the_reviewer_is_reminded_by_the_disclosure_date_and_replying_to_the_reminder_decides(
        session, settings, clearance):
    report, rnd, prompt = clearance
    on_the_day = datetime(2027, 3, 31, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # the disclosure date
    write_plan(session, settings, plan_sweep(session, on_the_day, "Asia/Shanghai"))
    session.commit()
    [reminder] = [m for m in mails(session, "reminder") if m.to_addrs == REVIEWER]
    assert reminder.in_reply_to == prompt.message_id  # threaded under the prompt
    assert "完成保密审查" in reminder.subject and "2027年3月31日" in reminder.subject
    assert "回复“同意公开”" in reminder.body_text and "reportchain publish" not in reminder.body_text
    drop(settings.inbox_folder, reply_to(reminder, REVIEWER, "同意公开"))
    assert take_in(session, settings) == {InboundOutcome.APPLIED: 1}
    assert session.get(ReviewRound, rnd.id).decision == "approve"
    [ready] = mails(session, "ready_to_publish")
    assert "2027年3月31日" in ready.body_text
