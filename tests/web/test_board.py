"""The board: its filters (the page and the .xlsx keep the same rows), counts per stage, and the
cycle's chart drawn from the audit trail."""

from __future__ import annotations

import io
import re
from datetime import date

import pytest
from openpyxl import load_workbook

from core.clock import today_in
from models.calendar import load_calendar
from services.board import STAGES, cycle_flow, status
from tests.web.conftest import signed_in

LATE = date(2027, 1, 11)  # after the drafting deadline: every report still in drafting is late


def page_refs(html: str) -> list[str]:
    return re.findall(r'<td><a href="/reports/(R-\d{4}-\d{3})">', html)


def xlsx_rows(client, query: str) -> list[tuple]:
    response = client.get(f"/board.xlsx?{query}")
    assert response.status_code == 200 and response.headers["content-disposition"].startswith("attachment;")
    return list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))


@pytest.mark.parametrize("query", ["year=2026", "year=2026&overdue=1", "year=2026&stage=legal_review",
                                   "year=2026&kind=department", "year=2026&supervisor=何军", "year=2026&q=野鹤"])
def test_the_xlsx_has_the_rows_of_the_page_under_the_same_filter(app, console, monkeypatch, query):
    monkeypatch.setattr("web.pages.today_in", lambda tz: LATE)
    client = signed_in(app, "county_coordinator")
    html = client.get(f"/?{query}").text
    rows = xlsx_rows(client, query)
    assert rows[0][0] == "编号" and len(rows[0]) == 9
    assert [r[0] for r in rows[1:]] == page_refs(html) and page_refs(html)
    assert f'href="/board.xlsx?{query.replace("&", "&amp;")}' in html.replace("%E4%BD%95%E5%86%9B", "何军") \
        .replace("%E9%87%8E%E9%B9%A4", "野鹤") or "q=" in query or "supervisor=" in query


def test_filters_keep_what_they_say(app, console, monkeypatch):
    monkeypatch.setattr("web.pages.today_in", lambda tz: LATE)
    client = signed_in(app, "county_coordinator")
    everything = page_refs(client.get("/").text)
    late = page_refs(client.get("/?overdue=1").text)
    reviewing = page_refs(client.get("/?stage=legal_review").text)
    assert len(everything) == 13 and reviewing == [console.yehe, console.shangshe]
    drafting = page_refs(client.get("/?stage=drafting&overdue=1").text)
    assert drafting == [ref for ref in everything if ref not in reviewing]  # all late on 11 January
    assert set(drafting) <= set(late) <= set(everything)
    assert page_refs(client.get("/?q=野鹤").text) == [console.yehe]
    assert page_refs(client.get("/?q=何军").text) == [console.yehe]  # a supervisor's name finds the unit
    assert page_refs(client.get("/?stage=nonsense").text) == everything


def test_overdue_days_are_working_days(session, console):
    rows = {r["ref"]: r for r in status(session, 2026, LATE)["reports"]}
    late = [r for r in rows.values() if r["overdue"] and r["stage"] == "drafting"]
    assert late and all(r["overdue_days"] > 0 for r in late)
    # due 21 Dec 2026 (20 Dec is a Sunday): 21 calendar days before 11 Jan, three weekends of them off
    working = load_calendar(session).working_days_between(date(2026, 12, 21), LATE)
    assert {r["overdue_days"] for r in late} == {working} and 13 <= working <= 15
    assert rows[console.yehe]["returns"] == 1 and rows[console.yehe]["supervisors"] == ["何军"]


def test_the_chart_counts_each_report_once_a_day(session, console):
    today = today_in("Asia/Shanghai")  # the day the fixture opened the cycle (a fixed date failed at midnight)
    flow = cycle_flow(session, 2026, today, "Asia/Shanghai")
    assert flow.days[-1] == max(today, date(2027, 3, 31)) and flow.filing == date(2027, 1, 31)
    totals = [sum(flow.counts[s][i] for s in STAGES) for i in range(len(flow.counts[STAGES[0]]))]
    assert totals[-1] == 13 and flow.counts["legal_review"][-1] == 2


def test_the_board_page_draws_the_chart(app, console):
    html = signed_in(app, "county_coordinator").get("/").text
    svg = html[html.index("<svg"):html.index("</svg>")]
    assert svg.count("<polygon") >= 2 and "今天" in svg and "报送截止" in svg and "公开截止" in svg
    assert "起草 <strong>11</strong>" in html and "法律顾问审核 <strong>2</strong>" in html


def test_a_long_board_is_listed_a_page_at_a_time_and_the_xlsx_keeps_every_row(app, console, monkeypatch):
    """A province's 20,000 rows cannot be one page: the pages keep the filter, the counts and the .xlsx
    stay whole."""
    monkeypatch.setattr("web.pages.today_in", lambda tz: LATE)
    monkeypatch.setattr("web.pages.PAGE_ROWS", 5)
    client = signed_in(app, "county_coordinator")
    pages = [client.get(f"/?year=2026&page={n}").text for n in (1, 2, 3)]
    listed = [page_refs(html) for html in pages]
    assert [len(refs) for refs in listed] == [5, 5, 3]
    assert sorted(sum(listed, [])) == sorted(r[0] for r in xlsx_rows(client, "year=2026")[1:])
    assert "符合条件 13 份 / 共 13 份" in pages[0] and "第 1 / 3 页" in pages[0]
    assert 'href="/?year=2026&amp;page=2">下一页' in pages[0] and "上一页" not in pages[0]
    assert "下一页" not in pages[2] and 'href="/?year=2026&amp;page=2">上一页' in pages[2]
    assert page_refs(client.get("/?year=2026&page=99").text) == listed[2]  # past the end: the last page
    assert page_refs(client.get("/?year=2026&page=-4").text) == listed[0]
    late = len(xlsx_rows(client, "year=2026&overdue=1")) - 1
    assert late > 5  # so the overdue board has a second page, whose link keeps the filter
    assert 'href="/?year=2026&amp;overdue=1&amp;page=2">下一页' in client.get("/?year=2026&overdue=1").text
