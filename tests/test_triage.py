"""Triage: a coordinator records the decision a mail carries, or dismisses it — and every way that could
go wrong (a round decided meanwhile, two coordinators at once, the wrong report, twice, a made-up id)
leaves everything as it was, with a Chinese reason."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from models.chain import Refused
from models.db import get_engine
from models.tables import AuditEvent, InboundMessage, InboundOutcome, OutboxMessage, Report, ReviewRound
from notifications.mailbox import FolderInbox
from services.replies import intake, write_notice_digests
from services.triage import decide, dismiss, pending
from tests.replies_kit import drop, reply_to
from tests.test_cli import cli, ok, refused

ADVISOR = "陈律师 <chen.lawyer@lvshi-a.example.cn>"
COORDINATOR = "yfzx@qingshan.example.gov.cn"


def take_in(session, settings, *raws):
    for raw in raws:
        drop(settings.inbox_folder, raw)
    return intake(session, settings, FolderInbox(settings.inbox_folder))


def row(session, inbound_id) -> InboundMessage:
    session.expire_all()
    return session.get(InboundMessage, inbound_id)


def kinds(session) -> list[str]:
    session.expire_all()
    return [m.kind for m in session.exec(select(OutboxMessage).order_by(OutboxMessage.id))]


@pytest.fixture
def unclear(session, settings, yehe):
    """野鹤镇's advisor wrote words that do not decide: (report, round, the stored message)."""
    report, rnd, prompt = yehe
    assert take_in(session, settings, reply_to(prompt, ADVISOR, "收到，我看一下。")).outcomes == {
        InboundOutcome.UNCLEAR: 1}
    [inbound] = session.exec(select(InboundMessage)).all()
    return report, rnd, inbound


def test_the_list_shows_what_needs_a_person_newest_first_with_report_round_and_words(session, settings, yehe):
    report, rnd, prompt = yehe
    take_in(session, settings, reply_to(prompt, ADVISOR, "收到，我看一下。"))
    take_in(session, settings, reply_to(prompt, "路人 <x@else.example.cn>", "同意"))
    take_in(session, settings, reply_to(prompt, ADVISOR, "谢谢", headers={"Auto-Submitted": "auto-replied"}))
    items = pending(session)
    assert [i.outcome for i in items] == [InboundOutcome.NOT_REVIEWER, InboundOutcome.UNCLEAR]  # no auto-reply
    assert items[0].inbound_id > items[1].inbound_id
    assert (items[1].ref, items[1].stage, items[1].round) == (report.ref, "legal_review", 1)
    assert items[1].excerpt == "收到，我看一下。"  # the writer's words, not the quoted prompt


def test_the_list_marks_words_under_a_forwarded_header_as_maybe_not_the_writers(session, settings, yehe):
    report, rnd, prompt = yehe
    forward = ("---------- Forwarded message ---------\nFrom: 王科长 <wang@qingshan.example.gov.cn>\n"
               "Date: Sun, Dec 20, 2026 at 9:00 AM\nSubject: 请审核\n\n同意，请上报。\n")
    assert take_in(session, settings, reply_to(prompt, ADVISOR, forward)).outcomes == {InboundOutcome.UNCLEAR: 1}
    [item] = pending(session)
    assert (item.excerpt, item.under_header) == ("同意，请上报。", True)
    assert "（转发或引用的原文？）同意，请上报。" in ok(cli("triage", "list"))
    assert session.get(Report, report.id).stage == "legal_review"  # shown, never decided


def test_decide_goes_the_phone_decisions_way_and_keeps_the_mail_as_evidence(session, settings, unclear):
    report, rnd, inbound = unclear
    before = kinds(session)
    result = decide(session, settings, inbound.id, "approve", stage="legal_review", actor=COORDINATOR)
    session.commit()
    assert (result.ref, result.stage, result.outcome) == (report.ref, "committee_review", InboundOutcome.TRIAGED)
    assert kinds(session)[len(before):] == ["receipt", "review_prompt"]  # as a phone decision writes
    decided = session.get(ReviewRound, rnd.id)
    assert (decided.decision, decided.decided_via, decided.decided_by) == ("approve", "triage", COORDINATOR)
    kept = row(session, inbound.id)
    assert (kept.outcome, kept.read_as, kept.triaged_by) == (InboundOutcome.TRIAGED, InboundOutcome.UNCLEAR,
                                                             COORDINATOR)
    [event] = session.exec(select(AuditEvent).where(AuditEvent.action == "triage_decided")).all()
    assert event.actor == COORDINATOR and event.report_id == report.id
    assert {k: event.detail[k] for k in ("inbound_id", "message_id", "sha256", "read_as")} == {
        "inbound_id": inbound.id, "message_id": inbound.message_id, "sha256": inbound.sha256,
        "read_as": InboundOutcome.UNCLEAR}
    assert "来信经统筹协调人核处登记" in ok(cli("history", report.ref))


def test_a_triaged_message_leaves_the_coordinators_digest(session, settings, unclear):
    report, rnd, inbound = unclear
    dismiss(session, inbound.id, "审核人已电话说明，另行处理", actor=COORDINATOR)
    session.commit()
    assert write_notice_digests(session, settings, datetime.now(UTC) + timedelta(days=1)) == 0


def test_a_round_decided_by_reply_meanwhile_cannot_be_decided_again(session, settings, unclear):
    report, rnd, inbound = unclear
    prompt = session.exec(select(OutboxMessage).where(OutboxMessage.message_id == rnd.prompt_message_id)).one()
    take_in(session, settings, reply_to(prompt, ADVISOR, "退回，请补充原因分析。"))
    mails = kinds(session)
    with pytest.raises(Refused) as refusal:
        decide(session, settings, inbound.id, "approve", stage="legal_review", actor=COORDINATOR)
    session.rollback()
    assert refusal.value.code == "stage_decided"
    assert kinds(session) == mails and row(session, inbound.id).outcome == InboundOutcome.UNCLEAR
    assert session.get(Report, report.id).stage == "drafting"


def test_naming_the_round_of_another_report_is_refused(session, settings, unclear):
    report, rnd, inbound = unclear
    other = next(r for r in session.exec(select(Report)) if r.id != report.id)
    with pytest.raises(Refused) as refusal:
        decide(session, settings, inbound.id, "approve", stage="legal_review", ref=other.ref, actor=COORDINATOR)
    assert refusal.value.code == "triage_other_report"
    session.rollback()
    assert row(session, inbound.id).outcome == InboundOutcome.UNCLEAR


def test_dismiss_needs_a_reason_and_twice_is_refused(session, settings, unclear):
    report, rnd, inbound = unclear
    refused(cli("triage", "dismiss", inbound.id, "--by", COORDINATOR, "--reason", "  "), "请用 --reason 写明理由")
    assert "已核处，不予采用" in ok(cli("triage", "dismiss", inbound.id, "--by", COORDINATOR, "--reason", "重复来信"))
    refused(cli("triage", "dismiss", inbound.id, "--by", COORDINATOR, "--reason", "再来一次"), "已经核处过")
    refused(cli("triage", "decide", inbound.id, "approve", "--stage", "legal_review", "--by", COORDINATOR),
            "已经核处过")
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "triage_dismissed")).all()
    assert [(e.actor, e.detail["reason"], e.detail["inbound_id"]) for e in events] == [
        (COORDINATOR, "重复来信", inbound.id)]
    assert session.get(Report, report.id).stage == "legal_review"


def test_an_unknown_message_or_someone_not_a_coordinator_is_refused(session, settings, unclear):
    report, rnd, inbound = unclear
    refused(cli("triage", "decide", 9999, "approve", "--stage", "legal_review", "--by", COORDINATOR),
            "找不到编号为 9999 的邮件")
    refused(cli("triage", "dismiss", inbound.id, "--by", "chen.lawyer@lvshi-a.example.cn", "--reason", "x"),
            "不是名册中的统筹协调人")
    assert row(session, inbound.id).outcome == InboundOutcome.UNCLEAR
    assert not session.exec(select(AuditEvent).where(AuditEvent.action.like("triage%"))).all()


def test_the_cli_lists_and_decides_and_the_list_empties(session, settings, unclear):
    report, rnd, inbound = unclear
    listing = ok(cli("triage", "list"))
    assert "收到，我看一下。" in listing and report.ref in listing and "法律顾问审核第1轮" in listing
    assert "（转发或引用的原文？）" not in listing  # a plain reply: no warning
    output = ok(cli("triage", "decide", inbound.id, "approve", "--stage", "法律顾问审核", "--by", COORDINATOR))
    assert f"已按邮件 {inbound.id} 登记报告 {report.ref} 的审核意见：同意" in output and "党委审议" in output
    assert "没有待核处的邮件" in ok(cli("triage", "list"))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_coordinators_deciding_one_message_at_once_record_one_decision(session, settings, unclear):
    """Two sessions, PostgreSQL: the second waits for the first's row lock, then finds the message triaged."""
    report, rnd, inbound = unclear
    engine = get_engine(settings.database_url)
    first, second = Session(engine), Session(engine)
    outcome = {}

    def other():
        try:
            decide(second, settings, inbound.id, "return", stage="legal_review", comment="请修改", actor=COORDINATOR)
            second.commit()
            outcome["second"] = "won"
        except Exception as exc:  # noqa: BLE001 — which refusal is asserted below
            second.rollback()
            outcome["second"] = getattr(exc, "code", type(exc).__name__)

    decide(first, settings, inbound.id, "approve", stage="legal_review", actor=COORDINATOR)
    racer = threading.Thread(target=other)
    racer.start()
    time.sleep(0.5)  # the second is now waiting on the first's lock
    first.commit()
    racer.join(10)
    first.close(), second.close()
    assert outcome["second"] in ("triage_done_before", "StaleDataError")
    session.expire_all()
    decided = session.get(ReviewRound, rnd.id)
    assert decided.decision == "approve"
    assert kinds(session).count("receipt") == 1
    assert len(session.exec(select(AuditEvent).where(AuditEvent.action == "triage_decided")).all()) == 1


def test_a_mail_to_a_round_that_ended_cannot_decide_the_next_one(session, settings, unclear):
    """The advisor's unclear mail, then their approval by reply: the mail cannot decide the committee's round."""
    report, rnd, inbound = unclear
    prompt = session.exec(select(OutboxMessage).where(OutboxMessage.message_id == rnd.prompt_message_id)).one()
    take_in(session, settings, reply_to(prompt, ADVISOR, "同意。"))
    with pytest.raises(Refused) as refusal:
        decide(session, settings, inbound.id, "approve", stage="committee_review", actor=COORDINATOR)
    assert refusal.value.code == "triage_other_round"
    session.rollback()
    assert session.get(Report, report.id).stage == "committee_review"
