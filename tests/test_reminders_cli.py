"""`reportchain sweep`, `deadlines` and `calendar` as a coordinator uses them: what would go out at any
moment (--dry-run, --json), sending for real, changing the policy and the calendar, and bad input."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from core.settings import PROJECT_ROOT
from models.calendar import load_calendar, published
from models.db import utcnow
from models.deadlines import local_day
from models.tables import AuditEvent, CalendarOverride, OutboxMessage
from tests.test_cli import advance, board, cli, ok, refused, stage_of, stored


@pytest.fixture
def opened(county, settings):
    ok(cli("cycle", "open", 2026))


def test_sweep_dry_run_json_shows_who_would_be_told_what_and_writes_nothing(opened, settings):
    before = stored(settings)
    data = json.loads(ok(cli("sweep", "--dry-run", "--json", "--now", "2026-12-21T09:00")))
    assert stored(settings) == before
    assert (data["today"], data["quiet"], data["already_sent"]) == ("2026-12-21", None, 0)
    by_person = {m["to"]: m for m in data["mails"]}
    assert len(by_person) == 14
    [item] = by_person["zhangwei@yehe.qingshan.example.gov.cn"]["items"]
    assert item == {"item": item["item"], "ref": "R-2026-001", "unit": "野鹤镇", "stage": "drafting",
                    "role": "actor", "step": "due", "reminder": "3/6", "due": "2026-12-21", "overdue_days": 0}
    digest = by_person["yfzx@qingshan.example.gov.cn"]["items"]
    assert len(digest) == 13 and {i["role"] for i in digest} == {"coordinator"}


def test_sweep_sends_once_and_says_so_the_second_time(opened, settings):
    out = ok(cli("sweep", "--now", "2026-12-21T09:00"))
    assert "2026-12-21 的提醒：14 人各一封" in out and "已投递邮件 14 封" in out
    again = ok(cli("sweep", "--now", "2026-12-21T11:00"))
    assert "0 人各一封（另有 14 人今天已提醒过，不再重复）" in again


def test_sweep_on_a_holiday_says_why_nothing_goes_out(opened):
    before = ok(cli("sweep", "--dry-run", "--now", "2027-01-01T09:00"))
    # Until the 2027 calendar is published, New Year's Day (a Friday) counts as a working day.
    assert ("2027-01-01 不是工作日" if published(2027) else "2027-01-01 的提醒") in before
    out = ok(cli("calendar", "set", "2027-01-01", "holiday", "--note", "元旦"))
    assert "2027-01-01 已设为放假日" in out
    assert "2027-01-01 不是工作日" in ok(cli("sweep", "--dry-run", "--now", "2027-01-01T09:00"))


def test_sweep_without_a_cycle_and_with_a_bad_time(settings):
    assert "还没有开启任何报告周期" in ok(cli("sweep", "--dry-run", "--now", "2026-12-21T09:00"))
    result = cli("sweep", "--dry-run", "--now", "12/21 9am")
    assert result.exit_code == 2 and "时刻“12/21 9am”无法识别" in result.output


def test_deadlines_set_changes_the_policy_audited_and_the_reminders_follow(opened, settings, session):
    out = ok(cli("deadlines", "set", "drafting=12-18", "remind_before=2"))
    assert "2026年度截止日期安排已调整" in out and "初稿提交：2026-12-18" in out
    data = json.loads(ok(cli("deadlines", "show", "--json")))
    assert data["due"]["drafting"] == "2026-12-18" and data["steps"][0] == "before-2"
    [event] = session.exec(select(AuditEvent).where(AuditEvent.action == "policy_changed")).all()
    assert event.detail["before"]["dates"]["drafting"] == "2026-12-20"
    sweep = json.loads(ok(cli("sweep", "--dry-run", "--json", "--now", "2026-12-16T09:00")))
    steps = {i["step"] for m in sweep["mails"] for i in m["items"] if i["role"] == "actor"}
    assert steps == {"before-2"}
    assert "没有变化" in ok(cli("deadlines", "set", "drafting=2026-12-18"))


def test_deadlines_set_dry_run_stores_nothing(opened, settings):
    before = stored(settings)
    assert "【试运行，未保存】" in ok(cli("deadlines", "set", "--dry-run", "legal_review=3"))
    assert stored(settings) == before


@pytest.mark.parametrize("value, code, says", [
    ("working_hours=17:00-09:00", 1, "工作时间“17:00-09:00”无法识别"),
    ("legal_reveiw=5", 1, "无法识别的设置“legal_reveiw”"),
    ("filing", 2, "“filing”应写成 键=值"),  # not even key=value: a usage error
])
def test_deadlines_set_refuses_bad_values_and_changes_nothing(opened, settings, value, code, says):
    before = stored(settings)
    result = cli("deadlines", "set", value)
    assert result.exit_code == code and says in result.output and "Traceback" not in result.output
    assert stored(settings) == before


def test_deadlines_for_a_year_never_opened(opened):
    refused(cli("deadlines", "show", "--year", "2031"), "2031年度的报告周期尚未开启")


def test_calendar_show_lists_holidays_and_make_up_days_and_warns_for_an_unpublished_year(settings):
    data = json.loads(ok(cli("calendar", "show", "2026", "--json")))
    days = {d["day"]: d for d in data["days"]}
    assert data["published"] is True
    assert days["2026-01-01"]["working"] is False and days["2026-01-01"]["holiday"] == "New Year's Day"
    assert days["2026-01-04"]["working"] is True  # a make-up Sunday
    assert "2026-03-07" not in days  # an ordinary Saturday is not special
    result = cli("calendar", "show", "2099")
    assert result.exit_code == 0 and "2099年的法定节假日安排尚未收录" in result.output


def test_calendar_set_overrides_then_restores_the_official_day(settings, session):
    ok(cli("calendar", "set", "2026-03-07", "workday", "--note", "县里统一调休"))
    data = json.loads(ok(cli("calendar", "show", "2026", "--json")))
    assert {"day": "2026-03-07", "working": True, "holiday": None, "override": "县里统一调休"} in data["days"]
    ok(cli("calendar", "set", "2026-03-07", "official"))
    data = json.loads(ok(cli("calendar", "show", "2026", "--json")))
    assert "2026-03-07" not in {d["day"] for d in data["days"]}  # a Saturday off again, as published
    session.expire_all()
    [row] = session.exec(select(CalendarOverride)).all()  # nothing is deleted: the row says who went back
    assert (row.day.isoformat(), row.working) == ("2026-03-07", None)
    assert not load_calendar(session).is_working_day(row.day)
    assert len(session.exec(select(AuditEvent).where(AuditEvent.action == "calendar_override")).all()) == 2


@pytest.mark.parametrize("args, says", [
    (["2026-13-01", "holiday"], "日期“2026-13-01”无法识别"),
    (["2026-03-07", "vacation"], "“vacation”不可用"),
])
def test_calendar_set_refuses_bad_input(settings, session, args, says):
    result = cli("calendar", "set", *args)
    assert result.exit_code == 2 and says in result.output
    assert session.exec(select(CalendarOverride)).all() == []
    assert session.exec(select(OutboxMessage)).all() == []


def test_a_cycle_opens_with_the_policy_file_of_the_settings(county, settings, monkeypatch, tmp_path):
    policy = tmp_path / "deadlines.yaml"
    policy.write_text((PROJECT_ROOT / "examples" / "deadlines.yaml").read_text(encoding="utf-8")
                      .replace("legal_review: 5", "legal_review: 4").replace("drafting: 12-20", "drafting: 12-18"),
                      encoding="utf-8")
    monkeypatch.setenv("REPORTCHAIN_DEADLINES_FILE", str(policy))
    ok(cli("cycle", "open", 2026, "--set", "committee_review=6"))
    data = json.loads(ok(cli("deadlines", "show", "--json")))
    assert data["due"]["drafting"] == "2026-12-18"
    assert data["policy"]["budgets"] == {"legal_review": 4, "committee_review": 6, "revision": 3}


@pytest.mark.parametrize("content, says", [
    ("drafting: [12-20\n", "截止日期设置文件"),
    ("- just a list\n", "截止日期设置文件"),
    ("filing: 02-30\n", "“filing”的日期“02-30”无法识别"),
])
def test_a_broken_policy_file_is_refused_before_anything_is_stored(county, settings, monkeypatch, tmp_path,
                                                                   content, says):
    policy = tmp_path / "deadlines.yaml"
    policy.write_text(content, encoding="utf-8")
    monkeypatch.setenv("REPORTCHAIN_DEADLINES_FILE", str(policy))
    before = stored(settings)
    refused(cli("cycle", "open", 2026), says)
    assert stored(settings) == before


def test_publish_records_the_disclosure_ends_the_chain_and_its_reminders(county, settings, tmp_path):
    advance(tmp_path, "filing")
    url = "https://www.qingshan.example.gov.cn/fzzf/2026-yehe.html"
    refused(cli("publish", "R-2026-001", url), "尚未通过保密审查")
    ok(cli("file", "R-2026-001"))
    assert stage_of("R-2026-001") == "confidentiality_review"  # filed, and at once asked of the reviewer

    def told_about_r001() -> list[dict]:
        plan = json.loads(ok(cli("sweep", "--dry-run", "--json", "--now", "2027-03-31T09:00")))
        return [(m["to"], i["step"]) for m in plan["mails"] for i in m["items"] if i["ref"] == "R-2026-001"]

    reviewer = "baomi01@qingshan.example.gov.cn"
    # the disclosure date is the review's due date: the reviewer is reminded, the coordinator sees it coming
    assert sorted(told_about_r001()) == [(reviewer, "due"), ("yfzx@qingshan.example.gov.cn", "due")]
    refused(cli("publish", "R-2026-001", url), "等待保密审查人回复")
    assert stage_of("R-2026-001") == "confidentiality_review"
    result = cli("publish", "R-2026-001", "www.example.gov.cn")
    assert result.exit_code == 2 and "应以 http:// 或 https:// 开头" in result.output
    ok(cli("decide", "R-2026-001", "approve", "--stage", "保密审查"))
    assert told_about_r001() == [("yfzx@qingshan.example.gov.cn", "due")]  # now the coordinator publishes
    assert "已登记报告 R-2026-001 公开" in ok(cli("publish", "R-2026-001", url))
    assert "已登记过此公开网址" in ok(cli("publish", "R-2026-001", url))
    history = ok(cli("history", "R-2026-001"))
    today = local_day(utcnow(), "Asia/Shanghai")
    assert "保密审查确认人：林静" in history and f"保密审查日期：{today}" in history
    assert stage_of("R-2026-001") == "published"
    assert told_about_r001() == []
    assert board()["reports"][0]["due"] is None
