"""The console in a real browser: Debian's Chromium driven by Playwright (no browser is downloaded),
against uvicorn serving the app in a thread on a SQLite database. Screenshots of each page are saved
under test-output/screenshots/ (not committed)."""

from __future__ import annotations

import io
import shutil
import socket
import threading
import time
from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook

from core.settings import PROJECT_ROOT
from tests.drafts import report_text
from tests.web.conftest import CLERK, COORDINATOR, PASSWORD

CHROMIUM = "/usr/bin/chromium"
SHOTS = PROJECT_ROOT / "test-output" / "screenshots"
pytestmark = [pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
              pytest.mark.skipif(shutil.which(CHROMIUM) is None and not Path(CHROMIUM).exists(),
                                 reason="Debian's chromium is not installed (apt-get install chromium)")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(app, monkeypatch):
    import uvicorn

    monkeypatch.setattr("web.pages.today_in", lambda tz: date(2027, 1, 11))
    port = free_port()
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert uv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    uv.should_exit = True
    thread.join(5)


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium.new_page(accept_downloads=True, locale="zh-CN")
        chromium.close()


def go(page, selector: str) -> None:
    """Click what leads to another page, and wait for that page (a click alone does not: on a loaded
    machine the next assertion would read the old page)."""
    with page.expect_navigation():
        page.click(selector)


def log_in(page, base: str, email: str) -> None:
    page.goto(base + "/")
    assert "/login" in page.url
    page.screenshot(path=SHOTS / "login.png", full_page=True)
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    go(page, "button[type=submit]")


def test_the_coordinator_reads_filters_exports_and_opens_a_report(server, browser, console):
    page = browser
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    log_in(page, server, COORDINATOR)
    assert page.locator("h1").inner_text().startswith("2026年度")
    assert page.locator("table.board tbody tr").count() == 13
    page.screenshot(path=SHOTS / "board.png", full_page=True)
    page.check("input[name=overdue]")
    go(page, "form.filters button[type=submit]")
    assert "overdue=1" in page.url
    late = page.locator("table.board tbody tr.late").count()
    assert late == page.locator("table.board tbody tr").count() and late >= 11
    page.screenshot(path=SHOTS / "board-overdue.png", full_page=True)
    with page.expect_download() as download:
        page.click("text=导出督办清单")
    book = load_workbook(io.BytesIO(Path(download.value.path()).read_bytes()))
    assert len(list(book.active.iter_rows(min_row=2))) == late
    go(page, f"text={console.yehe}")
    assert "野鹤镇" in page.locator("h1").inner_text()
    assert page.locator("ol.timeline li").count() >= 5
    assert page.locator("ul.diff ins").count() >= 1 and "原因在于" in page.locator("ul.diff").first.inner_text()
    page.screenshot(path=SHOTS / "report.png", full_page=True)
    assert errors == []  # no CSP violation, no failed asset


def test_a_clerk_sees_its_own_report_only(server, browser, console):
    page = browser
    log_in(page, server, CLERK)
    assert page.url.endswith(f"/reports/{console.yehe}")
    assert "第二部分请补充原因分析。" in page.content()
    page.screenshot(path=SHOTS / "clerk-report.png", full_page=True)
    response = page.goto(f"{server}/reports/{console.shangshe}")
    assert response.status == 404 and "找不到" in page.content()
    page.screenshot(path=SHOTS / "not-found.png", full_page=True)


def submit_form(page, shot: str) -> None:
    """下一步：核对 → (screenshot of the confirmation) → 确认执行."""
    go(page, "form.action button[type=submit]")
    assert page.locator("section.confirm").count() == 1, page.content()
    page.screenshot(path=SHOTS / f"{shot}-confirm.png", full_page=True)
    go(page, "form.confirm button[type=submit]")
    assert page.locator("p.flash").count() == 1, page.content()


def test_the_whole_chain_in_the_console(server, browser, console, session, settings, tmp_path):
    from services.decisions import record_decision
    from services.stages import find_report, open_round_of

    report = find_report(session, console.yehe)
    record_decision(session, settings, open_round_of(session, report).id, "return", comment="请补充第三部分。",
                    via="phone", actor="陈律师")
    session.commit()
    page = browser
    log_in(page, server, CLERK)
    draft = tmp_path / "第三稿.md"
    draft.write_text(report_text("野鹤镇").replace("全年审查", "XX镇全年审查"), encoding="utf-8")
    page.set_input_files("section.upload input[type=file]", str(draft))
    go(page, "section.upload button[type=submit]")
    assert "尚未提交" in page.content() and "XX" in page.locator("ul.findings").inner_text()
    page.screenshot(path=SHOTS / "clerk-draft-check.png", full_page=True)
    go(page, "form[action$=\"/draft/submit\"] button")
    assert "暂未送法律顾问审核" in page.locator("p.flash").inner_text()
    page.screenshot(path=SHOTS / "clerk-draft-held.png", full_page=True)
    go(page, "header button.link")  # 退出登录

    log_in(page, server, COORDINATOR)
    page.goto(f"{server}/reports/{console.yehe}")
    go(page, "text=仍按此稿送审")
    page.screenshot(path=SHOTS / "accept.png", full_page=True)
    submit_form(page, "accept")
    for stage in ("法律顾问审核", "党委审议"):
        go(page, "text=录入电话告知的审核意见")
        assert stage in page.locator("form.action").inner_text()
        page.screenshot(path=SHOTS / f"decide-{stage}.png", full_page=True)
        submit_form(page, f"decide-{stage}")
    go(page, "text=报送上级")
    submit_form(page, "file")
    deadline = time.monotonic() + 10  # the filing mail goes out in the background
    while "保密审查" not in page.locator("section.standing").inner_text() and time.monotonic() < deadline:
        time.sleep(0.2)
        page.reload()
    assert "登记公开" not in page.content()  # not before the confidentiality review has passed
    go(page, "text=录入电话告知的审核意见")
    assert "保密审查" in page.locator("form.action").inner_text()
    submit_form(page, "decide-保密审查")
    go(page, "text=登记公开")
    page.fill("input[name=url]", "https://www.qingshan.example.gov.cn/fzzf/2026-yehe.html")
    page.screenshot(path=SHOTS / "publish.png", full_page=True)
    submit_form(page, "publish")
    assert "流程结束" in page.locator("p.flash").inner_text()
    assert "网页控制台" in page.locator("ol.timeline").inner_text()
    page.screenshot(path=SHOTS / "published.png", full_page=True)
