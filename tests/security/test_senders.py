"""Who sent it (issue 11 §2): the sender is the From header's address, never a display name; a thread
is proof only because nobody can compute our Message-IDs; a new version by mail needs a thread under
a mail we sent its drafter; our own mail server's DMARC/SPF/DKIM verdict is respected.

Every attack is a mail dropped in the inbox folder and taken in as the scheduled intake would."""

from __future__ import annotations

import base64
import hashlib
from email.message import EmailMessage

import pytest
from sqlmodel import select

from models.tables import InboundMessage, InboundOutcome, OutboxMessage, Report, ReportVersion, ReviewRound
from notifications.mailbox import FolderInbox
from services.replies import intake
from tests.drafts import DRAFT
from tests.replies_kit import drop, reply_to, to_legal_review
from tests.test_cli import cli, ok

ADVISOR = "chen.lawyer@lvshi-a.example.cn"
DRAFTER = "zhangwei@yehe.qingshan.example.gov.cn"
OUR_SERVER = "mx.qingshan.example.gov.cn"
REVISED = DRAFT.replace("培训不足", "培训不足、考核激励不够")


def take_in(session, settings):
    result = intake(session, settings, FolderInbox(settings.inbox_folder))
    session.expire_all()
    return result


def stage(session, report) -> str:
    session.expire_all()
    return session.get(Report, report.id).stage


def with_from(raw: bytes, *values: str) -> bytes:
    """The same mail with its From header(s) replaced by these raw values."""
    head, body = raw.split(b"\n\n", 1)
    lines = [line for line in head.split(b"\n") if not line.lower().startswith(b"from:")]
    return b"\n".join([*(f"From: {v}".encode() for v in values), *lines]) + b"\n\n" + body


def guessed_id(key: str, domain: str = "qingshan.example.gov.cn") -> str:
    """A Message-ID as main computed it before issue 11: from the outbox key alone."""
    return f"<rc.{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


# ---------------------------------------------------------------- the From header


def test_a_display_name_that_is_the_reviewers_address_does_not_make_the_attacker_the_reviewer(
        session, settings, yehe):
    report, rnd, prompt = yehe
    raw = with_from(reply_to(prompt, ADVISOR, "同意"), f"{ADVISOR} <attacker@evil.example>")
    drop(settings.inbox_folder, raw)
    assert take_in(session, settings).outcomes == {InboundOutcome.BAD_SENDER: 1}
    assert stage(session, report) == "legal_review"
    assert session.get(ReviewRound, rnd.id).decision is None


def test_an_encoded_display_name_decoding_to_the_reviewers_address_is_not_the_reviewer(session, settings, yehe):
    report, rnd, prompt = yehe
    encoded = "=?utf-8?b?" + base64.b64encode(ADVISOR.encode()).decode() + "?="
    for value in (f"{encoded} <attacker@evil.example>", f'"{encoded}" <attacker@evil.example>'):
        drop(settings.inbox_folder, with_from(reply_to(prompt, ADVISOR, "同意"), value))
    result = take_in(session, settings)
    assert result.outcomes == {InboundOutcome.NOT_REVIEWER: 2}
    assert {row.from_address for row in session.exec(select(InboundMessage))} == {"attacker@evil.example"}
    assert stage(session, report) == "legal_review"


def test_a_reviewer_whose_display_name_holds_a_comma_is_still_the_reviewer(session, settings, yehe):
    report, rnd, prompt = yehe
    drop(settings.inbox_folder, with_from(reply_to(prompt, ADVISOR, "同意"),
                                          f"=?utf-8?b?6ZmILCDlvovluIg=?= <{ADVISOR}>"))  # "陈, 律师"
    assert take_in(session, settings).outcomes == {InboundOutcome.APPLIED: 1}
    assert stage(session, report) == "committee_review"


@pytest.mark.parametrize("froms", [
    (ADVISOR, "attacker@evil.example"),  # two From headers
    (f"{ADVISOR}, attacker@evil.example",),  # two addresses in one
    (f"陈律师 <{ADVISOR}> <attacker@evil.example>",),  # two angle addresses
    ("<>",),
], ids=["two-from-headers", "two-addresses", "two-angle-addresses", "empty-address"])
def test_a_mail_without_exactly_one_sender_address_is_kept_and_never_applied(session, settings, yehe, froms):
    report, rnd, prompt = yehe
    drop(settings.inbox_folder, with_from(reply_to(prompt, ADVISOR, "同意"), *froms))
    assert take_in(session, settings).outcomes == {InboundOutcome.BAD_SENDER: 1}
    assert stage(session, report) == "legal_review"
    [row] = session.exec(select(InboundMessage)).all()
    assert row.notice == InboundOutcome.BAD_SENDER and row.raw


# ---------------------------------------------------------------- threads and codes


def test_a_forged_reply_threaded_under_a_computed_prompt_id_is_not_applied(session, settings, yehe):
    report, rnd, prompt = yehe
    forged = reply_to(prompt, ADVISOR, "同意", thread=False, quote="（无原文）")  # no 审核码 either
    forged = forged.replace(b"\nTo:", f"\nIn-Reply-To: {guessed_id(f'prompt:{rnd.id}')}\nTo:".encode(), 1)
    drop(settings.inbox_folder, forged)
    assert take_in(session, settings).outcomes == {InboundOutcome.UNMATCHED: 1}
    assert stage(session, report) == "legal_review"
    assert prompt.message_id != guessed_id(f"prompt:{rnd.id}")


def test_message_ids_cannot_be_computed_from_what_an_outsider_knows(session, settings, yehe):
    ids = [m for (m,) in session.execute(select(OutboxMessage.message_id))]
    keys = [k for (k,) in session.execute(select(OutboxMessage.idempotency_key))]
    assert len(set(ids)) == len(ids)
    assert not set(ids) & {guessed_id(k) for k in keys}
    assert all(len(i.split("@")[0]) >= len("<rc.") + 32 for i in ids)  # 128 random bits


def test_a_replayed_approval_with_the_new_rounds_guessed_prompt_id_is_not_applied(session, settings, yehe):
    report, rnd, prompt = yehe
    drop(settings.inbox_folder, reply_to(prompt, ADVISOR, "退回，请补充原因分析。"))
    take_in(session, settings)
    second = to_legal_review(session, settings, session.get(Report, report.id), REVISED)
    replay = reply_to(prompt, ADVISOR, "同意", quote="（无原文）")
    replay = replay.replace(b"\nReferences: ", f"\nReferences: {guessed_id(f'prompt:{second.id}')} ".encode(), 1)
    drop(settings.inbox_folder, replay)
    assert take_in(session, settings).outcomes == {InboundOutcome.ALREADY_DECIDED: 1}
    assert session.get(ReviewRound, second.id).decision is None
    assert stage(session, report) == "legal_review"


def test_a_draft_mailed_with_only_the_subject_tag_does_not_become_a_version(session, settings, yehe):
    report, rnd, prompt = yehe
    drop(settings.inbox_folder, reply_to(prompt, ADVISOR, "退回，请补充原因分析。"))
    take_in(session, settings)
    msg = EmailMessage()
    msg["From"], msg["To"] = f"张伟 <{DRAFTER}>", "fzb@qingshan.example.gov.cn"
    msg["Subject"], msg["Message-ID"] = f"[#{report.ref}] 修改稿", "<tag-only@qq.com>"
    msg.set_content("修改稿见附件。")
    msg.add_attachment(REVISED.encode(), maintype="text", subtype="markdown", filename="修改稿.md")
    drop(settings.inbox_folder, msg.as_bytes())
    assert take_in(session, settings).outcomes == {InboundOutcome.UNMATCHED: 1}
    assert stage(session, report) == "drafting"
    assert len(session.exec(select(ReportVersion).where(ReportVersion.report_id == report.id)).all()) == 1


def test_a_draft_threaded_under_a_mail_sent_to_someone_else_does_not_become_a_version(session, settings, yehe):
    report, rnd, prompt = yehe
    drop(settings.inbox_folder, reply_to(prompt, ADVISOR, "退回，请补充原因分析。"))
    take_in(session, settings)
    # the drafter's address, but threaded under the advisor's prompt (which the drafter never received)
    drop(settings.inbox_folder, reply_to(prompt, DRAFTER, "修改稿见附件。",
                                         attachments=(("修改稿.md", REVISED.encode()),)))
    assert take_in(session, settings).outcomes["new_version"] == 0
    assert stage(session, report) == "drafting"


# ---------------------------------------------------------------- the receiving server's verdict


@pytest.fixture
def checked(settings, monkeypatch):
    """Settings naming our receiving server as the one whose Authentication-Results count."""
    from core.settings import load_settings

    monkeypatch.setenv("REPORTCHAIN_AUTHSERV_ID", OUR_SERVER)
    return load_settings()


@pytest.mark.parametrize("verdict", [
    f"{OUR_SERVER}; dkim=pass header.d=lvshi-a.example.cn; dmarc=fail header.from=lvshi-a.example.cn",
    f"{OUR_SERVER}; spf=fail smtp.mailfrom={ADVISOR}",
    f"{OUR_SERVER}; dkim=fail header.d=lvshi-a.example.cn",
], ids=["dmarc-fail", "spf-fail", "dkim-fail"])
def test_a_reply_our_mail_server_found_forged_is_kept_and_never_applied(session, checked, yehe, verdict):
    report, rnd, prompt = yehe
    drop(checked.inbox_folder, reply_to(prompt, ADVISOR, "同意", headers={"Authentication-Results": verdict}))
    assert take_in(session, checked).outcomes == {InboundOutcome.UNAUTHENTICATED: 1}
    assert stage(session, report) == "legal_review"
    [row] = session.exec(select(InboundMessage)).all()
    assert "fail" in row.detail and OUR_SERVER in row.detail
    shown = ok(cli("replies", "show", row.id))
    assert "身份验证未通过" in shown and "fail" in shown


def test_a_pass_added_by_the_sender_does_not_outweigh_our_servers_fail(session, checked, yehe):
    report, rnd, prompt = yehe
    raw = reply_to(prompt, ADVISOR, "同意", headers={
        "Authentication-Results": f"{OUR_SERVER}; dmarc=fail header.from=lvshi-a.example.cn"})
    raw = b"Authentication-Results: mx.evil.example; dmarc=pass header.from=lvshi-a.example.cn\n" + raw
    drop(checked.inbox_folder, raw)
    assert take_in(session, checked).outcomes == {InboundOutcome.UNAUTHENTICATED: 1}
    assert stage(session, report) == "legal_review"


def test_a_fail_stamped_by_another_server_is_ignored_and_a_second_valid_signature_counts(session, checked, yehe):
    report, rnd, prompt = yehe
    drop(checked.inbox_folder, reply_to(prompt, ADVISOR, "同意", headers={"Authentication-Results": (
        f"{OUR_SERVER}; dkim=fail header.d=lvshi-a.example.cn; dkim=pass header.d=lvshi-a.example.cn; "
        "spf=pass smtp.mailfrom=lvshi-a.example.cn")}))
    raw = reply_to(prompt, ADVISOR, "同意")
    drop(checked.inbox_folder, b"Authentication-Results: mx.other.example; dmarc=fail\n" + raw)
    assert take_in(session, checked).outcomes == {InboundOutcome.APPLIED: 1, InboundOutcome.ALREADY_DECIDED: 1}
    assert stage(session, report) == "committee_review"


def test_without_an_authserv_id_the_header_is_not_read(session, settings, yehe):
    report, rnd, prompt = yehe
    drop(settings.inbox_folder, reply_to(prompt, ADVISOR, "同意", headers={
        "Authentication-Results": f"{OUR_SERVER}; dmarc=fail header.from=lvshi-a.example.cn"}))
    assert take_in(session, settings).outcomes == {InboundOutcome.APPLIED: 1}
