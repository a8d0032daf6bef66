"""Console accounts: people of the roster only, lockout after five failures (moving the clock, not
sleeping), setup links that work once and expire, every change audited; and `reportchain users`."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from models.chain import Refused
from models.db import utcnow
from models.tables import Account, AuditEvent
from services import accounts
from services.accounts import (
    account_of,
    add_account,
    authenticate,
    consume_setup_link,
    make_setup_link,
    set_password,
    setup_account,
)
from tests.test_cli import cli
from tests.web.conftest import CLERK, COORDINATOR, PASSWORD


def actions(session, account: str) -> list[str]:
    rows = session.exec(select(AuditEvent).where(AuditEvent.report_id.is_(None)).order_by(AuditEvent.id))
    return [e.action for e in rows if e.detail.get("account") == account]


def test_five_failures_lock_the_account_for_fifteen_minutes(session, console):
    now = utcnow()
    for _ in range(5):
        assert authenticate(session, COORDINATOR, "wrong password!", now=now) is None
    session.commit()
    assert actions(session, COORDINATOR).count("login_failed") == 5
    assert "account_locked" in actions(session, COORDINATOR)
    assert authenticate(session, COORDINATOR, PASSWORD, now=now + timedelta(minutes=1)) is None  # the 6th, right
    assert authenticate(session, COORDINATOR, PASSWORD, now=now + timedelta(minutes=14)) is None
    assert authenticate(session, COORDINATOR, PASSWORD, now=now + timedelta(minutes=16)) is not None
    session.commit()
    assert actions(session, COORDINATOR)[-1] == "login"


def test_a_success_resets_the_count_of_failures(session, console):
    now = utcnow()
    for _ in range(4):
        authenticate(session, COORDINATOR, "wrong password!", now=now)
    assert authenticate(session, COORDINATOR, PASSWORD, now=now) is not None
    for _ in range(4):
        authenticate(session, COORDINATOR, "wrong password!", now=now)
    assert authenticate(session, COORDINATOR, PASSWORD, now=now) is not None


def test_an_unknown_account_costs_the_same_argon2_work(session, console, monkeypatch):
    calls = []
    real = accounts.HASHER  # (the quick one of conftest)

    class Counting:
        hash = real.hash

        def verify(self, stored, password):
            calls.append(stored)
            return real.verify(stored, password)

    monkeypatch.setattr(accounts, "HASHER", Counting())
    assert authenticate(session, "nobody@qingshan.example.gov.cn", PASSWORD) is None
    assert authenticate(session, COORDINATOR, "wrong password!") is None
    assert len(calls) == 2  # one argon2 verification each, known account or not


def test_a_setup_link_works_once_and_expires(session, console):
    account, person = account_of(session, CLERK)
    now = utcnow()
    token = make_setup_link(session, account, person, actor="test", now=now)
    session.commit()
    stored = session.get(Account, account.id)
    assert stored.setup_token_hash != token and token not in (stored.setup_token_hash or "")
    assert setup_account(session, token, now=now + timedelta(hours=73)) is None  # expired
    assert consume_setup_link(session, token, "新的口令至少十个字符", now=now + timedelta(hours=71)) is not None
    session.commit()
    assert consume_setup_link(session, token, "再来一次也不行的口令", now=now) is None  # used
    assert authenticate(session, CLERK, "新的口令至少十个字符") is not None
    assert actions(session, CLERK)[-3:] == ["setup_link_made", "password_set", "login"]


def test_a_setup_link_ends_the_old_password_and_sessions(session, console):
    account, person = account_of(session, CLERK)
    epoch = account.session_epoch
    make_setup_link(session, account, person, actor="test")
    assert account.session_epoch == epoch + 1


@pytest.mark.parametrize("password", ["", "short", "123456789"])
def test_a_short_password_is_refused(session, console, password):
    account, person = account_of(session, CLERK)
    with pytest.raises(Refused) as refused:
        set_password(session, account, person, password, actor="test")
    assert refused.value.code == "weak_password"


def test_accounts_are_for_people_of_the_roster(session, county):
    with pytest.raises(Refused) as refused:
        add_account(session, "stranger@example.cn", "viewer", None, actor="test")
    assert refused.value.code == "unknown_person"
    with pytest.raises(Refused) as refused:
        add_account(session, "张伟", "unit_clerk", None, actor="test")
    assert refused.value.code == "clerk_needs_unit"
    with pytest.raises(Refused) as refused:
        add_account(session, "张伟", "admin", None, actor="test")
    assert refused.value.code == "unknown_account_role"
    assert session.exec(select(Account)).all() == []


def test_cli_adds_an_account_by_name_with_a_setup_link(session, county, monkeypatch):
    monkeypatch.setenv("REPORTCHAIN_WEB_URL", "https://fzb.qingshan.example.gov.cn/")
    result = cli("users", "add", "张伟", "--role", "unit_clerk", "--unit", "野鹤镇")  # stdin is no terminal
    assert result.exit_code == 0, result.output
    assert "https://fzb.qingshan.example.gov.cn/setup/" in result.output
    token = result.output.split("/setup/")[1].split()[0]
    assert setup_account(session, token) is not None
    listed = cli("users", "list")
    assert "张伟" in listed.output and "单位经办人" in listed.output and "待设置密码" in listed.output
    again = cli("users", "add", "张伟", "--role", "viewer")
    assert again.exit_code != 0 and "已有账号" in again.output
    reset = cli("users", "reset", CLERK)
    assert reset.exit_code == 0 and "/setup/" in reset.output
    assert setup_account(session, token) is None  # the new link replaces the old one


@pytest.mark.parametrize(("args", "said"), [
    (("无此人", "--role", "viewer"), "名册中找不到"),
    (("张伟", "--role", "unit_clerk"), "须用 --unit"),
    (("张伟", "--role", "unit_clerk", "--unit", "不存在的镇"), "找不到单位"),
    (("张伟", "--role", "superuser"), "无法识别的账号角色"),
])
def test_cli_refusals_are_chinese_and_store_nothing(session, county, args, said):
    result = cli("users", "add", *args)
    assert result.exit_code != 0 and said in result.output
    assert session.exec(select(Account)).all() == []
    assert cli("users", "reset", "张伟").exit_code != 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_cli_disable_ends_the_accounts_open_sessions(session, app, console):
    from tests.web.conftest import sign_in, signed_in

    client = signed_in(app, "unit_clerk")
    assert client.get(f"/reports/{console.yehe}").status_code == 200
    result = cli("users", "disable", CLERK)
    assert result.exit_code == 0 and "已停用" in result.output
    assert client.get(f"/reports/{console.yehe}").headers["location"].startswith("/login")  # signed out
    again = sign_in(client, CLERK)
    assert again.status_code == 401 and "邮箱或密码不正确" in again.text
    assert "已停用" in cli("users", "list").output
    session.expire_all()
    assert "account_disabled" in actions(session, CLERK)
    assert cli("users", "disable", "无此人").exit_code != 0
