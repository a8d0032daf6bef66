"""Operators see failures where they look (issue 12 item 6): a run that leaves mails waiting on a relay
that is down ends Failed in Prefect, with the reason and the number of waiting mails in Chinese in its
log; `reportchain outbox` gives the reason in Chinese (the server's English words with --verbose); and
the CLI prints our Chinese messages only, with or without a Prefect server (Prefect's logs stay there).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import aiosmtplib
import httpx
import pytest
from sqlmodel import select

from flows import run
from flows.cycle import open_cycle
from flows.delivery import deliver_outbox_flow
from flows.reminders import sweep_flow
from flows.replies import fetch_replies_flow
from models.tables import OutboxMessage, Report
from notifications.backends import DeliveryConfigError
from notifications.outbox import reason
from notifications.smtp import outcome_of
from tests.conftest import report_of
from tests.replies_kit import drop, prompt_of, reply_to, to_legal_review
from tests.smtp_server import Recorder, Server, free_port
from tests.test_cli import cli

CHINESE = re.compile(r"[\u4e00-\u9fff]")
ADVISOR = "陈律师 <chen.lawyer@lvshi-a.example.cn>"
LOG_LINE = re.compile(r"^\s*\d\d:\d\d:\d\d|\b(DEBUG|INFO|WARNING|ERROR|CRITICAL)\b|Traceback", re.MULTILINE)
REPORTCHAIN = Path(sys.executable).with_name("reportchain")


@pytest.fixture
def relay_down(settings, monkeypatch):
    """The SMTP relay is configured, and nothing listens on its port."""
    monkeypatch.setenv("REPORTCHAIN_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("REPORTCHAIN_SMTP_PORT", str(free_port()))
    monkeypatch.setenv("REPORTCHAIN_SMTP_SECURITY", "none")


@pytest.fixture
def relay(settings, monkeypatch):
    """A relay that refuses addresses starting with "unknown" for good (550 5.1.1) and answers 451 for
    上社镇's drafter."""
    server = Server(Recorder(transient={"liqiang@shangshe.qingshan.example.gov.cn"})).start()
    monkeypatch.setenv("REPORTCHAIN_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("REPORTCHAIN_SMTP_PORT", str(server.port))
    monkeypatch.setenv("REPORTCHAIN_SMTP_SECURITY", "none")
    yield server
    server.stop()


def opened(session, settings) -> None:
    open_cycle(session, settings, 2026)
    session.commit()


def outbox(session) -> list[tuple[str, int]]:
    session.expire_all()
    return [(row.status, row.attempts) for row in session.exec(select(OutboxMessage).order_by(OutboxMessage.id))]


def run_log(caplog) -> list[str]:
    """What the flow runs wrote to their log (the lines Prefect sends to its server)."""
    return [r.getMessage() for r in caplog.records if r.name.startswith("prefect.flow_runs")]


def only_chinese(output: str) -> None:
    """Every line printed is one of our Chinese messages: no Prefect line, no English log line, no traceback."""
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines and all(CHINESE.search(line) for line in lines), output
    assert not LOG_LINE.search(output), output


# --- flow runs in Prefect --------------------------------------------------------------------------


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server", "relay_down")
def test_a_delivery_run_with_the_relay_down_ends_failed_saying_in_chinese_how_many_mails_wait(
        session, settings, county, caplog):
    opened(session, settings)
    state = run(deliver_outbox_flow(return_state=True))
    assert state.is_failed()
    assert "无法连接邮件服务器，发件箱中有 13 封邮件等待发送" in state.message
    assert any("无法连接邮件服务器，发件箱中有 13 封邮件等待发送" in line for line in run_log(caplog))
    assert outbox(session) == [("pending", 1)] * 13  # tried once, kept, nothing lost


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server", "county")
def test_a_delivery_run_with_a_misconfigured_relay_ends_failed_saying_so_in_chinese(
        session, settings, relay, monkeypatch, caplog):
    monkeypatch.setenv("REPORTCHAIN_SMTP_SECURITY", "starttls")  # the relay offers no STARTTLS
    opened(session, settings)
    assert run(deliver_outbox_flow(return_state=True)).is_failed()
    assert any("与邮件服务器的加密连接（TLS）失败，发件箱中有 13 封邮件等待发送" in line and "REPORTCHAIN_SMTP_" in line
               for line in run_log(caplog))
    assert outbox(session) == [("pending", 0)] * 13 and relay.handler.snapshot() == []


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
def test_a_delivery_run_that_sent_everything_ends_completed(session, settings, county):
    opened(session, settings)
    state = run(deliver_outbox_flow(return_state=True))
    assert state.is_completed(), state.message
    assert outbox(session) == [("sent", 1)] * 13


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
def test_a_delivery_run_where_some_recipients_were_refused_for_good_ends_completed(
        session, settings, county, relay, monkeypatch):
    monkeypatch.setattr(relay.handler, "transient", set())
    monkeypatch.setattr(relay.handler, "refuse", {"zhangwei@yehe.qingshan.example.gov.cn": "550 5.1.1 User unknown"})
    opened(session, settings)
    state = run(deliver_outbox_flow(return_state=True))
    assert state.is_completed(), state.message
    assert sorted(status for status, _ in outbox(session)) == ["failed"] + ["sent"] * 13  # and the notice went


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
def test_a_fetch_run_whose_receipts_cannot_go_out_ends_failed_and_keeps_the_decision(
        session, settings, county, relay_down):
    opened(session, settings)
    report = report_of(session, county["yehe"])
    rnd = to_legal_review(session, settings, report)
    drop(settings.inbox_folder, reply_to(prompt_of(session, rnd), ADVISOR, "同意。"))
    state = run(fetch_replies_flow(return_state=True))
    assert state.is_failed() and "无法连接邮件服务器" in state.message
    session.expire_all()
    assert session.get(Report, report.id).stage == "committee_review"
    assert {status for status, _ in outbox(session)} == {"pending"}


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server", "relay_down")
def test_a_sweep_run_whose_reminders_cannot_go_out_ends_failed(session, settings, county):
    opened(session, settings)
    state = run(sweep_flow(now="2026-12-16T09:00:00+08:00", return_state=True))
    assert state.is_failed() and "无法连接邮件服务器" in state.message
    assert {status for status, _ in outbox(session)} == {"pending"}


# --- the CLI ----------------------------------------------------------------------------------------


@pytest.mark.usefixtures("county", "relay_down")
def test_deliver_with_the_relay_down_says_why_in_chinese_and_exits_1(session, settings):
    opened(session, settings)
    result = cli("deliver")
    assert result.exit_code == 1, result.output
    only_chinese(result.output)
    assert "13 封邮件暂未送达，稍后自动重试" in result.output
    assert "无法连接邮件服务器，发件箱中有 13 封邮件等待发送" in result.output
    assert outbox(session) == [("pending", 1)] * 13


@pytest.mark.usefixtures("county")
def test_the_outbox_gives_each_reason_in_chinese_and_the_servers_words_only_with_verbose(
        session, settings, relay, monkeypatch):
    monkeypatch.setattr(relay.handler, "refuse", {"zhangwei@yehe.qingshan.example.gov.cn": "550 5.1.1 User unknown"})
    opened(session, settings)
    cli("deliver")
    plain = cli("outbox")
    assert plain.exit_code == 0, plain.output
    assert "收件地址不存在（550 5.1.1）" in plain.output and "邮件服务器暂时拒收（451 4.3.0）" in plain.output
    assert "User unknown" not in plain.output and "Temporary lookup failure" not in plain.output
    assert "--verbose" in plain.output  # where the server's own words are
    verbose = cli("outbox", "--verbose")
    assert "收件地址不存在（550 5.1.1）" in verbose.output
    assert "User unknown" in verbose.output and "Temporary lookup failure" in verbose.output


def test_a_relay_that_cannot_be_reached_reads_as_such_in_the_outbox(session, settings, county, relay_down):
    opened(session, settings)
    cli("deliver")
    result = cli("outbox", "--failed")
    assert "没有发送失败的邮件" in result.output
    listing = cli("outbox")
    assert listing.output.count("无法连接邮件服务器") == 13 and "Connect call failed" not in listing.output


@pytest.mark.parametrize(("failure", "said"), [
    (aiosmtplib.SMTPConnectError("Error connecting to smtp.example.cn on port 465: [Errno 111] Connect call failed"),
     "无法连接邮件服务器"),
    (aiosmtplib.SMTPConnectTimeoutError("Timed out connecting to smtp.example.cn on port 587"), "邮件服务器响应超时"),
    (aiosmtplib.SMTPServerDisconnected("Unexpected EOF received"), "与邮件服务器的连接中断"),
    (aiosmtplib.SMTPResponseException(421, "4.3.2 Service not available"), "邮件服务器暂时拒收（421 4.3.2）"),
    (aiosmtplib.SMTPResponseException(554, "5.7.1 Message rejected as spam"), "邮件服务器拒收（554 5.7.1）"),
    (aiosmtplib.SMTPAuthenticationError(535, "5.7.8 Authentication credentials invalid"),
     "邮件服务器拒绝登录（535 5.7.8）"),
    (aiosmtplib.SMTPException("STARTTLS extension not supported by server."), "与邮件服务器的加密连接（TLS）失败"),
], ids=["refused", "timeout", "disconnected", "4xx", "5xx", "login", "starttls"])
def test_each_kind_of_failure_the_relay_gives_reads_in_chinese_with_the_servers_code(failure, said):
    try:
        error = outcome_of(failure).error
    except DeliveryConfigError as exc:  # what no retry can fix: nothing is marked, the run says why
        error = str(exc)
    assert reason(error) == said


# --- the CLI with a standing Prefect server ------------------------------------------------------------


def reportchain(*args: str, api_url: str | None = None) -> subprocess.CompletedProcess:
    """The installed command as a user runs it (Prefect's own logging defaults), with PREFECT_API_URL
    set to `api_url` or unset."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_LOGGING_", "PREFECT_API_URL"))}
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return subprocess.run([str(REPORTCHAIN), *args], env=env, capture_output=True, text=True, timeout=180)


def last_run(api_url: str, flow_name: str) -> tuple[dict, list[str]]:
    """The latest run of `flow_name` on the server, and its log."""
    flows = httpx.post(f"{api_url}/flows/filter", json={"flows": {"name": {"any_": [flow_name]}}}).json()
    [run_] = httpx.post(f"{api_url}/flow_runs/filter", json={
        "flows": {"id": {"any_": [flows[0]["id"]]}}, "sort": "EXPECTED_START_TIME_DESC", "limit": 1}).json()
    logs = httpx.post(f"{api_url}/logs/filter", json={"logs": {"flow_run_id": {"any_": [run_["id"]]}}}).json()
    return run_, [entry["message"] for entry in logs]


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server", "county", "relay_down")
def test_with_a_prefect_server_the_cli_prints_only_chinese_and_the_run_log_stays_in_prefect(settings):
    from prefect.settings import PREFECT_API_URL

    api_url = PREFECT_API_URL.value()
    opened = reportchain("cycle", "open", "2026", api_url=api_url)
    assert opened.returncode == 1
    only_chinese(opened.stdout + opened.stderr)
    assert "无法连接邮件服务器，发件箱中有 13 封邮件等待发送" in opened.stderr

    run_, log = last_run(api_url, "deliver-outbox")
    assert run_["state"]["type"] == "FAILED"
    assert any("无法连接邮件服务器，发件箱中有 13 封邮件等待发送" in line for line in log), log

    refused = reportchain("file", "R-2026-001", api_url=api_url)  # refused inside a flow run
    assert refused.returncode == 1
    only_chinese(refused.stdout + refused.stderr)
    assert "只有党委审议通过后才能报送" in refused.stderr
    run_, log = last_run(api_url, "file-report")
    assert run_["state"]["type"] == "FAILED" and any("Traceback" in line for line in log)  # kept in Prefect


@pytest.mark.usefixtures("county")
def test_without_a_prefect_server_the_cli_prints_only_chinese_too(settings, relay, monkeypatch):
    monkeypatch.setattr(relay.handler, "refuse", {"zhangwei@yehe.qingshan.example.gov.cn": "550 5.1.1 User unknown"})
    opened = reportchain("cycle", "open", "2026")  # a mail refused for good, one that waits (451)
    assert opened.returncode == 0, opened.stderr
    only_chinese(opened.stdout + opened.stderr)
    assert "1 封邮件发送失败，已通知统筹协调人" in opened.stderr


@pytest.mark.usefixtures("county")
def test_a_prefect_server_that_cannot_be_reached_is_a_chinese_message_and_changes_nothing(session, settings):
    api_url = f"http://127.0.0.1:{free_port()}/api"  # nothing listens there
    result = reportchain("cycle", "open", "2026", api_url=api_url)
    assert result.returncode == 1
    only_chinese(result.stdout + result.stderr)
    assert f"无法连接 Prefect 服务器 {api_url}" in result.stderr
    assert outbox(session) == []
