"""The coordinator's view of mail over SMTP: failures are listed with the server's answer, the
coordinator is told by mail, a failed mail can be put back in line, and --dry-run sends nothing."""

from __future__ import annotations

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from models.tables import OutboxMessage
from reportchain.cli import app
from tests.conftest import SAMPLE_ROSTER
from tests.smtp_server import Recorder, Server

runner = CliRunner()


@pytest.fixture
def smtp(settings, monkeypatch):
    server = Server(Recorder(transient={"liqiang@shangshe.qingshan.example.gov.cn"})).start()
    monkeypatch.setenv("REPORTCHAIN_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("REPORTCHAIN_SMTP_PORT", str(server.port))
    monkeypatch.setenv("REPORTCHAIN_SMTP_SECURITY", "none")
    yield server
    server.stop()


def invoke(*args):
    return runner.invoke(app, list(args))


@pytest.fixture
def county_with_a_wrong_address(tmp_path, smtp):
    """野鹤镇's drafter has an address the server does not know (550); 上社镇's answers 451."""
    roster = tmp_path / "roster.yaml"
    roster.write_text(SAMPLE_ROSTER.read_text(encoding="utf-8").replace(
        "zhangwei@yehe", "unknown-zhangwei@yehe"), encoding="utf-8")
    assert invoke("units", "import", str(roster)).exit_code == 0


def test_a_mail_refused_for_good_is_listed_and_reported_to_the_coordinator(
        session, smtp, county_with_a_wrong_address):
    opened = invoke("cycle", "open", "2026")
    assert opened.exit_code == 0, opened.output
    assert "1 封邮件发送失败，已通知统筹协调人" in opened.output
    assert "1 封邮件暂未送达，稍后自动重试" in opened.output

    failed = invoke("outbox", "--failed")
    assert "发件箱：1 封邮件待处理" in failed.output and "失败" in failed.output and "550 5.1.1" in failed.output
    notices = [r for r in smtp.handler.snapshot() if "邮件未能送达" in str(r.message["Subject"])]
    assert len(notices) == 1 and notices[0].rcpt_tos == ["yfzx@qingshan.example.gov.cn"]
    assert "550" in notices[0].message.get_body(("plain",)).get_content()

    row = session.exec(select(OutboxMessage).where(OutboxMessage.status == "failed")).one()
    assert row.last_error.startswith("unknown-zhangwei@yehe") and "550" in row.last_error
    assert "【试运行】" in invoke("outbox", "retry", str(row.id), "--dry-run").output
    session.expire_all()
    assert (session.get(OutboxMessage, row.id).status, session.get(OutboxMessage, row.id).attempts) == ("failed", 1)
    retried = invoke("outbox", "retry", str(row.id))
    assert retried.exit_code == 0, retried.output
    session.expire_all()
    assert session.get(OutboxMessage, row.id).attempts == 2  # tried once more, refused once more
    assert invoke("outbox", "retry", "9999").exit_code == 1


def test_dry_run_delivery_lists_what_is_waiting_and_sends_nothing(session, smtp, county_with_a_wrong_address):
    invoke("cycle", "open", "2026")
    received = len(smtp.handler.snapshot())
    listing = invoke("deliver", "--dry-run")
    assert listing.exit_code == 0
    assert "待发送" in listing.output
    assert "451" in session.exec(select(OutboxMessage).where(OutboxMessage.status == "pending")).one().last_error
    assert len(smtp.handler.snapshot()) == received


def test_tls_the_server_does_not_offer_stops_delivery_with_a_clear_message(session, smtp, monkeypatch,
                                                                          county_with_a_wrong_address):
    monkeypatch.setenv("REPORTCHAIN_SMTP_SECURITY", "starttls")
    result = invoke("cycle", "open", "2026")
    assert result.exit_code == 1
    assert "邮件服务器配置有误" in result.output
    assert smtp.handler.snapshot() == []
    assert all(m.status == "pending" and m.attempts == 0 for m in session.exec(select(OutboxMessage)))
