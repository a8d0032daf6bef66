"""Replies taken in from a real IMAP mailbox (Dovecot): UID bookkeeping, marking, a dropped connection,
a rebuilt folder, a 20 MB message — and, end to end, the prompt sent through a real SMTP server, the
reviewer's reply appended over IMAP, a real Prefect flow run taking it in and the receipt going out."""

from __future__ import annotations

import imaplib

import pytest
from imapclient import SEEN
from sqlmodel import select

from core.settings import load_settings
from flows import run
from flows.replies import fetch_replies_flow
from models.tables import InboundMessage, InboundOutcome, MailboxState, OutboxMessage, Report, ReviewRound
from notifications.mailbox import ImapInbox, MailboxError, opened_inbox
from services.cycle import open_cycle
from services.delivery import deliver_all
from services.replies import intake
from tests.conftest import report_of
from tests.imap_server import CuttingProxy
from tests.replies_kit import prompt_of, reply_to, to_legal_review
from tests.smtp_server import Recorder, Server

ADVISOR = "陈律师 <chen.lawyer@lvshi-a.example.cn>"


def imap_settings(monkeypatch, dovecot, port: int | None = None, **env):
    monkeypatch.setenv("REPORTCHAIN_IMAP_HOST", dovecot.host)
    monkeypatch.setenv("REPORTCHAIN_IMAP_PORT", str(port or dovecot.port))
    monkeypatch.setenv("REPORTCHAIN_IMAP_SECURITY", "none")
    monkeypatch.setenv("REPORTCHAIN_IMAP_USER", dovecot.user)
    monkeypatch.setenv("REPORTCHAIN_IMAP_PASSWORD", dovecot.password)
    monkeypatch.setenv("REPORTCHAIN_IMAP_TIMEOUT", "10")
    for name, value in env.items():
        monkeypatch.setenv(f"REPORTCHAIN_IMAP_{name.upper()}", value)
    return load_settings()


def take_in(session, settings):
    with opened_inbox(settings) as inbox:
        return intake(session, settings, inbox)


def state(session) -> MailboxState:
    session.expire_all()
    return session.exec(select(MailboxState)).one()


def stored(session) -> list[InboundMessage]:
    session.expire_all()
    return list(session.exec(select(InboundMessage).order_by(InboundMessage.id)))


def test_new_messages_are_taken_in_once_and_flagged_as_read(session, settings, yehe, dovecot, monkeypatch):
    report, rnd, prompt = yehe
    settings = imap_settings(monkeypatch, dovecot)
    first = dovecot.append(reply_to(prompt, ADVISOR, "收到"))
    assert take_in(session, settings).outcomes == {InboundOutcome.UNCLEAR: 1}
    second = dovecot.append(reply_to(prompt, ADVISOR, "同意"))
    again = take_in(session, settings)
    assert (again.fetched, again.outcomes) == (1, {InboundOutcome.APPLIED: 1})  # the first one is not fetched again
    assert take_in(session, settings).fetched == 0
    assert (state(session).last_uid, state(session).uidvalidity) == (second, dovecot.uidvalidity())
    flags = dovecot.flags()
    assert SEEN in flags[first] and SEEN in flags[second]


def test_processed_messages_can_be_moved_to_a_folder_instead(session, settings, yehe, dovecot, monkeypatch):
    report, rnd, prompt = yehe
    settings = imap_settings(monkeypatch, dovecot, mark="move", move_to="已处理")
    dovecot.append(reply_to(prompt, ADVISOR, "同意"))
    assert take_in(session, settings).outcomes == {InboundOutcome.APPLIED: 1}
    assert dovecot.uids("INBOX") == [] and len(dovecot.uids("已处理")) == 1


def test_a_connection_dropped_mid_fetch_loses_and_duplicates_nothing(session, settings, yehe, dovecot,
                                                                       monkeypatch):
    report, rnd, prompt = yehe
    filler = ("附件说明。" * 200_000).encode()  # ~3 MB: the cut falls inside this message's bytes
    dovecot.append(reply_to(prompt, ADVISOR, "收到，稍后回复", attachments=(("材料.txt", filler),)))
    dovecot.append(reply_to(prompt, ADVISOR, "同意"))
    with CuttingProxy(dovecot.port, after_bytes=1_000_000) as proxy:
        settings = imap_settings(monkeypatch, dovecot, port=proxy.port)
        result = take_in(session, settings)
        assert proxy.cut == 1 and proxy.connections >= 2
    assert (result.fetched, result.outcomes) == (2, {InboundOutcome.UNCLEAR: 1, InboundOutcome.APPLIED: 1})
    assert [m.outcome for m in stored(session)] == [InboundOutcome.UNCLEAR, InboundOutcome.APPLIED]
    assert session.get(Report, report.id).stage == "committee_review"


def test_a_connection_that_keeps_dropping_ends_with_a_mailbox_error_and_keeps_what_was_done(
        session, settings, yehe, dovecot, monkeypatch):
    report, rnd, prompt = yehe
    monkeypatch.setattr("notifications.mailbox.BATCH_BYTES", 1)  # one message per FETCH
    dovecot.append(reply_to(prompt, ADVISOR, "同意"))
    dovecot.append(reply_to(prompt, ADVISOR, "x" * 10 + "附件" * 400_000))
    with CuttingProxy(dovecot.port, after_bytes=200_000, cuts=10) as proxy:
        settings = imap_settings(monkeypatch, dovecot, port=proxy.port)
        inbox = ImapInbox(settings.imap)
        with pytest.raises(MailboxError):
            intake(session, settings, inbox)
    assert [m.outcome for m in stored(session)] == [InboundOutcome.APPLIED]
    assert state(session).last_uid == 1  # the next run starts after the message that was processed


def test_a_rebuilt_folder_with_a_new_uidvalidity_is_read_again_without_double_processing(
        session, settings, yehe, dovecot, monkeypatch):
    report, rnd, prompt = yehe
    dovecot.create_folder("reviews")
    settings = imap_settings(monkeypatch, dovecot, folder="reviews")
    old = reply_to(prompt, ADVISOR, "收到")
    dovecot.append(old, "reviews")
    take_in(session, settings)
    before = state(session).uidvalidity
    dovecot.recreate_folder("reviews")
    dovecot.append(old, "reviews")  # the same message again, under new UIDs
    dovecot.append(reply_to(prompt, ADVISOR, "同意"), "reviews")
    result = take_in(session, settings)
    assert (result.fetched, result.duplicates, result.outcomes) == (2, 1, {InboundOutcome.APPLIED: 1})
    assert state(session).uidvalidity != before and state(session).last_uid == 2


def test_a_20_mb_message_is_stored_whole(session, settings, yehe, dovecot, monkeypatch):
    report, rnd, prompt = yehe
    settings = imap_settings(monkeypatch, dovecot)
    big = bytes(range(256)) * (20 * 1024 * 1024 // 256)
    raw = reply_to(prompt, ADVISOR, "同意，附件为扫描件。", attachments=(("扫描件.pdf", big),))
    dovecot.append(raw)
    assert take_in(session, settings).outcomes == {InboundOutcome.APPLIED: 1}
    [row] = stored(session)
    assert len(row.raw) > 20 * 1024 * 1024 and row.raw.replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")


def test_a_refused_login_is_a_clear_mailbox_error(session, settings, dovecot, monkeypatch):
    settings = imap_settings(monkeypatch, dovecot, password="wrong")
    with pytest.raises(MailboxError, match="login refused"):
        take_in(session, settings)


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
def test_end_to_end_prompt_over_smtp_reply_over_imap_flow_applies_and_sends_the_receipt(
        session, settings, county, dovecot, monkeypatch):
    recorder = Recorder()
    smtp = Server(recorder).start()
    try:
        monkeypatch.setenv("REPORTCHAIN_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("REPORTCHAIN_SMTP_PORT", str(smtp.port))
        monkeypatch.setenv("REPORTCHAIN_SMTP_SECURITY", "none")
        settings = imap_settings(monkeypatch, dovecot)
        open_cycle(session, settings, 2026)
        session.commit()
        report = report_of(session, county["yehe"])
        rnd = to_legal_review(session, settings, report)
        deliver_all(session, settings)
        prompt_row = prompt_of(session, rnd)
        [prompt] = [r for r in recorder.snapshot() if r.message_id == prompt_row.message_id]
        assert "chen.lawyer@lvshi-a.example.cn" in prompt.rcpt_tos

        # the advisor answers from a phone: GBK, QQ Mail quoting the prompt as it arrived
        dovecot.append(reply_to(prompt_row, ADVISOR, "同意。\n\n发自我的iPhone", charset="gbk"))
        result = run(fetch_replies_flow())
        assert result["outcomes"] == {InboundOutcome.APPLIED: 1} and result["delivery"]["sent"] >= 2

        session.expire_all()
        assert session.get(Report, report.id).stage == "committee_review"
        assert session.get(ReviewRound, rnd.id).decided_via == "email"
        receipt_row = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "receipt")).one()
        [receipt] = [r for r in recorder.snapshot() if r.message_id == receipt_row.message_id]
        assert receipt.rcpt_tos == ["chen.lawyer@lvshi-a.example.cn"]
        assert prompt_row.message_id in receipt.content.decode("ascii", "replace")  # threaded under the prompt
        assert any("party-yehe@" in to for r in recorder.snapshot() for to in r.rcpt_tos)  # the next prompt
        assert SEEN in dovecot.flags()[1]
        assert run(fetch_replies_flow())["rows"] == []  # a second run finds nothing new
    finally:
        smtp.stop()


def test_imaplib_abort_counts_as_a_dropped_connection():
    from notifications.mailbox import CONNECTION_ERRORS

    assert issubclass(imaplib.IMAP4.abort, CONNECTION_ERRORS) and issubclass(ConnectionResetError, CONNECTION_ERRORS)
