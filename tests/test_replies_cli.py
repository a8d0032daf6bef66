"""`reportchain replies …` as a coordinator uses it: take replies in (or try it with --dry-run), list what
came in and why it was or was not applied, look at one message and save its attachments."""

from __future__ import annotations

import pytest
from sqlmodel import select

from models.tables import InboundMessage, Report
from tests.replies_kit import drop, reply_to
from tests.test_cli import cli, mail_subjects, ok, refused

ADVISOR = "陈律师 <chen.lawyer@lvshi-a.example.cn>"


@pytest.fixture
def prompt(yehe):
    return yehe[2]


def stage(session, ref="R-2026-001") -> str:
    session.expire_all()
    return session.exec(select(Report.stage).where(Report.ref == ref)).one()


def test_fetch_applies_the_reply_shows_what_it_did_and_delivers_the_receipt(session, settings, prompt):
    drop(settings.inbox_folder, reply_to(prompt, ADVISOR, "同意"))
    drop(settings.inbox_folder, reply_to(prompt, "路人 <x@else.example.cn>", "同意"))
    output = ok(cli("replies", "fetch"))
    assert "已采用" in output and "非审核人，未采用" in output and "R-2026-001" in output
    assert "已投递邮件" in output
    assert stage(session) == "committee_review"
    assert any("已记录：同意" in s for s in mail_subjects(settings))


def test_a_second_fetch_finds_nothing_new(session, settings, prompt):
    drop(settings.inbox_folder, reply_to(prompt, ADVISOR, "同意"))
    ok(cli("replies", "fetch"))
    assert "没有新的回复邮件" in ok(cli("replies", "fetch"))


def test_fetch_dry_run_shows_the_outcome_and_the_mails_but_changes_nothing(session, settings, prompt):
    drop(settings.inbox_folder, reply_to(prompt, ADVISOR, "同意"))
    output = ok(cli("replies", "fetch", "--dry-run"))
    assert "已采用" in output and "试运行" in output and "已记录：同意" in output
    assert stage(session) == "legal_review"
    assert not session.exec(select(InboundMessage)).all()
    assert len(list(settings.inbox_folder.glob("*.eml"))) == 1


def test_list_and_show_explain_a_reply_that_was_not_applied(session, settings, prompt, tmp_path):
    drop(settings.inbox_folder, reply_to(prompt, ADVISOR, "可以通过吗？",
                                         attachments=(("审核意见.docx", b"PK\x03\x04 notes"),)))
    ok(cli("replies", "fetch"))
    listing = ok(cli("replies", "list", "--outcome", "unclear"))
    assert "chen.lawyer@lvshi-a.example.cn" in listing and "无法判断" in listing
    [row] = session.exec(select(InboundMessage)).all()
    shown = ok(cli("replies", "show", row.id, "--save", tmp_path / "saved"))
    assert "可以通过吗？" in shown and "审核意见.docx" in shown and "无法判断" in shown
    assert (tmp_path / "saved" / "审核意见.docx").read_bytes() == b"PK\x03\x04 notes"
    assert (tmp_path / "saved" / f"inbound-{row.id}.eml").read_bytes() == row.raw


def test_show_of_an_unknown_message_is_refused_clearly(settings):
    refused(cli("replies", "show", 999), "找不到编号为 999 的邮件")


def test_list_when_nothing_has_come_in(settings):
    assert "还没有收到任何邮件" in ok(cli("replies", "list"))


def test_an_unreachable_mailbox_is_a_clear_error_and_stores_nothing(settings, monkeypatch):
    from tests.smtp_server import free_port

    monkeypatch.setenv("REPORTCHAIN_IMAP_HOST", "127.0.0.1")
    monkeypatch.setenv("REPORTCHAIN_IMAP_PORT", str(free_port()))  # nothing listens there
    monkeypatch.setenv("REPORTCHAIN_IMAP_SECURITY", "none")
    refused(cli("replies", "fetch"), "无法读取回复邮箱")


def test_parse_shows_the_reading_without_a_database(tmp_path, monkeypatch):
    monkeypatch.setenv("REPORTCHAIN_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    raw = (b"From: a@b.cn\r\nSubject: =?utf-8?b?5Zue5aSN77yaWyNSLTIwMjYtMDAzXQ==?=\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + "退回，请补充。".encode())
    (tmp_path / "r.eml").write_bytes(raw)
    output = ok(cli("replies", "parse", tmp_path / "r.eml"))
    assert "判断结果：退回" in output and "R-2026-003" in output


def test_parse_says_when_the_words_sit_under_somebody_elses_header(tmp_path):
    raw = ("From: a@b.cn\r\nSubject: Fwd\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
           "On Sun, Dec 20, 2026 at 9:13 AM 王科长 <wang@qingshan.example.gov.cn> wrote:\r\n\r\n同意\r\n").encode()
    (tmp_path / "r.eml").write_bytes(raw)
    output = ok(cli("replies", "parse", tmp_path / "r.eml"))
    assert "判断结果：无法判断" in output and "可能是转发或引用的原文" in output and "\n同意" in output
    assert '"under_header": true' in ok(cli("replies", "parse", tmp_path / "r.eml", "--json"))
