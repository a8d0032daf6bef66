"""Working days on the real Chinese calendar (the State Council's notices as the holiday package carries
them), at the edges that decide whether a deadline and its reminders are right: New Year's Day, 调休
working Saturdays, Spring Festival inside a review budget, the year end, a due date on a holiday, and
a year whose calendar is not published yet."""

from __future__ import annotations

from datetime import date

import pytest

from models.calendar import WorkingCalendar, published
from models.chain import DEFAULT_CHAIN, stage_def
from models.deadlines import default_policy, draft_due, policy_with, round_due

CAL = WorkingCalendar()


def test_new_years_day_is_a_day_off_and_the_sunday_after_it_a_working_day():
    # 2026: 1–3 January off (Thursday to Saturday); Sunday 4 January is worked in exchange.
    assert [CAL.is_working_day(date(2026, 1, d)) for d in range(1, 6)] == [False, False, False, True, True]
    assert CAL.holiday_name(date(2026, 1, 1)) == "New Year's Day"
    assert CAL.next_working_day(date(2026, 1, 1)) == date(2026, 1, 4)


def test_a_make_up_saturday_is_a_working_day_and_an_ordinary_saturday_is_not():
    assert date(2026, 2, 28).weekday() == 5 and CAL.is_working_day(date(2026, 2, 28))  # 调休 for Spring Festival
    assert date(2026, 3, 7).weekday() == 5 and not CAL.is_working_day(date(2026, 3, 7))


def test_spring_festival_inside_a_review_budget_pushes_the_due_date_past_the_holiday():
    # A legal review opened on Thursday 12 February 2026 with 5 working days: Fri 13, Sat 14 (调休),
    # then the holiday 15–23 February, then 24, 25, 26.
    legal_review = stage_def(DEFAULT_CHAIN, "legal_review")
    assert round_due(default_policy(2025), CAL, legal_review, date(2026, 2, 12)) == date(2026, 2, 26)
    # Counted in calendar days it would have been 17 February, in the middle of the holiday.
    assert not CAL.is_working_day(date(2026, 2, 17))
    assert CAL.holiday_name(date(2026, 2, 17)) == "Spring Festival"
    # the confidentiality review, after filing, is due by the disclosure date however it opened
    clearance = stage_def(DEFAULT_CHAIN, "confidentiality_review")
    assert round_due(default_policy(2025), CAL, clearance, date(2026, 2, 12)) == date(2026, 3, 31)


def test_a_budget_that_crosses_the_year_end_skips_new_year_and_counts_the_make_up_sunday():
    # Opened Monday 29 December 2025: 30, 31 Dec; 1–3 Jan off; Sun 4 Jan worked; 5, 6 Jan.
    assert CAL.add_working_days(date(2025, 12, 29), 5) == date(2026, 1, 6)
    assert CAL.working_days_between(date(2025, 12, 29), date(2026, 1, 6)) == 5
    assert CAL.working_days_between(date(2026, 1, 6), date(2025, 12, 29)) == -5


def test_a_due_date_on_a_holiday_moves_to_the_next_working_day():
    policy = policy_with(default_policy(2025), {"drafting": "2025-10-01"}, 2025)  # National Day
    assert policy.date_due(CAL, "drafting") == date(2025, 10, 9)  # 1–8 October 2025 off
    assert draft_due(policy, CAL, None) == date(2025, 10, 9)


def test_a_due_date_on_a_weekend_moves_to_monday():
    assert default_policy(2026).date_due(CAL, "drafting") == date(2026, 12, 21)  # 20 Dec 2026 is a Sunday


def test_a_year_without_a_published_calendar_counts_weekends_only_and_says_so():
    year = next(y for y in range(2026, 2100) if not published(y))
    monday = next(date(year, 1, d) for d in range(5, 12) if date(year, 1, d).weekday() == 0)
    assert CAL.is_working_day(monday) and not CAL.is_working_day(date(year, 1, monday.day + 5))
    assert CAL.add_working_days(monday, 5) == date(year, 1, monday.day + 7)  # the next Monday
    assert CAL.warnings(date(year - 1, 12, 1), date(year, 3, 31)) == [year]
    assert CAL.warnings(date(2025, 12, 1), date(2026, 3, 31)) == []


def test_a_coordinators_override_wins_over_the_official_calendar_and_the_weekend_fallback():
    year = next(y for y in range(2026, 2100) if not published(y))
    new_year = date(year, 1, 1)
    overridden = WorkingCalendar({new_year: False, date(2026, 1, 4): False, date(2026, 3, 7): True})
    assert not overridden.is_working_day(new_year)
    assert not overridden.is_working_day(date(2026, 1, 4)) and overridden.is_working_day(date(2026, 3, 7))
    assert overridden.holiday_name(date(2026, 1, 4)) is None


def test_a_calendar_where_no_day_is_a_working_day_fails_clearly_instead_of_looping():
    days_off = {date(2026, 6, 1).fromordinal(date(2026, 6, 1).toordinal() + n): False for n in range(500)}
    with pytest.raises(ValueError, match="no working day"):
        WorkingCalendar(days_off).next_working_day(date(2026, 6, 1))
