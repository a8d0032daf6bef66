"""Any level coordinates, and a cycle's whole life: a city roster whose counties, districts and departments
report; a county root that reports when the roster says so; a unit added mid-cycle gets its report and
kickoff at once; a replaced drafter stops getting mail; a merged township is closed with its history kept;
a cycle is closed, listing what was never finished. Careless users: importing twice, closing twice,
closing an unknown unit, opening a closed cycle."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default
from io import BytesIO

import pytest
from docx import Document
from sqlmodel import select

from core.settings import PROJECT_ROOT
from models.chain import Refused, Stage
from models.tables import Assignment, AuditEvent, Cycle, OutboxMessage, OutboxStatus, Person, Report, Unit
from services.board import rows, status
from services.cycle import open_cycle
from services.decisions import record_decision
from services.filing import file_report
from services.reminders import sweep
from services.roster import RosterError, import_roster, plan_roster
from services.stages import addressee_of, coordinators_of, open_round_of
from tests.replies_kit import to_legal_review
from tests.test_cli import cli, ok, refused
from tests.test_roster import COLUMNS, unit_row, write_csv

CITY = PROJECT_ROOT / "examples" / "sample_city.yaml"
DRAFTING_REMINDER_DAY = datetime(2026, 12, 21, 1, tzinfo=UTC)  # 09:00 in 青山县: drafting due in 3 working days
COUNTY = {**unit_row("qingshan", "青山县", kind="county", parent=""), "drafter": "", "legal_advisor": "",
          "approval_contact": "", "filing_to": "", "coordinator": "吴协调 <yfzx@qingshan.example.gov.cn>"}


def reports_by_unit(session, year: int = 2026) -> dict[str, Report]:
    found = session.exec(select(Unit.code, Report).join(Report, Report.unit_id == Unit.id)
                         .join(Cycle, Cycle.id == Report.cycle_id).where(Cycle.year == year)).all()
    return dict(found)


def kickoffs_to(session) -> list[str]:
    return sorted(m.to_addrs for m in session.exec(select(OutboxMessage).where(OutboxMessage.kind == "kickoff")))


def reminded(session, settings, now=DRAFTING_REMINDER_DAY) -> set[str]:
    return {m.person.email for m in sweep(session, settings, now).mails}


# --- any level coordinates --------------------------------------------------------------------------


def test_a_city_roster_runs_a_cycle_for_its_counties_districts_and_departments(session, settings):
    import_roster(session, CITY)
    created = open_cycle(session, settings, 2026)
    session.commit()

    reports = reports_by_unit(session)
    assert sorted(reports) == ["donghu", "qingshan", "sifaju"]  # the city runs the cycle and files nothing
    assert len(created) == 3 and len(kickoffs_to(session)) == 3
    board = status(session, 2026, datetime(2026, 12, 1).date())
    assert {r["unit"]: r["unit_kind"] for r in board["reports"]} == {"青山县": "county", "东湖区": "district",
                                                                     "市司法局": "department"}
    county = session.exec(select(Unit).where(Unit.code == "qingshan")).one()
    assert [p.email for p in coordinators_of(session, county)] == ["yfzs@jiangcheng.example.gov.cn"]

    report = reports["qingshan"]  # the county's own report, through the chain to its filing
    rnd = to_legal_review(session, settings, report)
    record_decision(session, settings, rnd.id, "approve", via="phone", actor="陈律师")
    record_decision(session, settings, open_round_of(session, report).id, "approve", via="phone", actor="马明")
    filing = file_report(session, settings, report)
    session.commit()
    assert (filing.to_addrs, filing.cc_addrs) == ("shiwei-ban@jiangcheng.example.gov.cn",
                                                  "yfzs@jiangcheng.example.gov.cn")
    assert addressee_of(session, county) == "中共江城市委、江城市人民政府"  # the 主送 of its kit and filing


@pytest.mark.parametrize(("reports", "expected"), [("", []), ("否", []), ("yes", ["qingshan", "yehe"]),
                                                    ("是", ["qingshan", "yehe"])])
def test_a_county_root_reports_only_when_the_roster_says_so(session, settings, tmp_path, reports, expected):
    county = {**COUNTY, "reports": reports}
    if reports in ("yes", "是"):  # a root that reports needs what every reporting unit needs
        county = {**unit_row("qingshan", "青山县", kind="county", parent="",
                             filing_to="shiwei-ban@jiangcheng.example.gov.cn"), "reports": reports}
    import_roster(session, write_csv(tmp_path / "r.csv", [county, unit_row("yehe", "野鹤镇")],
                                     columns=[*COLUMNS, "reports"]))
    open_cycle(session, settings, 2026)
    assert sorted(reports_by_unit(session)) == (expected or ["yehe"])


def test_a_root_that_reports_without_its_people_or_a_bad_reports_value_is_refused_by_line(session, tmp_path):
    rows = [{**COUNTY, "reports": "yes"}, {**unit_row("yehe", "野鹤镇"), "reports": "maybe"}]
    with pytest.raises(RosterError) as refusal:
        import_roster(session, write_csv(tmp_path / "r.csv", rows, columns=[*COLUMNS, "reports"]))
    problems = refusal.value.problems
    assert "第 2 行：报告单位须指定起草人" in problems
    assert "第 2 行：报告单位须填写报送邮箱（filing_to）" in problems
    assert "第 3 行：“是否报告”（reports）填写“maybe”无法识别，请填 是/否（yes/no）" in problems
    assert session.exec(select(Unit)).all() == []


# --- a unit added mid-cycle, a replaced drafter -------------------------------------------------------


def test_a_unit_added_mid_cycle_gets_its_report_and_kickoff_at_once_and_a_second_import_changes_nothing(
        session, settings, tmp_path):
    first = [COUNTY, unit_row("yehe", "野鹤镇")]
    ok(cli("units", "import", write_csv(tmp_path / "first.csv", first)))
    open_cycle(session, settings, 2026)
    session.commit()
    second = write_csv(tmp_path / "second.csv", [*first, unit_row("xinzhen", "新镇")])

    preview = ok(cli("units", "import", second, "--dry-run"))
    assert "新镇" in preview and "加入正在进行的2026年度周期，即发启动通知和起草模板" in preview
    session.expire_all()
    assert sorted(reports_by_unit(session)) == ["yehe"]  # the preview wrote nothing

    said = ok(cli("units", "import", second))
    assert "已建立报告 1 份" in said
    session.expire_all()
    new = reports_by_unit(session)["xinzhen"]
    assert new.stage == Stage.DRAFTING and new.ref == "R-2026-002"
    kickoff = session.exec(select(OutboxMessage).where(OutboxMessage.report_id == new.id)).one()
    assert (kickoff.kind, kickoff.to_addrs, kickoff.status) == ("kickoff", "新镇起草人 <xinzhen-drafter@example.cn>",
                                                                OutboxStatus.PENDING)
    kit = next(part for part in message_from_bytes(kickoff.raw, policy=default).iter_attachments()
               if part.get_filename() == "新镇2026年度法治政府建设年度报告（模板）.docx")  # the kit, to the county
    assert Document(BytesIO(kit.get_content())).paragraphs[1].text == "中共青山县委、青山县人民政府："

    again = ok(cli("units", "import", second))  # the same file twice: no second report, no second kickoff
    assert "已建立报告" not in again
    session.expire_all()
    assert len(reports_by_unit(session)) == 2 and len(kickoffs_to(session)) == 2


def test_a_unit_added_after_the_cycle_ended_gets_no_report_of_a_finished_year(session, settings, tmp_path,
                                                                              monkeypatch):
    ok(cli("units", "import", write_csv(tmp_path / "first.csv", [COUNTY, unit_row("yehe", "野鹤镇")])))
    open_cycle(session, settings, 2026)
    session.commit()
    monkeypatch.setattr("services.roster.today_in", lambda timezone: datetime(2027, 6, 1).date())
    plan = plan_roster(session, write_csv(tmp_path / "second.csv", [COUNTY, unit_row("yehe", "野鹤镇"),
                                                                       unit_row("xinzhen", "新镇")]), settings)
    assert plan.units_added == ["新镇（xinzhen）"] and plan.reports_added == []


def test_a_replaced_drafter_stops_getting_mail_and_the_role_is_ended_not_deleted(session, settings, tmp_path):
    yehe = unit_row("yehe", "野鹤镇")
    ok(cli("units", "import", write_csv(tmp_path / "first.csv", [COUNTY, yehe])))
    open_cycle(session, settings, 2026)
    session.commit()
    replaced = {**yehe, "drafter": "新起草人 <new-drafter@example.cn>"}
    ok(cli("units", "import", write_csv(tmp_path / "second.csv", [COUNTY, replaced])))
    session.expire_all()

    assert "new-drafter@example.cn" in reminded(session, settings)
    assert "yehe-drafter@example.cn" not in reminded(session, settings)
    old = session.exec(select(Assignment).join(Person, Person.id == Assignment.person_id)
                       .where(Person.email == "yehe-drafter@example.cn")).one()
    assert old.ended_at is not None  # kept, with when it ended
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "roster_imported")
                         .order_by(AuditEvent.id.desc())).first()
    assert event.detail["roles_ended"] == [["野鹤镇", "野鹤镇起草人 <yehe-drafter@example.cn>", "drafter"]]

    ok(cli("units", "import", write_csv(tmp_path / "third.csv", [COUNTY, yehe])))  # listed again: resumes
    session.expire_all()
    assert session.get(Assignment, old.id).ended_at is None


# --- closing a unit -----------------------------------------------------------------------------------


@pytest.fixture
def two_townships(session, settings, tmp_path):
    ok(cli("units", "import", write_csv(tmp_path / "r.csv", [COUNTY, unit_row("yehe", "野鹤镇"),
                                                                unit_row("xiashe", "下社镇")])))
    open_cycle(session, settings, 2026)
    session.commit()
    return reports_by_unit(session)


def test_a_merged_township_is_closed_with_its_history_kept_and_nothing_more_sent(session, settings,
                                                                                 two_townships):
    xiashe = two_townships["xiashe"]
    said = ok(cli("units", "close", "下社镇", "--reason", "并入野鹤镇", "--by", "吴协调"))
    assert "下社镇已关闭（并入野鹤镇）" in said and "R-2026-002（起草）" in said
    assert "已取消尚未发出的邮件 1 封" in said  # its kickoff had not gone out yet
    session.expire_all()

    assert "xiashe-drafter@example.cn" not in reminded(session, settings)
    assert "yehe-drafter@example.cn" in reminded(session, settings, DRAFTING_REMINDER_DAY.replace(day=22))
    board = status(session, 2026, datetime(2026, 12, 21).date())
    row = next(r for r in board["reports"] if r["ref"] == xiashe.ref)
    assert (row["closed"], row["waiting_on"], row["due"]) == ("并入野鹤镇", [], None)
    assert "已撤并（并入野鹤镇）" in rows(board)[1]
    events = [e.action for e in session.exec(select(AuditEvent).where(AuditEvent.report_id == xiashe.id))]
    assert events == ["report_opened", "unit_closed"]
    with pytest.raises(Refused) as refusal:
        to_legal_review(session, settings, session.get(Report, xiashe.id))
    session.rollback()
    assert refusal.value.code == "unit_closed"
    assert session.get(Report, xiashe.id).stage == Stage.DRAFTING
    open_cycle(session, settings, 2027)  # a later cycle gives it no report
    assert sorted(reports_by_unit(session, 2027)) == ["yehe"]


def test_closing_twice_an_unknown_unit_or_without_a_reason_is_refused_in_chinese(session, settings,
                                                                                  two_townships):
    ok(cli("units", "close", "xiashe", "--reason", "撤销建制", "--by", "吴协调"))
    refused(cli("units", "close", "下社镇", "--reason", "并入野鹤镇"), "下社镇已于")
    refused(cli("units", "close", "下社镇", "--reason", "并入野鹤镇"), "由 吴协调 关闭（撤销建制），无需再次关闭")
    refused(cli("units", "close", "不存在镇", "--reason", "撤销"), "找不到单位“不存在镇”")
    refused(cli("units", "close", "野鹤镇"), "请用 --reason 写明关闭原因")
    session.expire_all()
    assert session.exec(select(Unit).where(Unit.code == "xiashe")).one().closed_reason == "撤销建制"
    assert session.exec(select(Unit).where(Unit.code == "yehe")).one().closed_at is None


# --- closing a cycle ----------------------------------------------------------------------------------


def test_closing_a_cycle_ends_its_reminders_and_lists_what_was_never_finished(session, settings, two_townships):
    assert reminded(session, settings)  # reminders written, not yet sent
    session.commit()
    said = ok(cli("cycle", "close", 2026, "--by", "吴协调"))
    assert "2026年度报告周期已关闭，不再发送催办提醒" in said and "以下 2 份报告始终未完成" in said
    assert "R-2026-001" in said and "野鹤镇" in said and "起草" in said
    session.expire_all()
    assert session.exec(select(OutboxMessage).where(OutboxMessage.kind == "reminder",
                                                    OutboxMessage.status == OutboxStatus.PENDING)).all() == []
    assert reminded(session, settings, DRAFTING_REMINDER_DAY.replace(day=22)) == set()

    refused(cli("cycle", "close", 2026), "2026年度报告周期已于")
    refused(cli("cycle", "close", 2026), "无需再次关闭")
    refused(cli("cycle", "close", 2031), "2031年度的报告周期尚未开启，无从关闭")
    refused(cli("cycle", "open", 2026), "2026年度报告周期已于")


def test_a_past_years_cycle_is_refused_without_the_flag(session, settings, two_townships):
    refused(cli("cycle", "open", 2024), "2024年度的报告周期已经结束")
    session.expire_all()
    assert session.exec(select(Cycle).where(Cycle.year == 2024)).first() is None
