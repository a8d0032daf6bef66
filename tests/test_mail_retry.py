"""Retrying a failed mail is a coordinator's audited act: only a mail that failed, once per failure."""

from __future__ import annotations

import pytest
from sqlmodel import select

from models.chain import Refused
from models.tables import AuditEvent, OutboxMessage, OutboxStatus
from services.mail import retry_mail
from tests.test_cli import cli, ok, refused


@pytest.fixture
def failed(session, yehe):
    """野鹤镇's review prompt, refused for good by the relay (as delivery marks it)."""
    _, rnd, prompt = yehe
    prompt.status, prompt.attempts, prompt.last_error = OutboxStatus.FAILED, 3, "550 5.1.1 no such user"
    session.add(prompt)
    session.commit()
    return prompt


def test_a_failed_mail_goes_back_in_line_once_with_who_did_it(session, failed):
    row = retry_mail(session, failed.id, "吴协调")
    session.commit()
    assert row.status == OutboxStatus.PENDING
    [event] = session.exec(select(AuditEvent).where(AuditEvent.action == "mail_retried")).all()
    assert (event.actor, event.detail["outbox_id"], event.detail["attempts"]) == ("吴协调", failed.id, 3)
    with pytest.raises(Refused) as refusal:
        retry_mail(session, failed.id, "另一人")
    assert (refusal.value.code, refusal.value.params["by"]) == ("mail_retried_before", "吴协调")


@pytest.mark.parametrize("status", [OutboxStatus.SENT, OutboxStatus.PENDING, OutboxStatus.CANCELLED])
def test_a_mail_that_did_not_fail_is_not_retried(session, failed, status):
    failed.status = status
    session.add(failed)
    session.commit()
    with pytest.raises(Refused) as refusal:
        retry_mail(session, failed.id, "吴协调")
    assert refusal.value.code == "mail_not_failed"
    session.rollback()
    assert session.get(OutboxMessage, failed.id).status == status
    assert not session.exec(select(AuditEvent).where(AuditEvent.action == "mail_retried")).all()


def test_the_cli_retries_with_by_delivers_and_refuses_the_unknown(session, settings, failed):
    refused(cli("outbox", "retry", 9999, "--by", "吴协调"), "找不到编号为 9999 的邮件")
    output = ok(cli("outbox", "retry", failed.id, "--by", "吴协调"))
    assert f"邮件 {failed.id} 已重新排入发送队列" in output and "已投递邮件" in output
    session.expire_all()
    assert session.get(OutboxMessage, failed.id).status == OutboxStatus.SENT
    refused(cli("outbox", "retry", failed.id, "--by", "吴协调"), "不是发送失败，无需重试")
    assert "重新发送失败的邮件" in ok(cli("history", "R-2026-001"))
