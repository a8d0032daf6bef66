"""Every route × every role: what each account may open, the login page for a visitor, and a 404 for
a report of another unit (never a 403, which would say that it exists)."""

from __future__ import annotations

import io
import zipfile
from datetime import date

from openpyxl import load_workbook
from sqlmodel import select

from models.tables import AuditEvent, InboundMessage, Report, ReviewRound
from services.decisions import record_decision
from services.filing import file_report
from services.stages import find_report, open_round_of
from tests.web.conftest import CLERK, COORDINATOR, client_of, signed_in

# role → (path template → expected status); {own} is 野鹤镇's report, {other} 上社镇's.
ROUTES = ["/", "/board.xlsx", "/reports/{own}", "/reports/{own}/versions/2", "/reports/{other}",
          "/reports/{other}/versions/1", "/reports/{own}/filing.docx", "/reports/R-2026-999"]
EXPECTED = {
    "county_coordinator": [200, 200, 200, 200, 200, 200, 404, 404],
    "unit_clerk": [303, 404, 200, 200, 404, 404, 404, 404],
    "viewer": [200, 200, 200, 200, 404, 404, 404, 404],
}


def test_every_route_for_every_role(app, console, role):
    client = signed_in(app, role)
    paths = [path.format(own=console.yehe, other=console.shangshe) for path in ROUTES]
    assert {path: client.get(path).status_code for path in paths} == dict(zip(paths, EXPECTED[role], strict=True))


def test_a_visitor_is_sent_to_the_login_page(client, console):
    for path in ROUTES + ["/reports/{own}/publication.html", "/reports/{own}/mail/1.eml"]:
        response = client.get(path.format(own=console.yehe, other=console.shangshe))
        assert response.status_code == 303 and response.headers["location"].startswith("/login"), path


def test_a_clerk_lands_on_its_units_report(app, console):
    client = signed_in(app, "unit_clerk")
    assert client.get("/").headers["location"] == f"/reports/{console.yehe}"
    page = client.get(f"/reports/{console.yehe}").text
    assert "野鹤镇" in page and "第二部分请补充原因分析。" in page and "返回" not in page.split("<h1")[0]


def test_a_viewer_sees_the_units_it_supervises_only(app, console):
    page = signed_in(app, "viewer").get("/").text
    assert console.yehe in page and console.shangshe not in page
    book = load_workbook(io.BytesIO(signed_in(app, "viewer").get("/board.xlsx").content))
    assert [row[0] for row in book.active.iter_rows(min_row=2, values_only=True)] == [console.yehe]


def test_a_viewer_named_for_the_county_sees_every_unit_under_it(app, session, console):
    from services.accounts import account_of

    account, _ = account_of(session, "何军")
    account.unit_id = session.exec(select(Report.unit_id).where(Report.ref == console.shangshe)).one()
    session.add(account)
    session.commit()
    page = signed_in(app, "viewer").get("/").text
    assert console.yehe in page and console.shangshe in page


def test_the_report_page_tells_the_whole_story(app, console):
    page = signed_in(app, "county_coordinator").get(f"/reports/{console.yehe}").text
    for seen in ("建立报告", "提交稿件", "退回", "电话告知", "陈律师", "第1稿", "第2稿", "与第1稿相比",
                 "原因在于学法用法的制度落实还不够。", "<ins>", "收到的邮件", "发出的邮件", "待发送"):
        assert seen in page, seen


def test_a_filed_report_offers_the_filing_docx_and_the_web_page(app, session, settings, console):
    report = find_report(session, console.yehe)
    for _ in range(2):
        rnd = open_round_of(session, report)
        record_decision(session, settings, rnd.id, "approve", via="phone", actor="test")
        session.commit()
    file_report(session, settings, report, actor="test")
    session.commit()
    client = signed_in(app, "unit_clerk")
    docx = client.get(f"/reports/{console.yehe}/filing.docx")
    assert docx.status_code == 200 and zipfile.ZipFile(io.BytesIO(docx.content)).testzip() is None
    assert docx.headers["content-disposition"].startswith("attachment;")
    web_page = client.get(f"/reports/{console.yehe}/publication.html")
    assert web_page.headers["content-type"] == "application/octet-stream" and "野鹤镇".encode() in web_page.content


def test_a_raw_mail_downloads_only_with_its_report(app, session, console):
    report = find_report(session, console.yehe)
    other = find_report(session, console.shangshe)
    mail = InboundMessage(message_id="<a@b>", sha256="0" * 64, raw=b"From: x\r\n\r\n<script>", source="test",
                          report_id=report.id, outcome="applied", from_address="chen.lawyer@lvshi-a.example.cn")
    session.add(mail)
    session.commit()
    client = signed_in(app, "county_coordinator")
    response = client.get(f"/reports/{report.ref}/mail/{mail.id}.eml")
    assert response.status_code == 200 and response.content.endswith(b"<script>")
    assert response.headers["content-disposition"].startswith("attachment;")
    assert client.get(f"/reports/{other.ref}/mail/{mail.id}.eml").status_code == 404
    assert signed_in(app, "viewer").get(f"/reports/{report.ref}/mail/{mail.id}.eml").status_code == 200
    assert "已采用" in client.get(f"/reports/{report.ref}").text


def test_sign_ins_are_audited_with_the_account(app, session):
    signed_in(app, "county_coordinator")
    signed_in(app, "unit_clerk")
    rows = session.exec(select(AuditEvent.actor).where(AuditEvent.action == "login")).all()
    assert rows == [COORDINATOR, CLERK]


def test_bad_parameters_are_a_chinese_page(app, console):
    client = signed_in(app, "county_coordinator")
    bad = client.get("/?year=abc")
    assert bad.status_code == 400 and "请求有误" in bad.text
    assert client.get("/?year=1999").status_code == 200  # an unknown year: the latest cycle
    assert client.get(f"/reports/{console.yehe}/versions/abc").status_code == 400
    assert client_of(app).get("/nowhere").status_code == 404


def test_rounds_and_overdue_days_on_the_board(app, session, console, monkeypatch):
    monkeypatch.setattr("web.pages.today_in", lambda tz: date(2027, 1, 11))
    page = signed_in(app, "county_coordinator").get("/?overdue=1").text
    assert "逾期" in page and "个工作日" in page
    returned = session.exec(select(ReviewRound).where(ReviewRound.decision == "return")).all()
    assert len(returned) == 1
