"""Delivering the outbox over SMTP to a real aiosmtpd server (plain, STARTTLS + AUTH, implicit TLS),
on SQLite and PostgreSQL, asserting on what the server actually received: envelope, headers,
parts, decoded Chinese, attachment bytes, threading; and what the outbox rows say afterwards.

Covers: explicit TLS (never a silent plaintext send), connection reuse and bounded concurrency,
transient (connection, 4xx) vs permanent (5xx) failures, and crash safety when the server, the
connection or the delivering process goes away mid-batch.
"""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from docx import Document
from icalendar import Calendar
from sqlmodel import Session, select

from core.settings import PROJECT_ROOT, Settings, load_settings
from documents.reading import read_draft
from models.calendar import WorkingCalendar
from models.db import get_engine, utcnow
from models.deadlines import local_day
from models.tables import OutboxMessage, Person, Report, ReportVersion, ReviewRound
from notifications.backends import DeliveryConfigError, backend_for
from notifications.message import envelope
from notifications.outbox import LEASE, deliver, listing, retry
from notifications.smtp import SmtpBackend
from services.cycle import open_cycle
from services.decisions import record_decision, round_to_decide
from services.drafts import submit_draft
from services.filing import confirm_filings, file_report
from services.stages import hash_reply_code
from tests.conftest import report_of
from tests.smtp_server import (
    PASSWORD,
    USER,
    Received,
    Recorder,
    Server,
    free_port,
    implicit_tls_kwargs,
    make_certificates,
    starttls_auth_kwargs,
)

FROM_NAME = "青山县委依法治县办"
DRAFTER = "zhangwei@yehe.qingshan.example.gov.cn"  # 野鹤镇's drafter in the sample county
FILING_TO = ["xianwei-ban@qingshan.example.gov.cn", "fzc@city-dept.example.gov.cn"]  # 县司法局 files to both
FILING_CC = "yfzx@qingshan.example.gov.cn"
SECTIONS = ["一、2026年推进法治政府建设的主要举措和成效", "（一）坚持党的领导，压实第一责任人职责",
            "二、存在的不足和原因", "三、党政主要负责人履行推进法治建设第一责任人职责情况",
            "四、2027年推进法治政府建设的主要安排"]
SECTION_TEXT = {"二、": "行政执法规范化水平有待提升。原因是执法人员培训不足。"}


# ---------------------------------------------------------------------------------------------
# fixtures and helpers


@pytest.fixture
def servers():
    """Start aiosmtpd servers on 127.0.0.1 (`servers(handler, **smtp_kwargs)`); all stopped at the end."""
    started: list[Server] = []

    def start(handler: Recorder | None = None, port: int | None = None, **kwargs) -> Server:
        server = Server(handler or Recorder(), port=port, **kwargs).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def certs(tmp_path):
    return make_certificates(tmp_path)


def smtp_settings(monkeypatch, port: int, security: str = "none", **env) -> Settings:
    """The test's settings with SMTP configured (env names without the REPORTCHAIN_ prefix)."""
    for name in ("SMTP_USER", "SMTP_PASSWORD", "SMTP_CA_FILE", "SMTP_CONCURRENCY", "DELIVERY_MAX_ATTEMPTS",
                 "DELIVERY_RETRY_SECONDS"):
        monkeypatch.delenv(f"REPORTCHAIN_{name}", raising=False)
    monkeypatch.setenv("REPORTCHAIN_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("REPORTCHAIN_SMTP_PORT", str(port))
    monkeypatch.setenv("REPORTCHAIN_SMTP_SECURITY", security)
    monkeypatch.setenv("REPORTCHAIN_SMTP_TIMEOUT", "5")
    for name, value in env.items():
        monkeypatch.setenv(f"REPORTCHAIN_{name.upper()}", str(value))
    return load_settings()


def rows(session: Session, kind: str | None = None) -> list[OutboxMessage]:
    session.expire_all()
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    if kind:
        query = query.where(OutboxMessage.kind == kind)
    return list(session.exec(query))


def row_to(session: Session, address: str) -> OutboxMessage:
    [row] = [r for r in rows(session) if address in r.to_addrs]
    return row


def ids_received(*handlers: Recorder) -> Counter:
    return Counter(r.message_id for h in handlers for r in h.snapshot())


def open_kickoffs(session, settings) -> list[OutboxMessage]:
    """The sample county's 2026 cycle: 13 kickoff mails in the outbox."""
    open_cycle(session, settings, 2026)
    session.commit()
    return rows(session)


def word_draft() -> bytes:
    doc = Document()
    doc.add_heading("县司法局2026年度法治政府建设年度报告", level=1)
    for line in SECTIONS:
        doc.add_paragraph(line)
        doc.add_paragraph(SECTION_TEXT.get(line[:2], "本年度依法推进各项工作，取得了阶段性成效。"))
    doc.add_paragraph("县司法局")
    doc.add_paragraph("2027年1月12日")
    buffer = io.BytesIO()
    doc.save(buffer)
    return buffer.getvalue()


@dataclass
class Chain:
    report: Report
    draft: bytes
    rounds: list[ReviewRound]  # legal, committee
    filing: OutboxMessage


def drive_chain(session: Session, settings: Settings, county) -> Chain:
    """县司法局 through the whole chain: kickoffs, a Word draft, two approvals, the filing mail."""
    open_cycle(session, settings, 2026)
    report = report_of(session, county["sifaju"])
    content = word_draft()
    draft = read_draft("县司法局2026年法治政府建设报告（送审稿）.docx", content)
    submit_draft(session, settings, report, draft, "吴军")
    session.commit()
    decided = []
    for stage, comment in (("legal_review", "同意。"), ("committee_review", "经局党组会议审议通过。")):
        rnd = round_to_decide(session, report.ref, stage)
        record_decision(session, settings, rnd.id, "approve", comment=comment, via="phone", actor="吴协调")
        session.commit()
        decided.append(rnd)
    filing = file_report(session, settings, report)
    session.commit()
    return Chain(report, content, decided, filing)


@pytest.fixture
def delivered(session, settings, county, servers, monkeypatch):
    """The whole chain's mail delivered over plain SMTP; the server's record of it, by Message-ID."""
    chain = drive_chain(session, settings, county)
    server = servers()
    smtp = smtp_settings(monkeypatch, server.port)
    result = deliver(session, smtp, backend_for(smtp))
    return chain, result, server.handler


def received_for(handler: Recorder, row: OutboxMessage) -> Received:
    [got] = [r for r in handler.snapshot() if r.message_id == row.message_id]
    return got


def calendar_part(message):
    parts = [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]
    assert len(parts) <= 1
    return parts[0] if parts else None


def document_parts(message):
    return [p for p in message.iter_attachments() if p.get_content_type() != "text/calendar"]


def header_lines(raw: bytes, name: bytes) -> list[bytes]:
    """Every header line (with its folded continuations) named `name`, anywhere in the raw message."""
    unfolded = re.sub(rb"\r\n[ \t]+", b" ", raw)
    return [line for line in unfolded.split(b"\r\n") if line.lower().startswith(name.lower() + b":")]


# ---------------------------------------------------------------------------------------------
# what arrives: content, headers, parts, threading


def test_every_outbox_mail_arrives_once_under_its_own_stable_message_id(session, delivered):
    chain, result, handler = delivered
    outbox = rows(session)
    assert len(outbox) == 13 + 2 + 2 + 1 + 1  # kickoffs, two prompts, two receipts, ready to file, the filing
    assert (result.sent, result.retrying, result.failed) == (len(outbox), 0, [])
    assert ids_received(handler) == Counter({r.message_id: 1 for r in outbox})
    assert all(r.status == "sent" and r.attempts == 1 and r.sent_at is not None for r in outbox)
    assert all(r.message_id.endswith("@qingshan.example.gov.cn>") for r in outbox)
    # each message's envelope sender is the office's address
    assert {r.mail_from for r in handler.snapshot()} == {"fzb@qingshan.example.gov.cn"}


def test_delivering_again_sends_nothing(session, delivered, monkeypatch):
    _, _, handler = delivered
    before = handler.rcpt_calls
    smtp = smtp_settings(monkeypatch, free_port())  # nothing listens there: any attempt would show
    again = deliver(session, smtp, backend_for(smtp), now=utcnow() + timedelta(days=30))
    assert (again.sent, again.retrying, again.failed) == (0, 0, [])
    assert handler.rcpt_calls == before


def test_chinese_headers_are_rfc2047_encoded_on_the_wire_and_decode_back(session, delivered):
    chain, _, handler = delivered
    prompt = rows(session, "review_prompt")[0]
    got = received_for(handler, prompt)
    assert got.raw_headers.isascii()  # no raw 8-bit bytes in any header: every client can read it
    [raw_from] = header_lines(got.raw_headers, b"From")
    [raw_subject] = header_lines(got.raw_headers, b"Subject")
    assert b"=?utf-8?" in raw_from.lower() and b"=?utf-8?" in raw_subject.lower()
    message = got.message
    [sender] = message["From"].addresses
    assert (sender.display_name, sender.addr_spec) == (FROM_NAME, "fzb@qingshan.example.gov.cn")
    [to] = message["To"].addresses
    assert (to.display_name, to.addr_spec) == ("周律师", "zhou.lawyer@lvshi-b.example.cn")
    assert message["Subject"] == prompt.subject
    assert message["Subject"].startswith(f"[#{chain.report.ref}] 请审核：县司法局2026年度法治政府建设年度报告")
    assert re.fullmatch(r"R-2026-\d{3}", chain.report.ref)
    assert message["Message-ID"] == prompt.message_id
    assert message["Reply-To"] == "fzb@qingshan.example.gov.cn"


def test_every_mail_has_text_and_html_alternatives_in_utf8(session, delivered):
    _, _, handler = delivered
    for row in rows(session):
        message = received_for(handler, row).message
        [alternative] = [p for p in message.walk() if p.get_content_type() == "multipart/alternative"]
        assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/html"]
        plain, html = message.get_body(("plain",)), message.get_body(("html",))
        assert plain.get_content_charset() == html.get_content_charset() == "utf-8"
        assert plain.get_content().replace("\r\n", "\n") == row.body_text
        assert FROM_NAME in html.get_content() and FROM_NAME in plain.get_content()


def test_the_prompt_carries_the_reply_code_bound_to_the_round_and_how_to_answer(session, delivered):
    chain, _, handler = delivered
    legal = chain.rounds[0]
    prompt = session.exec(select(OutboxMessage).where(OutboxMessage.message_id == legal.prompt_message_id)).one()
    message = received_for(handler, prompt).message
    text = message.get_body(("plain",)).get_content()
    code = re.search(r"审核码：(\w{6})", text).group(1)
    version = session.get(ReportVersion, legal.version_id)
    assert legal.reply_code_hash == hash_reply_code(code, ref=chain.report.ref, stage="legal_review", number=1,
                                                    reviewer="zhou.lawyer@lvshi-b.example.cn", version_id=version.id)
    assert "同意" in text and "退回" in text and f"[#{chain.report.ref}]" in text
    assert code in message.get_body(("html",)).get_content()
    opened = local_day(legal.opened_at, "Asia/Shanghai")
    due = WorkingCalendar().add_working_days(opened, 5)  # the legal review's budget: 5 working days
    assert f"请于 {due.year}年{due.month}月{due.day}日 前直接回复" in text


def test_the_prompt_attaches_the_submitted_file_byte_for_byte_under_a_chinese_name(session, delivered):
    chain, _, handler = delivered
    prompt = rows(session, "review_prompt")[0]
    got = received_for(handler, prompt)
    [document] = document_parts(got.message)
    assert document.get_filename() == "县司法局2026年度法治政府建设年度报告（第1稿）.docx"
    assert document.get_content_type() == "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    assert document.get_content() == chain.draft
    # the Chinese name is encoded (RFC 2231), never raw 8-bit bytes in a header
    dispositions = header_lines(got.content, b"Content-Disposition")
    assert dispositions and all(line.isascii() for line in dispositions)


def test_prompts_and_kickoffs_carry_a_calendar_entry_on_the_due_date(session, delivered):
    chain, _, handler = delivered
    kickoff = row_to(session, "wujun@sifaju.qingshan.example.gov.cn")
    legal_prompt = rows(session, "review_prompt")[0]
    opened = local_day(chain.rounds[0].opened_at, "Asia/Shanghai")
    expected = {"kickoff": date(2026, 12, 21),  # 20 Dec 2026 is a Sunday: the next working day
                "review_prompt": WorkingCalendar().add_working_days(opened, 5)}  # the legal review's budget
    for row in (kickoff, legal_prompt):
        part = calendar_part(received_for(handler, row).message)
        assert part is not None, row.kind
        assert part.get_filename() == "截止日期.ics"
        assert part.get_param("method") == "PUBLISH"
        ics = part.get_content()
        due = expected[row.kind]
        assert f"DTSTART;VALUE=DATE:{due:%Y%m%d}" in ics.replace("\r\n", "\n")
        [event] = Calendar.from_ical(ics).walk("VEVENT")
        assert event.decoded("dtstart") == due
        assert event.decoded("dtend") == due + timedelta(days=1)
        assert str(event["uid"]) == row.message_id.strip("<>")
        assert str(event["summary"]).startswith(f"[#{chain.report.ref}] 县司法局年度报告")


def test_receipts_and_filings_carry_no_calendar_entry(session, delivered):
    _, _, handler = delivered
    for row in rows(session, "receipt") + rows(session, "filing"):
        assert calendar_part(received_for(handler, row).message) is None


def test_each_receipt_threads_under_the_prompt_it_answers(session, delivered):
    chain, _, handler = delivered
    receipts = rows(session, "receipt")
    assert len(receipts) == 2
    for receipt, rnd in zip(receipts, chain.rounds, strict=True):
        prompt = received_for(handler, session.exec(
            select(OutboxMessage).where(OutboxMessage.message_id == rnd.prompt_message_id)).one()).message
        message = received_for(handler, receipt).message
        assert message["In-Reply-To"] == prompt["Message-ID"] == rnd.prompt_message_id
        assert message["References"] == prompt["Message-ID"]
        assert message["Subject"].startswith(f"Re: [#{chain.report.ref}] 已记录：同意")


def test_the_filing_goes_to_every_to_and_cc_address_with_the_report_attached(session, settings, delivered):
    chain, _, handler = delivered
    got = received_for(handler, chain.filing)
    assert sorted(got.rcpt_tos) == sorted([*FILING_TO, FILING_CC])
    message = got.message
    assert [a.addr_spec for a in message["To"].addresses] == FILING_TO
    assert message["Cc"] == FILING_CC
    assert message["Subject"] == f"[#{chain.report.ref}] 报送：县司法局2026年度法治政府建设年度报告"
    [document] = document_parts(message)
    assert document.get_filename() == "县司法局2026年度法治政府建设年度报告.docx"
    filed = read_draft("filed.docx", document.get_content())  # the approved text, laid out as a 公文
    submitted = read_draft("draft.docx", chain.draft)
    assert all(line in filed.text for line in submitted.text.splitlines() if line.strip())
    assert confirm_filings(session, settings) == [chain.report.ref]  # accepted by SMTP: the report is filed
    session.commit()
    assert session.get(Report, chain.report.id).stage == "confidentiality_review"  # filed, and asked of the reviewer


# ---------------------------------------------------------------------------------------------
# connections


@pytest.mark.parametrize("concurrency", [1, 2, 4])
def test_a_batch_uses_one_reused_connection_per_worker_up_to_the_configured_concurrency(
        session, settings, county, servers, monkeypatch, concurrency):
    outbox = open_kickoffs(session, settings)
    server = servers()
    smtp = smtp_settings(monkeypatch, server.port, smtp_concurrency=concurrency)
    assert deliver(session, smtp, backend_for(smtp)).sent == len(outbox) == 13
    assert len(server.handler.peers) == concurrency
    assert len({r.peer for r in server.handler.snapshot()}) == concurrency


def test_each_batch_opens_its_own_connections_and_sends_every_row(session, settings, county, servers, monkeypatch):
    outbox = open_kickoffs(session, settings)
    server = servers()
    smtp = smtp_settings(monkeypatch, server.port, smtp_concurrency=2)
    assert deliver(session, smtp, backend_for(smtp), batch_size=5).sent == 13
    assert len(server.handler.peers) == 2 * 3  # batches of 5, 5 and 3, two workers each
    assert ids_received(server.handler) == Counter({r.message_id: 1 for r in outbox})


@pytest.mark.parametrize("answer", ["550 5.1.1 User unknown", "451 4.3.0 Try again later"])
def test_a_refused_recipient_does_not_cost_the_batch_its_connection(
        session, settings, county, servers, monkeypatch, answer):
    open_kickoffs(session, settings)
    server = servers(Recorder(refuse={DRAFTER: answer}))
    smtp = smtp_settings(monkeypatch, server.port, smtp_concurrency=1)
    report = deliver(session, smtp, backend_for(smtp))
    assert report.sent == 12
    assert len(server.handler.peers) == 1


# ---------------------------------------------------------------------------------------------
# permanent and transient failures


def test_an_unknown_recipient_is_failed_with_the_servers_answer_and_never_retried(
        session, settings, county, servers, monkeypatch):
    person = session.exec(select(Person).where(Person.email == DRAFTER)).one()
    person.email = "unknown.zhangwei@yehe.qingshan.example.gov.cn"  # a typo in the roster
    session.add(person)
    session.commit()
    open_kickoffs(session, settings)
    server = servers()
    smtp = smtp_settings(monkeypatch, server.port)
    result = deliver(session, smtp, backend_for(smtp))
    bad = row_to(session, "unknown.zhangwei@")
    assert (result.sent, result.retrying, result.failed) == (12, 0, [bad.id])
    assert bad.status == "failed" and bad.attempts == 1
    assert "550 5.1.1" in bad.last_error and "unknown.zhangwei@yehe.qingshan.example.gov.cn" in bad.last_error
    assert "User unknown" in bad.last_error
    assert bad.message_id not in ids_received(server.handler)
    assert [r.id for r in listing(session, failed_only=True)] == [bad.id]

    rcpt_before = server.handler.rcpt_calls
    again = deliver(session, smtp, backend_for(smtp), now=utcnow() + timedelta(days=30))
    assert (again.sent, again.retrying, again.failed) == (0, 0, [])
    assert server.handler.rcpt_calls == rcpt_before
    assert row_to(session, "unknown.zhangwei@").attempts == 1


def test_a_failed_mail_put_back_in_line_is_delivered_once(session, settings, county, servers, monkeypatch):
    open_kickoffs(session, settings)
    server = servers(Recorder(refuse={DRAFTER: "550 5.1.1 <zhangwei>: mailbox unavailable"}))
    smtp = smtp_settings(monkeypatch, server.port)
    deliver(session, smtp, backend_for(smtp))
    bad = row_to(session, DRAFTER)
    assert bad.status == "failed"
    sent_one = next(r for r in rows(session) if r.status == "sent")
    assert retry(session, sent_one.id) is None  # a sent mail is never put back

    server.handler.refuse.clear()  # the mailbox was fixed
    assert retry(session, bad.id).status == "pending"
    session.commit()
    assert deliver(session, smtp, backend_for(smtp)).sent == 1
    assert row_to(session, DRAFTER).status == "sent"
    assert ids_received(server.handler) == Counter({r.message_id: 1 for r in rows(session)})


def test_a_4xx_recipient_waits_with_backoff_and_is_delivered_once_later(
        session, settings, county, servers, monkeypatch):
    open_kickoffs(session, settings)
    server = servers(Recorder(transient={DRAFTER}))
    smtp = smtp_settings(monkeypatch, server.port)  # retry after 60 s, doubling
    before = utcnow()
    result = deliver(session, smtp, backend_for(smtp))
    waiting = row_to(session, DRAFTER)
    assert (result.sent, result.retrying, result.failed) == (12, 1, [])
    assert (waiting.status, waiting.attempts) == ("pending", 1)
    assert "451 4.3.0" in waiting.last_error
    assert before + timedelta(seconds=60) <= waiting.next_attempt_at <= utcnow() + timedelta(seconds=60)

    rcpt_before = server.handler.rcpt_calls
    assert deliver(session, smtp, backend_for(smtp)).sent == 0  # not due yet: nothing is tried
    assert server.handler.rcpt_calls == rcpt_before

    server.handler.transient.clear()
    later = deliver(session, smtp, backend_for(smtp), now=waiting.next_attempt_at + timedelta(seconds=1))
    assert (later.sent, later.retrying) == (1, 0)
    done = row_to(session, DRAFTER)
    assert (done.status, done.attempts, done.next_attempt_at) == ("sent", 2, None)
    assert ids_received(server.handler) == Counter({r.message_id: 1 for r in rows(session)})


def test_a_failure_to_record_an_accepted_mail_is_never_taken_for_a_failure_to_send_it(
        session, settings, county, servers, monkeypatch):
    [row, *_] = open_kickoffs(session, settings)
    server = servers(Recorder())
    smtp = smtp_settings(monkeypatch, server.port)
    said = []

    def record(index, outcome):  # e.g. the disk under the journal or the database fails right now
        said.append(outcome)
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        SmtpBackend(smtp.smtp).send([envelope(smtp, row)], record)
    assert [o.sent for o in said] == [True]  # told once, as sent: never again as a failure to be retried
    assert ids_received(server.handler) == Counter({row.message_id: 1})


def test_a_sent_journal_that_cannot_be_written_stops_no_mail_and_sends_none_twice(
        session, settings, county, servers, monkeypatch, tmp_path):
    open_kickoffs(session, settings)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the journal's folder should be")
    monkeypatch.setenv("REPORTCHAIN_SENT_JOURNAL", str(blocker / "sent.journal"))
    server = servers(Recorder())
    smtp = smtp_settings(monkeypatch, server.port)
    with pytest.raises(OSError):  # the run says so …
        deliver(session, smtp, backend_for(smtp))
    assert {r.status for r in rows(session)} == {"sent"}  # … after every mail went, and the database knows it
    assert deliver(session, smtp, backend_for(smtp), now=utcnow() + timedelta(hours=1)).sent == 0
    assert ids_received(server.handler) == Counter({r.message_id: 1 for r in rows(session)})


def test_a_mail_that_reached_some_recipients_before_a_restore_goes_only_to_the_others(
        session, settings, county, servers, monkeypatch):
    # The relay took a mail for one recipient and answered 4xx for the other; then the database was restored
    # from a backup older than that attempt: the sent journal still knows who has the mail.
    open_kickoffs(session, settings)
    later = "later@qingshan.example.gov.cn"
    row = row_to(session, DRAFTER)
    row.cc_addrs = f"王科长 <{later}>"
    session.add(row)
    session.commit()
    server = servers(Recorder(transient={later}))
    smtp = smtp_settings(monkeypatch, server.port)
    deliver(session, smtp, backend_for(smtp))
    assert row_to(session, DRAFTER).pending_recipients == later

    def restored() -> None:  # the row as the backup held it: pending, never tried
        row = row_to(session, DRAFTER)
        row.status, row.pending_recipients, row.attempts, row.next_attempt_at = "pending", None, 0, None
        session.add(row)
        session.commit()

    restored()
    server.handler.transient.clear()
    assert deliver(session, smtp, backend_for(smtp)).sent == 1
    got = [r.rcpt_tos for r in server.handler.snapshot() if r.message_id == row.message_id]
    assert got == [[DRAFTER], [later]]  # the drafter got it once, the other recipient once, after the restore
    restored()  # restored again: the journal now says everyone has it
    assert deliver(session, smtp, backend_for(smtp)).sent == 0
    assert len([r for r in server.handler.snapshot() if r.message_id == row.message_id]) == 2
    assert row_to(session, DRAFTER).status == "sent"


@pytest.mark.parametrize(("answer", "status"), [("452 4.3.1 Insufficient system storage", "pending"),
                                                ("554 5.6.0 Message content rejected", "failed")])
def test_an_answer_to_the_message_itself_is_transient_for_4xx_and_permanent_for_5xx(
        session, settings, county, servers, monkeypatch, answer, status):
    outbox = open_kickoffs(session, settings)
    server = servers(Recorder(answer_at={2: answer}))
    smtp = smtp_settings(monkeypatch, server.port, smtp_concurrency=1, delivery_retry_seconds=0)
    deliver(session, smtp, backend_for(smtp))
    [refused] = [r for r in rows(session) if r.status != "sent"]
    assert refused.id == outbox[1].id
    assert (refused.status, refused.attempts, refused.last_error) == (status, 1, answer)
    assert len(server.handler.peers) == 1  # the connection went on to the next message
    deliver(session, smtp, backend_for(smtp), now=utcnow() + timedelta(hours=1))
    expected = {r.message_id: 1 for r in outbox if status == "pending" or r.id != refused.id}
    assert ids_received(server.handler) == Counter(expected)


def test_connection_errors_back_off_doubling_and_give_up_after_the_configured_attempts(
        session, settings, county, monkeypatch):
    open_kickoffs(session, settings)
    smtp = smtp_settings(monkeypatch, free_port(), delivery_max_attempts=3, delivery_retry_seconds=10)
    started = utcnow()
    first = deliver(session, smtp, backend_for(smtp))
    window = (started, utcnow())  # when the attempt was made: the backoff counts from the real clock
    assert (first.sent, first.retrying, first.failed) == (0, 13, [])
    for attempt, wait in ((1, timedelta(seconds=10)), (2, timedelta(seconds=20))):
        outbox = rows(session)
        assert {(r.status, r.attempts) for r in outbox} == {("pending", attempt)}
        assert all("Connect" in r.last_error or "refused" in r.last_error.lower() for r in outbox)
        assert all(window[0] + wait <= r.next_attempt_at <= window[1] + wait for r in outbox)
        due = max(r.next_attempt_at for r in outbox) + timedelta(seconds=1)
        started = utcnow()
        deliver(session, smtp, backend_for(smtp), now=due)
        window = (started, utcnow())
    assert {(r.status, r.attempts) for r in rows(session)} == {("failed", 3)}


# ---------------------------------------------------------------------------------------------
# explicit TLS and login


def test_starttls_with_login_delivers_over_an_encrypted_authenticated_connection(
        session, settings, county, servers, certs, monkeypatch):
    outbox = open_kickoffs(session, settings)
    server = servers(**starttls_auth_kwargs(certs))
    smtp = smtp_settings(monkeypatch, server.port, "starttls", smtp_user=USER, smtp_password=PASSWORD,
                         smtp_ca_file=certs.ca_file)
    assert deliver(session, smtp, backend_for(smtp)).sent == 13
    got = server.handler.snapshot()
    assert ids_received(server.handler) == Counter({r.message_id: 1 for r in outbox})
    assert {(r.tls, r.login) for r in got} == {(True, USER)}
    assert got[0].message["From"].addresses[0].display_name == FROM_NAME


def test_implicit_tls_with_login_delivers(session, settings, county, servers, certs, monkeypatch):
    outbox = open_kickoffs(session, settings)
    server = servers(**implicit_tls_kwargs(certs))
    smtp = smtp_settings(monkeypatch, server.port, "tls", smtp_user=USER, smtp_password=PASSWORD,
                         smtp_ca_file=certs.ca_file)
    assert deliver(session, smtp, backend_for(smtp)).sent == 13
    assert ids_received(server.handler) == Counter({r.message_id: 1 for r in outbox})
    assert {(r.tls, r.login) for r in server.handler.snapshot()} == {(True, USER)}


def assert_untouched(session: Session, handler: Recorder) -> None:
    """Nothing reached the server, and every row waits as it was for the fixed configuration."""
    assert handler.received == [] and handler.rcpt_calls == 0
    assert {(r.status, r.attempts, r.last_error, r.next_attempt_at) for r in rows(session)} == {
        ("pending", 0, None, None)}


def test_starttls_the_server_does_not_offer_is_an_error_never_a_plaintext_send(
        session, settings, county, servers, certs, monkeypatch):
    open_kickoffs(session, settings)
    server = servers()  # plain: no STARTTLS in its EHLO answer
    smtp = smtp_settings(monkeypatch, server.port, "starttls", smtp_ca_file=certs.ca_file)
    with pytest.raises(DeliveryConfigError, match="STARTTLS"):
        deliver(session, smtp, backend_for(smtp))
    assert_untouched(session, server.handler)


def test_implicit_tls_against_a_plaintext_server_is_an_error(session, settings, county, servers, certs, monkeypatch):
    open_kickoffs(session, settings)
    server = servers()
    smtp = smtp_settings(monkeypatch, server.port, "tls", smtp_ca_file=certs.ca_file)
    with pytest.raises(DeliveryConfigError, match="TLS"):
        deliver(session, smtp, backend_for(smtp))
    assert_untouched(session, server.handler)


def test_a_certificate_that_does_not_verify_is_an_error(session, settings, county, servers, certs, monkeypatch):
    open_kickoffs(session, settings)
    server = servers(**starttls_auth_kwargs(certs))
    smtp = smtp_settings(monkeypatch, server.port, "starttls", smtp_user=USER, smtp_password=PASSWORD)  # no CA
    with pytest.raises(DeliveryConfigError, match="(?i)certificate"):
        deliver(session, smtp, backend_for(smtp))
    assert_untouched(session, server.handler)


def test_a_refused_login_is_an_error_and_nothing_is_sent(session, settings, county, servers, certs, monkeypatch):
    open_kickoffs(session, settings)
    server = servers(**starttls_auth_kwargs(certs))
    smtp = smtp_settings(monkeypatch, server.port, "starttls", smtp_user=USER, smtp_password="wrong",
                         smtp_ca_file=certs.ca_file)
    with pytest.raises(DeliveryConfigError, match="535"):
        deliver(session, smtp, backend_for(smtp))
    assert_untouched(session, server.handler)


def test_smtp_settings_are_explicit_about_tls(settings, monkeypatch):
    assert settings.smtp is None  # no host: the mail folder
    assert smtp_settings(monkeypatch, 2525).smtp.port == 2525
    monkeypatch.delenv("REPORTCHAIN_SMTP_PORT")
    for security, port in (("starttls", 587), ("tls", 465), ("none", 25)):
        monkeypatch.setenv("REPORTCHAIN_SMTP_SECURITY", security)
        configured = load_settings()
        assert (configured.smtp.security, configured.smtp.port) == (security, port)
        assert isinstance(backend_for(configured), SmtpBackend)
    monkeypatch.setenv("REPORTCHAIN_SMTP_SECURITY", "ssl")
    with pytest.raises(ValueError, match="starttls, tls, none"):
        load_settings()


# ---------------------------------------------------------------------------------------------
# crash safety


def test_a_server_gone_mid_batch_loses_nothing_and_sends_nothing_twice(
        session, settings, county, servers, monkeypatch):
    outbox = open_kickoffs(session, settings)
    first = servers(Recorder(gone_at=5))  # the 5th message: connection cut, the server shuts down
    smtp = smtp_settings(monkeypatch, first.port, smtp_concurrency=1, delivery_retry_seconds=0)
    result = deliver(session, smtp, backend_for(smtp))
    assert first.stopped.wait(10)
    assert (result.sent, result.retrying, result.failed) == (4, 9, [])
    waiting = [r for r in rows(session) if r.status == "pending"]
    assert len(waiting) == 9 and all(r.attempts == 1 and r.last_error for r in waiting)

    second = servers(port=first.port)  # back up on the same address
    result = deliver(session, smtp, backend_for(smtp))
    assert (result.sent, result.retrying, result.failed) == (9, 0, [])
    assert {r.status for r in rows(session)} == {"sent"}
    assert ids_received(first.handler, second.handler) == Counter({r.message_id: 1 for r in outbox})


def test_a_connection_dropped_mid_message_is_resent_once_on_the_next_delivery(
        session, settings, county, servers, monkeypatch):
    outbox = open_kickoffs(session, settings)
    server = servers(Recorder(drop_at={3}))
    smtp = smtp_settings(monkeypatch, server.port, smtp_concurrency=2, delivery_retry_seconds=0)
    result = deliver(session, smtp, backend_for(smtp))
    assert (result.sent, result.retrying, result.failed) == (12, 1, [])
    assert deliver(session, smtp, backend_for(smtp)).sent == 1
    assert ids_received(server.handler) == Counter({r.message_id: 1 for r in outbox})
    assert sorted(r.attempts for r in rows(session)) == [1] * 12 + [2]


KILLABLE_DELIVERY = """
from sqlmodel import Session
from models.db import get_engine
from notifications.backends import backend_for
from notifications.outbox import deliver
from core.settings import load_settings

settings = load_settings()
with Session(get_engine(settings.database_url), expire_on_commit=False) as session:
    deliver(session, settings, backend_for(settings))
"""


def test_two_deliveries_at_once_send_each_mail_once(session, settings, county, servers, monkeypatch):
    outbox = open_kickoffs(session, settings)
    server = servers(Recorder(delay=0.02))
    smtp = smtp_settings(monkeypatch, server.port, smtp_concurrency=1)

    def run() -> int:
        with Session(get_engine(smtp.database_url), expire_on_commit=False) as own:
            return deliver(own, smtp, backend_for(smtp), batch_size=5).sent

    with ThreadPoolExecutor(2) as pool:
        sent = list(pool.map(lambda _: run(), range(2)))
    assert sum(sent) == len(outbox) and all(sent)  # both worked, neither sent what the other claimed
    assert ids_received(server.handler) == Counter({r.message_id: 1 for r in outbox})


def test_a_delivery_killed_mid_batch_resumes_without_losing_a_message(
        session, settings, county, servers, monkeypatch, tmp_path):
    outbox = open_kickoffs(session, settings)
    server = servers(Recorder(delay=0.05))  # a slow relay: the kill lands mid-batch
    smtp = smtp_settings(monkeypatch, server.port, smtp_concurrency=1)
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    process = subprocess.Popen([sys.executable, "-c", KILLABLE_DELIVERY], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while len(server.handler.snapshot()) < 5:
            assert process.poll() is None, process.communicate()[1].decode()
            assert time.monotonic() < deadline, "the delivery process never got going"
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == -signal.SIGKILL
    time.sleep(0.1)  # let the server finish the message it was answering
    before = len(server.handler.snapshot())
    assert 5 <= before < len(outbox)

    # The killed run still holds what it claimed: a delivery at once leaves those alone (they may be
    # at the server), and sends them when the lease ends.
    assert deliver(session, smtp, backend_for(smtp)).sent == 0
    result = deliver(session, smtp, backend_for(smtp), now=utcnow() + LEASE + timedelta(seconds=1))
    assert {r.status for r in rows(session)} == {"sent"}
    received = ids_received(server.handler)
    assert set(received) == {r.message_id for r in outbox}  # nothing lost
    twice = [mid for mid, n in received.items() if n > 1]
    assert len(twice) <= 1 and all(received[mid] == 2 for mid in twice)  # at most the one in flight
    assert result.sent == len(outbox) - before + len(twice)


# ---------------------------------------------------------------------------------------------
# a recipient of several answering 4xx


def test_a_filing_recipient_answering_4xx_still_gets_the_filing_later(
        session, settings, county, servers, monkeypatch):
    chain = drive_chain(session, settings, county)
    server = servers(Recorder(transient={FILING_TO[1]}))  # the city bureau's relay says "try later"
    smtp = smtp_settings(monkeypatch, server.port, delivery_retry_seconds=0)
    deliver(session, smtp, backend_for(smtp))
    server.handler.transient.clear()
    deliver(session, smtp, backend_for(smtp), now=utcnow() + timedelta(hours=2))
    got = Counter(a for r in server.handler.snapshot() if r.message_id == chain.filing.message_id
                  for a in r.rcpt_tos)
    assert got == Counter({FILING_TO[0]: 1, FILING_TO[1]: 1, FILING_CC: 1})
