"""The console attacked: forged forms (CSRF), a stolen or tampered cookie, an open redirect after
login, a message that tells which accounts exist, hostile file names, pages that could run script or
be framed. Every test here was written before the code that makes it pass."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from models.tables import AuditEvent, ReportVersion
from services.accounts import account_of, disable_account, make_setup_link
from tests.web.conftest import CLERK, COORDINATOR, PASSWORD, client_of, csrf_of, sign_in, signed_in
from web.security import SECURITY_HEADERS

# What is attacked here is the web layer, the same on either database (the routes' tests run on both).
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_a_form_without_the_session_token_is_refused(client):
    refused = client.post("/login", data={"login": COORDINATOR, "password": PASSWORD})
    assert refused.status_code == 403 and "表单已过期" in refused.text
    other = client_of(client.app)
    forged = client.post("/login", data={"csrf": csrf_of(other), "login": COORDINATOR, "password": PASSWORD})
    assert forged.status_code == 403  # another session's token is no token
    assert "set-cookie" not in refused.headers or "account" not in refused.headers["set-cookie"]


def test_logging_out_needs_the_token_too(app):
    client = signed_in(app, "county_coordinator")
    assert client.post("/logout").status_code == 403
    assert client.get("/").status_code == 200  # still signed in
    assert client.post("/logout", data={"csrf": csrf_of(client, "/")}).status_code == 303
    assert client.get("/").status_code == 303


def test_every_failure_to_sign_in_reads_the_same(app, session):
    account, person = account_of(session, CLERK)
    disable_account(session, account, person, actor="test")
    session.commit()
    bodies = set()
    for login, password in [("nobody@qingshan.example.gov.cn", PASSWORD), (COORDINATOR, "wrong password!"),
                            (CLERK, PASSWORD), ("", "")]:
        response = sign_in(client_of(app), login, password)
        assert response.status_code == 401
        bodies.add(re.sub(r'name="csrf" value="[^"]+"', "", response.text))
    assert len(bodies) == 1 and "邮箱或密码不正确，或账号暂时无法登录" in bodies.pop()


def test_a_locked_account_reads_the_same_and_is_audited(app, session):
    client = client_of(app)
    for _ in range(5):
        assert sign_in(client, COORDINATOR, "wrong password!").status_code == 401
    locked = sign_in(client, COORDINATOR, PASSWORD)
    assert locked.status_code == 401 and "邮箱或密码不正确" in locked.text
    rows = session.exec(select(AuditEvent.action, AuditEvent.actor).where(AuditEvent.report_id.is_(None))).all()
    assert ("account_locked", COORDINATOR) in rows and ("login_refused", COORDINATOR) in rows


@pytest.mark.parametrize("target", ["//evil.example.com/", "https://evil.example.com/", "/\\evil.example.com",
                                   "javascript:alert(1)", "evil.example.com", "/\t/evil.example.com"])
def test_login_goes_back_to_a_local_path_only(client, target):
    response = sign_in(client, COORDINATOR, next=target)
    assert response.status_code == 303 and response.headers["location"] == "/"


def test_login_goes_back_where_the_visitor_was(client, console):
    asked = client.get(f"/reports/{console.yehe}?x=1")
    assert asked.status_code == 303 and asked.headers["location"].startswith("/login?next=")
    login_page = client.get(asked.headers["location"])
    assert f'value="/reports/{console.yehe}?x=1"' in login_page.text
    assert sign_in(client, COORDINATOR, next=f"/reports/{console.yehe}?x=1").headers["location"] == \
        f"/reports/{console.yehe}?x=1"


def test_the_session_cookie_is_httponly_and_samesite(client):
    cookie = sign_in(client, COORDINATOR).headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower() and "secure" not in cookie.lower()


def test_secure_cookies_behind_https(settings, console, monkeypatch):
    from core.settings import load_settings
    from web.app import create_app

    monkeypatch.setenv("REPORTCHAIN_WEB_SECURE_COOKIES", "true")
    client = client_of(create_app(load_settings()))
    assert "; secure" in sign_in(client, COORDINATOR).headers["set-cookie"].lower()


def test_a_tampered_cookie_is_no_session(app):
    client = signed_in(app, "county_coordinator")
    value = client.cookies.get("reportchain_session")
    client.cookies.set("reportchain_session", value[:-3] + ("AAA" if not value.endswith("AAA") else "BBB"))
    assert client.get("/").status_code == 303


def test_two_workers_share_the_signing_secret(app, settings):
    from web.app import create_app

    client = signed_in(app, "county_coordinator")
    other = client_of(create_app(settings))  # a second worker or a restart
    other.cookies = client.cookies
    assert other.get("/").status_code == 200


def test_a_reset_or_disabling_logs_sessions_out(app, session):
    client = signed_in(app, "unit_clerk")
    assert client.get("/").status_code == 303 and client.get("/").headers["location"].startswith("/reports/")
    account, person = account_of(session, CLERK)
    make_setup_link(session, account, person, actor="test")
    session.commit()
    assert client.get("/").headers["location"].startswith("/login")
    coordinator = signed_in(app, "county_coordinator")
    account, person = account_of(session, COORDINATOR)
    disable_account(session, account, person, actor="test")
    session.commit()
    assert coordinator.get("/").headers["location"].startswith("/login")


def pages(app, console) -> dict[str, str]:
    """Every page a visitor can reach, signed in or not."""
    client = signed_in(app, "county_coordinator")
    found = {path: client.get(path) for path in ("/", f"/reports/{console.yehe}", f"/reports/{console.shangshe}",
                                                  "/reports/R-1999-999", "/?overdue=1&q=镇")}
    anonymous = client_of(app)
    found["/login"] = anonymous.get("/login")
    found["/login?failed"] = sign_in(anonymous, COORDINATOR, "wrong password!")
    found["/setup/bad"] = anonymous.get("/setup/not-a-token")
    found["csrf"] = anonymous.post("/logout")
    return found


def test_no_page_runs_inline_script_or_style_and_every_response_has_the_headers(app, console):
    for path, response in pages(app, console).items():
        assert "<script" not in response.text.lower() and " style=" not in response.text.lower(), path
        for header, value in SECURITY_HEADERS.items():
            assert response.headers[header] == value, (path, header)
        assert 'lang="zh-CN"' in response.text, path
    client = signed_in(app, "county_coordinator")
    for path in ("/static/console.css", "/board.xlsx", f"/reports/{console.yehe}/versions/1", "/nowhere"):
        response = client.get(path)
        assert response.headers["Content-Security-Policy"].startswith("default-src 'self'"), path
        assert response.headers["X-Frame-Options"] == "DENY", path
    assert "http" not in client.get("/static/console.css").text  # nothing from a CDN


def test_a_hostile_draft_is_downloaded_never_shown(app, session, console):
    version = session.exec(select(ReportVersion).where(ReportVersion.number == 1)).first()
    version.filename = '../../<script>alert(1)</script>".html'
    version.content = b"<script>alert(document.cookie)</script>"
    session.add(version)
    session.commit()
    client = signed_in(app, "county_coordinator")
    response = client.get(f"/reports/{console.yehe}/versions/1")
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;") and "/" not in disposition.split("filename*=")[1]
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["x-content-type-options"] == "nosniff"
    page = client.get(f"/reports/{console.yehe}").text
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page  # the name, escaped


def test_setup_link_page_sets_the_password_once(app, session):
    account, person = account_of(session, CLERK)
    token = make_setup_link(session, account, person, actor="test")
    session.commit()
    client = client_of(app)
    form = client.get(f"/setup/{token}")
    assert form.status_code == 200 and person.name in form.text
    csrf = csrf_of(client, f"/setup/{token}")
    mismatch = client.post(f"/setup/{token}", data={"csrf": csrf, "password": "一二三四五六七八九十", "again": "x"})
    assert mismatch.status_code == 400 and "不一致" in mismatch.text
    short = client.post(f"/setup/{token}", data={"csrf": csrf, "password": "短", "again": "短"})
    assert short.status_code == 400 and "至少需要 10 个字符" in short.text
    new = "一二三四五六七八九十"
    done = client.post(f"/setup/{token}", data={"csrf": csrf, "password": new, "again": new})
    assert done.status_code == 303
    assert client.get(f"/setup/{token}").status_code == 404
    assert sign_in(client, CLERK, "一二三四五六七八九十").status_code == 303
