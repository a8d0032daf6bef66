"""The deadline policy and the reminder ladder as rules: which step falls on which working day, who is
told when an item is overdue, and how a coordinator's values are read (or refused)."""

from __future__ import annotations

from datetime import date, time

import pytest

from models.calendar import WorkingCalendar
from models.deadlines import DeadlinePolicy, PolicyError, default_policy, policy_with

CAL = WorkingCalendar()
POLICY = default_policy(2026)
DUE = date(2026, 12, 21)  # Monday


def test_the_defaults_are_the_issued_dates_and_budgets():
    assert POLICY.dates == {"drafting": date(2026, 12, 20), "filing": date(2027, 1, 31),
                            "disclosure": date(2027, 3, 31)}
    assert POLICY.budgets == {"legal_review": 5, "committee_review": 7, "revision": 3}
    assert POLICY.steps == ["before-3", "before-1", "due", "overdue-1", "overdue-3", "overdue-5"]


@pytest.mark.parametrize("today, step", [
    (date(2026, 12, 15), None),  # 4 working days before
    (date(2026, 12, 16), "before-3"),
    (date(2026, 12, 17), None),
    (date(2026, 12, 18), "before-1"),
    (date(2026, 12, 21), "due"),
    (date(2026, 12, 22), "overdue-1"),
    (date(2026, 12, 23), None),
    (date(2026, 12, 24), "overdue-3"),
    (date(2026, 12, 28), "overdue-5"),  # 25 Dec, then the weekend
    (date(2026, 12, 29), None),  # after the last step only the coordinators' digest carries it
])
def test_each_ladder_step_falls_on_its_working_day(today, step):
    assert POLICY.step_on(CAL, DUE, today) == step


def test_before_steps_count_working_days_across_a_holiday():
    # Due Monday 5 January 2026: 1–3 January off, Sunday 4 January worked.
    due = date(2026, 1, 5)
    assert POLICY.step_on(CAL, due, date(2026, 1, 4)) == "before-1"
    assert POLICY.step_on(CAL, due, date(2025, 12, 30)) == "before-3"  # 31 Dec, 4 Jan, 5 Jan


def test_escalation_starts_with_the_supervisor_then_adds_the_county_coordinator():
    assert [POLICY.escalation(n) for n in (0, 1, 2, 3, 9)] == [
        [], ["supervisor"], ["supervisor"], ["supervisor", "coordinator"], ["supervisor", "coordinator"]]


def test_an_escalation_day_is_always_a_reminder_day():
    policy = policy_with(POLICY, {"remind_overdue": "2", "escalate_coordinator": 4}, 2026)
    assert policy.overdue_days == [1, 2, 4]


def test_values_are_read_as_coordinators_write_them():
    policy = policy_with(POLICY, {"drafting": "12-18", "filing": "01-25", "disclosure": "2027-03-20",
                                  "legal_review": "3", "committee_review": 10, "remind_before": "5，2",
                                  "remind_on_day": "否", "working_hours": "09:00-17:00"}, 2026)
    assert policy.dates == {"drafting": date(2026, 12, 18), "filing": date(2027, 1, 25),
                            "disclosure": date(2027, 3, 20)}
    assert policy.budgets["legal_review"] == 3 and policy.budgets["committee_review"] == 10
    assert policy.steps[:2] == ["before-5", "before-2"] and "due" not in policy.steps
    assert policy.working_hours == (time(9), time(17))


def test_a_policy_survives_its_storage_unchanged():
    policy = policy_with(POLICY, {"remind_overdue": [2, 4], "working_hours": "8:00-18:00"}, 2026)
    assert DeadlinePolicy.from_json(policy.as_json()) == policy


@pytest.mark.parametrize("values, code", [
    ({"drafting": "2026-12-32"}, "bad_date"),
    ({"legal_review": "0"}, "bad_number"),
    ({"legal_review": "-1"}, "bad_number"),
    ({"remind_before": "3,x"}, "bad_number"),
    ({"remind_on_day": "maybe"}, "bad_bool"),
    ({"working_hours": "17:00-09:00"}, "bad_hours"),
    ({"working_hours": "9点到5点"}, "bad_hours"),
    ({"legal_reveiw": 5}, "unknown_key"),
    ({"budgets": {"legal_review": 5, "review": 3}}, "unknown_key"),
])
def test_a_bad_value_is_refused_with_its_reason(values, code):
    with pytest.raises(PolicyError) as refused:
        policy_with(POLICY, values, 2026)
    assert refused.value.code == code
