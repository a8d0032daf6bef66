"""The reminder sweep on the sample county (SQLite and PostgreSQL): who is told what on which day, one
mail per person per day, escalation, the coordinators' digest, quiet days, and that re-running or
racing sweeps never send twice and nothing is sent about an item decided meanwhile."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, func, select

from flows import run
from flows.reminders import sweep_flow
from models.calendar import published
from models.db import get_engine
from models.reminders import plan_sweep
from models.tables import OutboxMessage, Person, Reminder, ReviewRound
from notifications.backends import backend_for
from notifications.outbox import deliver
from services.cycle import open_cycle
from services.decisions import record_decision
from services.delivery import deliver_all
from services.reminders import sweep, write_plan
from tests.conftest import report_of
from tests.replies_kit import to_legal_review

TZ = ZoneInfo("Asia/Shanghai")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=TZ)


def reminders(session: Session) -> list[OutboxMessage]:
    session.expire_all()
    return list(session.exec(select(OutboxMessage).where(OutboxMessage.kind == "reminder")
                             .order_by(OutboxMessage.id)))


def to(session: Session, email: str) -> list[OutboxMessage]:
    return [m for m in reminders(session) if f"<{email}>" in m.to_addrs]


def cycle(session, settings, **changes):
    open_cycle(session, settings, 2026, changes)
    session.commit()


def review_opened_on(session, settings, unit, day: str) -> ReviewRound:
    """The unit's draft submitted and its legal review round opened on `day` (09:00 local)."""
    rnd = to_legal_review(session, settings, report_of(session, unit))
    rnd.opened_at = at(f"{day}T09:00")
    session.add(rnd)
    session.commit()
    return rnd


ADVISOR = "chen.lawyer@lvshi-a.example.cn"  # advises 7 of the 13 units
COORDINATOR = "yfzx@qingshan.example.gov.cn"


def test_nothing_goes_out_on_a_day_off_or_outside_working_hours(session, settings, county):
    cycle(session, settings)
    assert plan_sweep(session, at("2026-12-19T09:00"), "Asia/Shanghai").quiet == "day_off"  # Saturday
    assert plan_sweep(session, at("2026-12-21T08:00"), "Asia/Shanghai").quiet == "before_hours"
    assert plan_sweep(session, at("2026-12-21T17:30"), "Asia/Shanghai").quiet == "after_hours"
    for moment in ("2026-12-19T09:00", "2026-12-21T08:00", "2026-12-21T17:30"):
        sweep(session, settings, at(moment))
    assert reminders(session) == []


def test_on_the_drafting_due_date_each_drafter_gets_one_reminder_threaded_under_the_kickoff(
        session, settings, county):
    cycle(session, settings)
    sweep(session, settings, at("2026-12-21T09:00"))  # 20 Dec is a Sunday: due Monday 21 Dec
    [zhang] = to(session, "zhangwei@yehe.qingshan.example.gov.cn")
    assert zhang.subject == "[#R-2026-001] 提醒 3/6：野鹤镇年度报告请提交报告稿件，今天（2026年12月21日）到期"
    drafter = session.exec(select(Person).where(Person.email == "zhangwei@yehe.qingshan.example.gov.cn")).one()
    report = report_of(session, county["yehe"])
    kickoff = session.exec(select(OutboxMessage).where(
        OutboxMessage.idempotency_key == f"kickoff:{report.ref}:{drafter.email}")).one()
    assert zhang.in_reply_to == kickoff.message_id
    [digest] = to(session, COORDINATOR)
    assert digest.subject == "年度报告进度提示（2026年12月21日）：即将到期13项"
    assert digest.body_text.count("今天（2026年12月21日）到期") == 13
    assert len(reminders(session)) == 14  # 13 drafters and the coordinator, one mail each


def test_no_reminder_on_a_day_without_a_step(session, settings, county):
    cycle(session, settings)
    plan = plan_sweep(session, at("2026-12-17T09:00"), "Asia/Shanghai")  # 2 working days before: no step
    assert [m.person.email for m in plan.mails] == [COORDINATOR]  # only the digest: due within 3 days
    plan = plan_sweep(session, at("2026-12-10T09:00"), "Asia/Shanghai")
    assert plan.mails == [] and plan.quiet is None


def test_an_advisor_with_several_pending_reviews_gets_one_digest_a_day(session, settings, county):
    cycle(session, settings)
    for code in ("yehe", "shangshe", "xiashe"):  # three of 陈律师's units, all opened on Tuesday 1 Dec
        review_opened_on(session, settings, county[code], "2026-12-01")
    sweep(session, settings, at("2026-12-08T09:00"))  # +5 working days: all three due today
    [digest] = to(session, ADVISOR)
    assert digest.subject == "待办提醒（2026年12月8日）：您有3项年度报告事项待办"
    assert digest.in_reply_to is None  # a digest threads under no single prompt
    for ref in ("R-2026-001", "R-2026-002", "R-2026-003"):
        assert f"[#{ref}]" in digest.body_text
    assert "请分别回复各报告的审核邮件" in digest.body_text
    assert session.exec(select(func.count()).where(Reminder.outbox_id == digest.id)).one() == 3


def test_a_lone_review_reminder_threads_under_its_prompt_so_a_reply_to_it_decides(session, settings, county):
    cycle(session, settings)
    rnd = review_opened_on(session, settings, county["yehe"], "2026-12-01")
    sweep(session, settings, at("2026-12-07T09:00"))  # one working day before the due date
    [mail] = to(session, ADVISOR)
    assert mail.in_reply_to == rnd.prompt_message_id
    assert mail.subject.startswith("[#R-2026-001] 提醒 2/6：野鹤镇年度报告请完成法律审核")
    assert "2026年12月8日" in mail.subject and "请直接回复本邮件或原审核邮件" in mail.body_text


def test_overdue_tells_the_supervisor_from_day_1_and_the_county_coordinator_from_day_3(session, settings, county):
    cycle(session, settings)
    review_opened_on(session, settings, county["yehe"], "2026-12-01")  # due Tuesday 8 Dec
    sweep(session, settings, at("2026-12-09T09:00"))  # overdue 1
    [advisor] = to(session, ADVISOR)
    assert "提醒 4/6" in advisor.subject and "已逾期1个工作日" in advisor.subject
    assert "已同时告知单位分管负责人" in advisor.body_text
    [supervisor] = to(session, "leader@yehe.qingshan.example.gov.cn")
    assert supervisor.subject == "督办提醒（2026年12月9日）：野鹤镇年度报告事项已逾期"
    assert "待陈律师办理" in supervisor.body_text
    assert "【请督办】" not in to(session, COORDINATOR)[0].body_text

    sweep(session, settings, at("2026-12-10T09:00"))  # overdue 2: no step for the advisor
    assert len(to(session, ADVISOR)) == 1
    sweep(session, settings, at("2026-12-11T09:00"))  # overdue 3
    assert "提醒 5/6" in to(session, ADVISOR)[-1].subject
    assert "【请督办】[#R-2026-001]" in to(session, COORDINATOR)[-1].body_text
    assert len(to(session, "leader@yehe.qingshan.example.gov.cn")) == 2


def test_a_second_sweep_the_same_day_sends_nothing(session, settings, county):
    cycle(session, settings)
    first = sweep(session, settings, at("2026-12-21T09:00"))
    count = len(reminders(session))
    again = sweep(session, settings, at("2026-12-21T10:00"))
    assert (len(first.mails), again.mails, again.already_sent) == (14, [], 14)
    assert len(reminders(session)) == count


def test_two_sweeps_racing_write_each_persons_mail_once(session, settings, county):
    """Both planned before either wrote (check-then-send would send twice): the unique keys let one win."""
    cycle(session, settings)
    with Session(get_engine(settings.database_url), expire_on_commit=False) as other:
        plans = [plan_sweep(s, at("2026-12-21T09:00"), "Asia/Shanghai") for s in (session, other)]
        assert len(plans[0].mails) == len(plans[1].mails) == 14
        assert write_plan(session, settings, plans[0]) == 14
        assert write_plan(other, settings, plans[1]) == 0
    assert plans[1].already_sent == 14
    mails = reminders(session)
    assert len(mails) == 14 and len({m.to_addrs for m in mails}) == 14
    assert session.exec(select(func.count()).select_from(Reminder)).one() == 13 + 13  # drafters + digest lines


def test_a_sweep_that_finds_some_people_told_meanwhile_still_tells_the_others(session, settings, county):
    cycle(session, settings)
    plan = plan_sweep(session, at("2026-12-21T09:00"), "Asia/Shanghai")
    with Session(get_engine(settings.database_url), expire_on_commit=False) as other:
        racer = plan_sweep(other, at("2026-12-21T09:00"), "Asia/Shanghai")
        racer.mails = racer.mails[:1]  # the other sweep got as far as one person
        assert write_plan(other, settings, racer) == 1
    assert write_plan(session, settings, plan) == 13
    assert plan.already_sent == 1
    assert len(reminders(session)) == 14 and len({m.to_addrs for m in reminders(session)}) == 14


def test_a_reminder_about_an_item_decided_before_delivery_is_cancelled(session, settings, county):
    cycle(session, settings)
    rnd = review_opened_on(session, settings, county["yehe"], "2026-12-01")
    deliver_all(session, settings)
    sweep(session, settings, at("2026-12-07T09:00"))
    [mail] = to(session, ADVISOR)
    record_decision(session, settings, rnd.id, "approve", actor=ADVISOR, via="email")
    session.commit()
    deliver_all(session, settings)
    session.refresh(mail)
    assert mail.status == "cancelled" and mail.sent_at is None
    assert not any(settings.mail_folder.glob(f"*{mail.message_id.strip('<>').split('@')[0]}*"))
    later = plan_sweep(session, at("2026-12-08T09:00"), "Asia/Shanghai")
    assert all(line.item.key != f"round:{rnd.id}" for m in later.mails for line in m.lines)


def test_a_reminder_not_delivered_on_its_day_expires(session, settings, county):
    cycle(session, settings)
    deliver_all(session, settings)  # the kickoffs
    files = set(settings.mail_folder.glob("*.eml"))
    sweep(session, settings, at("2026-12-21T09:00"))
    deliver(session, settings, backend_for(settings), now=at("2026-12-22T09:00"))  # the relay was down all day
    assert {m.status for m in reminders(session)} == {"expired"}
    assert set(settings.mail_folder.glob("*.eml")) == files


def test_a_make_up_saturday_is_a_reminder_day_and_spring_festival_is_not(session, settings, county):
    # The 2025 cycle with its drafting date after Spring Festival 2026, reminded 2 and 1 working days ahead.
    open_cycle(session, settings, 2025, {"drafting": "2026-03-03", "remind_before": "2,1"})
    session.commit()
    holiday = plan_sweep(session, at("2026-02-17T09:00"), "Asia/Shanghai")
    assert (holiday.quiet, holiday.holiday) == ("day_off", "Spring Festival")
    saturday = plan_sweep(session, at("2026-02-28T09:00"), "Asia/Shanghai")  # 调休: a working Saturday
    assert saturday.quiet is None
    assert {line.step for m in saturday.mails for line in m.own} == {"before-2"}


def test_a_sweep_into_a_year_without_a_published_calendar_warns(session, settings, county):
    cycle(session, settings)
    plan = plan_sweep(session, at("2026-12-21T09:00"), "Asia/Shanghai")
    assert plan.unpublished_years == [y for y in (2026, 2027) if not published(y)]


def test_changing_the_budget_moves_the_reminders(session, settings, county):
    cycle(session, settings)
    review_opened_on(session, settings, county["yehe"], "2026-12-01")
    assert to_step(session, "2026-12-08") == "due"
    open_cycle(session, settings, 2026, {"legal_review": "8"})  # due 11 Dec now
    session.commit()
    assert to_step(session, "2026-12-08") == "before-3"
    assert to_step(session, "2026-12-11") == "due"


def to_step(session, day: str) -> str | None:
    plan = plan_sweep(session, at(f"{day}T09:00"), "Asia/Shanghai")
    steps = [line.step for m in plan.mails if m.person.email == ADVISOR for line in m.own]
    return steps[0] if steps else None


def test_the_kickoff_states_the_timetable_of_the_policy(session, settings, county):
    cycle(session, settings, legal_review="4")
    kickoff = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "kickoff")).first()
    assert "法律顾问审核：收到审核请求后 4 个工作日内" in kickoff.body_text
    assert "报送上级：2027年1月31日 前" in kickoff.body_text
    assert "公开发布：2027年3月31日 前" in kickoff.body_text


def test_reminders_expire_at_the_end_of_the_working_day(session, settings, county):
    cycle(session, settings)
    sweep(session, settings, at("2026-12-21T09:00"))
    end = at("2026-12-21T17:30")
    assert {m.expires_at for m in reminders(session)} == {end}


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
def test_the_sweep_flow_as_a_real_prefect_run_sends_once_and_delivers(session, settings, county):
    cycle(session, settings)
    deliver_all(session, settings)
    first = run(sweep_flow(now="2026-12-21T09:00:00+08:00"))
    assert (len(first["mails"]), first["delivery"]["sent"]) == (14, 14)
    again = run(sweep_flow(now="2026-12-21T09:00:00+08:00"))
    assert (again["mails"], again["already_sent"], again["delivery"]["sent"]) == ([], 14, 0)
    assert len(list(settings.mail_folder.glob("*.eml"))) == 13 + 14


def test_a_coordinators_digest_lists_the_most_overdue_first_and_counts_the_rest(
        session, settings, county, monkeypatch):
    monkeypatch.setattr("models.reminders.MAX_LISTED", 5)
    cycle(session, settings)
    review_opened_on(session, settings, county["yehe"], "2026-12-01")  # due 8 Dec: 9 working days late
    sweep(session, settings, at("2026-12-21T09:00"))
    [digest] = to(session, COORDINATOR)
    assert digest.subject == "年度报告进度提示（2026年12月21日）：逾期1项，即将到期12项"
    listed = [line for line in digest.body_text.splitlines() if line.strip()[:2].rstrip(".").isdigit()]
    assert len(listed) == 5 and "R-2026-001" in listed[0] and "已逾期9个工作日" in listed[0]
    assert "另有8项未列出" in digest.body_text
