"""The console's fixtures: the sample county in its 2026 cycle with a story to show (野鹤镇 returned
once and revised; 上社镇 in legal review), three accounts (the county coordinator, 野鹤镇's clerk, and
何军 who supervises 野鹤镇, as a viewer), and a test client of the app."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import pytest
from sqlmodel import Session, select

from documents.reading import read_draft
from models.tables import Report, Unit
from services.accounts import add_account, set_password
from services.cycle import open_cycle
from services.decisions import record_decision
from services.drafts import submit_draft
from tests.drafts import report_text
from tests.replies_kit import to_legal_review

PASSWORD = "青山县2026年度报告口令"
COORDINATOR = "yfzx@qingshan.example.gov.cn"
CLERK = "zhangwei@yehe.qingshan.example.gov.cn"
VIEWER = "leader@yehe.qingshan.example.gov.cn"
ACCOUNTS = {"county_coordinator": (COORDINATOR, None), "unit_clerk": (CLERK, "yehe"), "viewer": (VIEWER, None)}
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Console:
    yehe: str  # 野鹤镇's report (two versions, returned once)
    shangshe: str  # 上社镇's report (another unit's, for the clerk and the viewer)


def build_console(session: Session, settings) -> Console:
    open_cycle(session, settings, 2026)
    session.commit()
    units = {u.code: u for u in session.exec(select(Unit))}
    reports = {u: session.exec(select(Report).where(Report.unit_id == units[u].id)).one() for u in ("yehe", "shangshe")}
    yehe = reports["yehe"]
    rnd = to_legal_review(session, settings, yehe)
    record_decision(session, settings, rnd.id, "return", comment="第二部分请补充原因分析。", via="phone",
                    actor="陈律师")
    revised = report_text("野鹤镇") + "\n五、存在的不足及原因\n原因在于学法用法的制度落实还不够。\n"
    submit_draft(session, settings, yehe, read_draft("修改稿.md", revised.encode()), CLERK)
    to_legal_review(session, settings, reports["shangshe"])
    for role, (email, unit) in ACCOUNTS.items():
        account, person = add_account(session, email, role, unit, actor="test")
        set_password(session, account, person, PASSWORD, actor="test")
    session.commit()
    return Console(yehe.ref, reports["shangshe"].ref)


@pytest.fixture
def console(session, settings, county) -> Console:
    return build_console(session, settings)


@pytest.fixture
def app(settings, console):
    from web.app import create_app

    return create_app(settings)


def client_of(app):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient
    return TestClient(app, follow_redirects=False)


@pytest.fixture
def client(app):
    return client_of(app)


def csrf_of(client, path: str = "/login") -> str:
    return CSRF.search(client.get(path).text).group(1)


def sign_in(client, email: str, password: str = PASSWORD, next: str = "/"):
    return client.post("/login", data={"csrf": csrf_of(client), "login": email, "password": password, "next": next})


@pytest.fixture(params=list(ACCOUNTS))
def role(request) -> str:
    return request.param


def signed_in(app, role: str):
    client = client_of(app)
    response = sign_in(client, ACCOUNTS[role][0])
    assert response.status_code == 303, response.text
    return client


@pytest.fixture(autouse=True)
def quick_hashes(monkeypatch):
    """argon2 at its cheapest in tests (the parameters are read from each hash, so nothing else changes)."""
    from argon2 import PasswordHasher

    from services import accounts

    monkeypatch.setattr(accounts, "HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
