"""The Chinese working calendar: which days are working days, and counting working days.

Statutory holidays and 调休 make-up working weekends come from the `chinese_calendar` package,
which carries each year's State Council notice. A year it does not cover yet (the notice comes out
in November or December) falls back to "Monday to Friday" and says so in `warnings`; a
coordinator's overrides (a date declared a working day or a day off) win over both.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from functools import cache, lru_cache

import chinese_calendar
from sqlmodel import Session, select

from models.tables import CalendarOverride

MAX_SEARCH_DAYS = 400  # more than any run of days off: a mistyped override cannot loop forever


@cache
def published(year: int) -> bool:
    """Whether the holiday package carries the official calendar of `year`."""
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


@lru_cache(maxsize=4096)
def _official(day: date) -> tuple[bool, str | None]:
    """(working?, holiday name) from the package, or Monday–Friday for an unpublished year."""
    if not published(day.year):
        return day.weekday() < 5, None
    on_holiday, name = chinese_calendar.get_holiday_detail(day)
    return not on_holiday, name


class WorkingCalendar:
    """Working-day arithmetic on the official calendar plus overrides ({date: is_working_day})."""

    def __init__(self, overrides: Mapping[date, bool] | None = None) -> None:
        self.overrides = dict(overrides or {})
        self._between: dict[tuple[date, date], int] = {}

    def is_working_day(self, day: date) -> bool:
        if day in self.overrides:
            return self.overrides[day]
        return _official(day)[0]

    def holiday_name(self, day: date) -> str | None:
        """The statutory holiday a day belongs to (e.g. "Spring Festival"): a day off, or the weekend
        worked in exchange for it."""
        return None if day in self.overrides else _official(day)[1]

    def next_working_day(self, day: date) -> date:
        """`day` itself if it is a working day, else the first working day after it."""
        for offset in range(MAX_SEARCH_DAYS):
            candidate = day + timedelta(days=offset)
            if self.is_working_day(candidate):
                return candidate
        raise ValueError(f"no working day within {MAX_SEARCH_DAYS} days of {day}")

    def add_working_days(self, start: date, count: int) -> date:
        """The `count`-th working day after `start` (start itself never counts); `start` for 0."""
        day = start
        for _ in range(count):
            day = self.next_working_day(day + timedelta(days=1))
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days d with start < d <= end; negative (the same count) when end is before start."""
        if end < start:
            return -self.working_days_between(end, start)
        if (start, end) not in self._between:  # a sweep asks this for thousands of items with few dates
            days = (start + timedelta(days=n) for n in range(1, (end - start).days + 1))
            self._between[(start, end)] = sum(map(self.is_working_day, days))
        return self._between[(start, end)]

    def warnings(self, start: date, end: date) -> list[int]:
        """Years between `start` and `end` whose official calendar is not published (weekends only)."""
        return [year for year in range(start.year, end.year + 1) if not published(year)]


def load_calendar(session: Session) -> WorkingCalendar:
    """The working calendar with the coordinators' overrides (one query)."""
    overrides = session.exec(select(CalendarOverride).where(CalendarOverride.working.is_not(None)))
    return WorkingCalendar({o.day: o.working for o in overrides})
