"""Replies taken in from the inbox folder: what moves a report, what is only recorded, and what each
sender hears back. A false approval is the worst bug this product can have, so most tests here are
about what must NOT happen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import func, select

from models.chain import Role
from models.tables import Assignment, InboundMessage, InboundOutcome, OutboxMessage, Person, Report, ReviewRound
from notifications.mailbox import FolderInbox
from services.replies import intake, write_notice_digests
from services.stages import open_round_of
from tests.drafts import DRAFT
from tests.replies_kit import drop, reply_to, to_legal_review

ADVISOR = "陈律师 <chen.lawyer@lvshi-a.example.cn>"
COORDINATOR = "yfzx@qingshan.example.gov.cn"

REVISED = DRAFT.replace("培训不足", "培训不足、考核激励不够")  # a revision that passes the check


def take_in(session, settings):
    return intake(session, settings, FolderInbox(settings.inbox_folder))


def mails(session, kind: str) -> list[OutboxMessage]:
    session.expire_all()
    return list(session.exec(select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)))


def notices(session, settings) -> list[OutboxMessage]:
    """The coordinators' digest of messages that need a person's eye, as written the next day."""
    write_notice_digests(session, settings, datetime.now(UTC) + timedelta(days=1))
    session.commit()
    return mails(session, "reply_digest")


def returned_by_advisor(session, settings, prompt) -> OutboxMessage:
    """The advisor returns the draft by reply; the notice the drafter gets."""
    drop(settings.inbox_folder, reply_to(prompt, ADVISOR, "退回，请补充原因分析。"))
    take_in(session, settings)
    [returned] = mails(session, "returned")
    return returned


def stage(session, report) -> str:
    session.expire_all()
    return session.get(Report, report.id).stage


def inbound(session) -> list[InboundMessage]:
    session.expire_all()
    return list(session.exec(select(InboundMessage).order_by(InboundMessage.id)))


def test_an_approval_reply_moves_the_report_on_with_a_receipt_and_the_next_prompt(session, settings, yehe):
    report, rnd, prompt = yehe
    drop(settings.inbox_folder, reply_to(prompt, ADVISOR, "原则同意，建议第二部分补充数据来源。\n\n发自我的iPhone"))
    result = take_in(session, settings)
    assert result.outcomes == {InboundOutcome.APPLIED: 1}
    assert stage(session, report) == "committee_review"
    decided = session.get(ReviewRound, rnd.id)
    assert (decided.decision, decided.decided_via, decided.decided_by) == ("approve", "email",
                                                                          "chen.lawyer@lvshi-a.example.cn")
    assert decided.comment == "原则同意，建议第二部分补充数据来源。"
    [receipt] = mails(session, "receipt")
    assert receipt.in_reply_to == prompt.message_id and "已记录：同意" in receipt.subject
    assert "补充数据来源" in receipt.body_text
    assert any("党委审议" in m.subject for m in mails(session, "review_prompt"))
    [row] = inbound(session)
    assert (row.outcome, row.round_id, row.report_id, row.decision) == (
        InboundOutcome.APPLIED, rnd.id, report.id, "approve")
    assert not list(settings.inbox_folder.glob("*.eml"))
    assert len(list((settings.inbox_folder / "processed").iterdir())) == 1


def test_a_return_found_by_subject_tag_and_reply_code_goes_back_to_the_drafter(session, settings, yehe):
    report, rnd, prompt = yehe
    raw = reply_to(prompt, ADVISOR, "退回。第二部分只列了不足，没有分析原因。", thread=False, charset="gbk")
    drop(settings.inbox_folder, raw)
    assert take_in(session, settings).outcomes == {InboundOutcome.APPLIED: 1}
    assert stage(session, report) == "drafting"
    [returned] = mails(session, "returned")
    assert "没有分析原因" in returned.body_text and "zhangwei@" in returned.to_addrs


def test_a_reply_from_someone_else_is_kept_and_reported_but_never_applied(session, settings, yehe):
    report, rnd, prompt = yehe
    drop(settings.inbox_folder, reply_to(prompt, "某某 <someone@else.example.cn>", "同意"))
    assert take_in(session, settings).outcomes == {InboundOutcome.NOT_REVIEWER: 1}
    assert stage(session, report) == "legal_review"
    assert session.get(ReviewRound, rnd.id).decision is None
    [notice] = notices(session, settings)
    assert COORDINATOR in notice.to_addrs and "someone@else.example.cn" in notice.body_text
    assert not mails(session, "receipt")


def test_a_delegate_named_in_the_roster_may_answer_for_the_reviewer(session, settings, yehe, county):
    report, rnd, prompt = yehe
    assistant = Person(name="助理", email="assistant@lvshi-a.example.cn")
    session.add(assistant)
    session.flush()
    session.add(Assignment(unit_id=county["yehe"].id, person_id=assistant.id, role=Role.DELEGATE.value))
    session.commit()
    drop(settings.inbox_folder, reply_to(prompt, "助理 <Assistant@lvshi-a.example.cn>", "同意。"))
    assert take_in(session, settings).outcomes == {InboundOutcome.APPLIED: 1}
    assert stage(session, report) == "committee_review"


def test_an_unclear_reply_moves_nothing_and_asks_once_a_day_per_round(session, settings, yehe):
    report, rnd, prompt = yehe
    drop(settings.inbox_folder, reply_to(prompt, ADVISOR, "收到，我看一下。"))
    drop(settings.inbox_folder, reply_to(prompt, ADVISOR, "可以通过吗？"))
    assert take_in(session, settings).outcomes == {InboundOutcome.UNCLEAR: 2}
    assert stage(session, report) == "legal_review"
    [ask] = mails(session, "clarify")
    assert "chen.lawyer@" in ask.to_addrs and ask.in_reply_to == prompt.message_id
    assert "同意" in ask.body_text and "退回" in ask.body_text
    [digest] = notices(session, settings)  # the coordinator hears of each one, in one mail the next day
    assert digest.body_text.count("未能确定审核意见") == 2 and "收到的邮件中有 2 封" in digest.subject


def test_an_answer_to_the_clarifying_mail_is_matched_to_the_same_round(session, settings, yehe):
    report, rnd, prompt = yehe
    drop(settings.inbox_folder, reply_to(prompt, ADVISOR, "好的"))
    take_in(session, settings)
    [ask] = mails(session, "clarify")
    drop(settings.inbox_folder, reply_to(ask, ADVISOR, "同意"))
    assert take_in(session, settings).outcomes == {InboundOutcome.APPLIED: 1}
    assert stage(session, report) == "committee_review"


def test_an_auto_reply_is_recorded_and_never_answered_even_if_it_says_agree(session, settings, yehe):
    report, rnd, prompt = yehe
    raw = reply_to(prompt, ADVISOR, "您的邮件已收到，同意。我目前不在办公室。",
                   headers={"Auto-Submitted": "auto-replied"})
    drop(settings.inbox_folder, raw)
    assert take_in(session, settings).outcomes == {InboundOutcome.AUTO_REPLY: 1}
    assert stage(session, report) == "legal_review"
    assert session.exec(select(func.count()).select_from(OutboxMessage)
                        .where(OutboxMessage.kind.in_(["clarify", "receipt"]))).one() == 0
    assert not notices(session, settings)


def test_a_second_reply_to_a_decided_round_changes_nothing_and_gets_an_already_decided_receipt(
        session, settings, yehe):
    report, rnd, prompt = yehe
    drop(settings.inbox_folder, reply_to(prompt, ADVISOR, "同意"))
    take_in(session, settings)
    drop(settings.inbox_folder, reply_to(prompt, ADVISOR, "退回，第三部分还要改。"))
    assert take_in(session, settings).outcomes == {InboundOutcome.ALREADY_DECIDED: 1}
    assert session.get(ReviewRound, rnd.id).decision == "approve"
    assert stage(session, report) == "committee_review"
    [receipt] = mails(session, "already_decided")
    assert "chen.lawyer@" in receipt.to_addrs and "本次回复未作任何更改" in receipt.body_text
    [notice] = notices(session, settings)  # a late change of mind is for a person to handle
    assert "又回复了“退回”" in notice.body_text


def test_an_old_code_after_a_new_version_is_not_applied_to_the_new_round(session, settings, yehe):
    report, rnd, prompt = yehe
    drop(settings.inbox_folder, reply_to(prompt, ADVISOR, "退回，请补充原因分析。"))
    take_in(session, settings)
    second = to_legal_review(session, settings, session.get(Report, report.id), REVISED)
    assert second.id != rnd.id
    drop(settings.inbox_folder, reply_to(prompt, ADVISOR, "同意", thread=False))  # quotes the old prompt's code
    assert take_in(session, settings).outcomes == {InboundOutcome.ALREADY_DECIDED: 1}
    assert open_round_of(session, session.get(Report, report.id)).id == second.id
    assert session.get(ReviewRound, second.id).decision is None


def test_a_tagged_mail_without_thread_or_valid_code_is_reported_not_applied(session, settings, yehe):
    report, rnd, prompt = yehe
    code = prompt.body_text.split("审核码：")[1].split()[0]
    drop(settings.inbox_folder, reply_to(prompt, ADVISOR, "同意", thread=False,
                                         quote=prompt.body_text.replace(code, "ZZZZZZ")))
    assert take_in(session, settings).outcomes == {InboundOutcome.UNMATCHED: 1}
    assert stage(session, report) == "legal_review"
    assert len(notices(session, settings)) == 1


def test_the_same_message_twice_is_stored_and_applied_once(session, settings, yehe):
    report, rnd, prompt = yehe
    raw = reply_to(prompt, ADVISOR, "同意")
    drop(settings.inbox_folder, raw, "a.eml")
    drop(settings.inbox_folder, raw, "b.eml")
    result = take_in(session, settings)
    assert (result.fetched, result.duplicates, result.outcomes) == (2, 1, {InboundOutcome.APPLIED: 1})
    assert len(inbound(session)) == 1 and len(mails(session, "receipt")) == 1


def test_a_message_that_cannot_be_read_is_kept_reported_and_the_batch_goes_on(session, settings, yehe):
    report, rnd, prompt = yehe
    garbage = b"\x00\x01\xff\xfe not a mail at all \x89PNG\r\n"
    drop(settings.inbox_folder, garbage, "0001-garbage.eml")
    drop(settings.inbox_folder, reply_to(prompt, ADVISOR, "同意"), "0002-good.eml")
    assert take_in(session, settings).outcomes == {InboundOutcome.UNREADABLE: 1, InboundOutcome.APPLIED: 1}
    kept = inbound(session)[0]
    assert kept.raw == garbage and kept.outcome == InboundOutcome.UNREADABLE
    [notice] = notices(session, settings)
    assert "无法解析" in notice.body_text and COORDINATOR in notice.to_addrs
    assert stage(session, report) == "committee_review"


def test_a_message_left_unprocessed_by_a_crash_is_processed_on_the_next_run(session, settings, yehe):
    report, rnd, prompt = yehe
    raw = reply_to(prompt, ADVISOR, "同意")
    session.add(InboundMessage(message_id="<x@qq.com>", sha256="0" * 64, raw=raw, source="folder:lost.eml"))
    session.commit()  # stored, then the process died before reading it
    assert take_in(session, settings).outcomes == {InboundOutcome.APPLIED: 1}
    assert stage(session, report) == "committee_review"


def test_a_drafter_reply_with_a_revised_draft_becomes_the_next_version(session, settings, yehe):
    report, rnd, prompt = yehe
    returned = returned_by_advisor(session, settings, prompt)
    drafter = "张伟 <zhangwei@yehe.qingshan.example.gov.cn>"
    drop(settings.inbox_folder, reply_to(returned, drafter, "修改稿见附件。",
                                         attachments=(("野鹤镇报告（修改稿）.md", REVISED.encode()),)))
    assert take_in(session, settings).outcomes == {InboundOutcome.NEW_VERSION: 1}
    assert stage(session, report) == "legal_review"
    [ack] = mails(session, "draft_received")
    assert "已收到第2稿" in ack.subject and "zhangwei@" in ack.to_addrs
    assert open_round_of(session, session.get(Report, report.id)).number == 2


def test_a_corrupt_docx_from_the_drafter_is_refused_with_a_clear_answer(session, settings, yehe):
    report, rnd, prompt = yehe
    returned = returned_by_advisor(session, settings, prompt)
    drop(settings.inbox_folder, reply_to(returned, "zhangwei@yehe.qingshan.example.gov.cn", "修改稿",
                                         attachments=(("修改稿.docx", b"PK\x03\x04 broken zip"),)))
    assert take_in(session, settings).outcomes == {InboundOutcome.DRAFT_REFUSED: 1}
    assert stage(session, report) == "drafting"
    [answer] = mails(session, "draft_received")
    assert "未能接收" in answer.subject and "修改稿.docx" in answer.body_text


def test_a_reviewer_attachment_is_kept_for_the_coordinator(session, settings, yehe):
    report, rnd, prompt = yehe
    drop(settings.inbox_folder, reply_to(prompt, ADVISOR, "同意，修改意见见附件。",
                                         attachments=(("审核意见.docx", b"PK\x03\x04 whatever"),)))
    assert take_in(session, settings).outcomes == {InboundOutcome.APPLIED: 1}
    [notice] = notices(session, settings)
    assert "审核意见.docx" in notice.body_text and "--save" in notice.body_text


def test_a_dry_run_reads_and_matches_but_changes_and_moves_nothing(session, settings, yehe):
    report, rnd, prompt = yehe
    drop(settings.inbox_folder, reply_to(prompt, ADVISOR, "同意"))
    result = intake(session, settings, FolderInbox(settings.inbox_folder), apply=False)
    session.rollback()
    assert result.outcomes == {InboundOutcome.APPLIED: 1}
    assert stage(session, report) == "legal_review" and not inbound(session)
    assert len(list(settings.inbox_folder.glob("*.eml"))) == 1


def test_a_thank_you_under_the_receipt_is_recorded_without_another_mail(session, settings, yehe):
    report, rnd, prompt = yehe
    drop(settings.inbox_folder, reply_to(prompt, ADVISOR, "同意"))
    take_in(session, settings)
    [receipt] = mails(session, "receipt")
    drop(settings.inbox_folder, reply_to(receipt, ADVISOR, "好的，谢谢！"))
    assert take_in(session, settings).outcomes == {InboundOutcome.ALREADY_DECIDED: 1}
    assert not mails(session, "already_decided") and not notices(session, settings)


def test_a_copy_of_our_own_mail_and_a_bounce_are_never_answered(session, settings, yehe):
    report, rnd, prompt = yehe
    drop(settings.inbox_folder, reply_to(prompt, "青山县委依法治县办 <fzb@qingshan.example.gov.cn>", "同意"))
    drop(settings.inbox_folder, reply_to(prompt, "Mail Delivery System <MAILER-DAEMON@qq.com>", "同意",
                                         subject="Undelivered Mail Returned to Sender"))
    assert take_in(session, settings).outcomes == {InboundOutcome.AUTO_REPLY: 2}
    assert stage(session, report) == "legal_review"
    assert session.exec(select(func.count()).select_from(OutboxMessage)
                        .where(OutboxMessage.kind.in_(["clarify", "receipt"]))).one() == 0
    assert not notices(session, settings)


def test_a_reply_in_one_reports_thread_naming_another_report_is_not_applied(session, settings, yehe):
    report, rnd, prompt = yehe
    subject = "回复：" + prompt.subject.replace(report.ref, "R-2026-002")
    drop(settings.inbox_folder, reply_to(prompt, ADVISOR, "同意", subject=subject))
    assert take_in(session, settings).outcomes == {InboundOutcome.UNMATCHED: 1}
    assert stage(session, report) == "legal_review"
    assert len(notices(session, settings)) == 1
