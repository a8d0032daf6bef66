"""Uploads in the console: a unit clerk's draft (checked and shown before it is sent on, then held as
the CLI holds it when the check finds a placeholder) and the coordinator's roster (previewed, then
imported). A file that cannot be read, is too big, or is not the kind expected is refused in Chinese
and nothing is stored; an upload is used once, and only by the session that made it."""

from __future__ import annotations

import pytest
from sqlmodel import func, select

from core.settings import load_settings
from models.chain import Stage
from models.tables import AuditEvent, ReportVersion, Unit
from services.decisions import record_decision
from services.stages import find_report, open_round_of
from tests.drafts import report_text
from tests.web.conftest import CLERK, COORDINATOR, CSRF, signed_in

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
TOKEN = 'name="token" value="'


def csrf(client) -> str:
    return CSRF.search(client.get("/login").text).group(1)


def upload(client, path: str, name: str, data: bytes):
    return client.post(path, data={"csrf": csrf(client)}, files={"file": (name, data, "application/octet-stream")})


def token_of(page: str) -> str:
    return page.split(TOKEN, 1)[1].split('"', 1)[0]


def submit(client, ref: str, checked):
    """Step 2: 提交 the upload the check page holds."""
    return client.post(f"/reports/{ref}/draft/submit", data={"csrf": csrf(client), "token": token_of(checked.text)})


def versions(session) -> int:
    session.expire_all()
    return session.exec(select(func.count()).select_from(ReportVersion)).one()


@pytest.fixture
def returned(session, settings, console) -> str:
    """野鹤镇's report sent back to drafting (its clerk may upload)."""
    rnd = open_round_of(session, find_report(session, console.yehe))
    record_decision(session, settings, rnd.id, "return", comment="请补充第三部分。", via="phone", actor="陈律师")
    session.commit()
    return console.yehe


def test_a_clerk_checks_then_submits_a_draft_that_is_held(app, session, returned):
    client = signed_in(app, "unit_clerk")
    page = client.get(f"/reports/{returned}").text
    assert f'action="/reports/{returned}/draft"' in page
    draft = report_text("野鹤镇").replace("全年审查", "XX镇全年审查").encode()
    before = versions(session)
    checked = upload(client, f"/reports/{returned}/draft", "第三稿.md", draft)
    assert checked.status_code == 200 and "尚未提交" in checked.text and "XX" in checked.text
    assert "暂不送审" in checked.text
    assert versions(session) == before  # nothing stored until 提交
    done = submit(client, returned, checked)
    assert done.status_code == 303
    assert "暂未送法律顾问审核" in client.get(f"/reports/{returned}").text
    assert versions(session) == before + 1 and find_report(session, returned).stage == Stage.DRAFTING
    [held] = session.exec(select(AuditEvent).where(AuditEvent.action == "draft_held")).all()
    assert (held.actor, held.detail["how"]) == (CLERK, "console")
    again = submit(client, returned, checked)
    assert again.status_code == 400 and "请重新上传" in again.text and versions(session) == before + 1

    coordinator = signed_in(app, "county_coordinator")
    assert "仍按此稿送审" in coordinator.get(f"/reports/{returned}").text
    shown = coordinator.post("/act/accept", data={"csrf": csrf(coordinator), "ref": returned})
    assert "chen.lawyer@lvshi-a.example.cn" in shown.text and find_report(session, returned).stage == Stage.DRAFTING
    assert coordinator.post("/act/accept", data={"csrf": csrf(coordinator), "ref": returned,
                                                 "confirm": "1"}).status_code == 303
    session.expire_all()
    assert find_report(session, returned).stage == Stage.LEGAL_REVIEW
    again = coordinator.post("/act/accept", data={"csrf": csrf(coordinator), "ref": returned, "confirm": "1"})
    assert again.status_code == 409 and "没有因检查问题而暂未送审的稿件" in again.text


def test_a_good_draft_goes_to_review(app, session, returned):
    client = signed_in(app, "unit_clerk")
    checked = upload(client, f"/reports/{returned}/draft", "第三稿.txt", (report_text("野鹤镇") + "补充。").encode())
    assert "暂不送审" not in checked.text
    submit(client, returned, checked)
    assert find_report(session, returned).stage == Stage.LEGAL_REVIEW


def test_uploads_that_are_refused_store_nothing(app, session, settings, returned, monkeypatch, console):
    client = signed_in(app, "unit_clerk")
    before = versions(session)
    wrong = upload(client, f"/reports/{returned}/draft", "report.exe", b"MZ")
    assert wrong.status_code == 400 and "不支持的文件类型" in wrong.text
    broken = upload(client, f"/reports/{returned}/draft", "report.docx", b"PK\x03\x04 not a zip")
    assert broken.status_code == 400 and "已损坏" in broken.text
    monkeypatch.setenv("REPORTCHAIN_DRAFT_MAX_MB", "1")
    from web.app import create_app

    small = signed_in(create_app(load_settings()), "unit_clerk")
    big = upload(small, f"/reports/{returned}/draft", "big.txt", b"a" * (2**20 + 1))
    assert big.status_code == 400 and "超过 1 MB" in big.text
    assert upload(client, f"/reports/{console.shangshe}/draft", "x.md", b"x").status_code == 404
    assert upload(signed_in(app, "viewer"), f"/reports/{returned}/draft", "x.md", b"x").status_code == 404
    assert versions(session) == before


def test_an_upload_belongs_to_its_session(app, returned):
    clerk = signed_in(app, "unit_clerk")
    checked = upload(clerk, f"/reports/{returned}/draft", "稿.md", report_text("野鹤镇").encode())
    other = signed_in(app, "county_coordinator")
    stolen = submit(other, returned, checked)
    assert stolen.status_code == 400 and "不属于本次登录" in stolen.text


ROSTER_HEAD = "code,name,kind,parent,approval_body,filing_to,filing_cc,drafter,legal_advisor,approval_contact"


def test_the_roster_is_previewed_then_imported(app, session, console):
    client = signed_in(app, "county_coordinator")
    units = session.exec(select(func.count()).select_from(Unit)).one()
    missing = upload(client, "/roster", "名册.csv", "code,name,kind\nx,新镇,township\n".encode())
    assert missing.status_code == 400 and "名册缺少必填列" in missing.text
    row = ("xinzhen,新镇,township,qingshan,镇党委会议,xianwei-ban@qingshan.example.gov.cn,,"
           "王新 <wangxin@xinzhen.example.gov.cn>,陈律师 <chen.lawyer@lvshi-a.example.cn>,"
           "赵审 <party-xinzhen@qingshan.example.gov.cn>")
    shown = upload(client, "/roster", "名册.csv", f"{ROSTER_HEAD}\n{row}\n".encode())
    assert shown.status_code == 200 and "新镇（xinzhen）" in shown.text and "王新" in shown.text
    assert "名册中已无" in shown.text  # the county's other units are kept, and said so
    assert session.exec(select(func.count()).select_from(Unit)).one() == units  # a preview writes nothing
    done = client.post("/roster/apply", data={"csrf": csrf(client), "token": token_of(shown.text)})
    assert done.status_code == 303 and "导入完成" in client.get("/").text
    assert session.exec(select(func.count()).select_from(Unit)).one() == units + 1
    [event] = session.exec(select(AuditEvent).where(AuditEvent.action == "roster_imported")).all()
    assert (event.actor, event.detail["how"]) == (COORDINATOR, "console")
    assert event.detail["units_added"] == ["新镇（xinzhen）"]
    assert client.post("/roster/apply", data={"csrf": csrf(client), "token": token_of(shown.text)}).status_code == 400
    assert upload(signed_in(app, "unit_clerk"), "/roster", "名册.csv", b"x").status_code == 404
