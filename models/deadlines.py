"""A cycle's deadline policy and the reminder ladder, as pure rules on the working calendar.

A cycle for year Y is drafted in December of Y, filed and published early in Y+1. Calendar dates
(drafts, filing, public disclosure) and working-day budgets (each review stage, counted from the
day its round opens; a revision after a return) are configuration per cycle, never constants in
code. A due date that falls on a day off moves to the next working day.

Whether an approved report is filed at once (`auto_file`) or waits for a coordinator's command is a
county's choice per cycle, kept here with the dates it goes with.

The ladder: reminders some working days before the due date, one on the day, then overdue ones on
given working days after it; overdue items are escalated to the unit's supervisor and then to the
county coordinator. Each step has a fixed position, so a mail can say "提醒 4/6".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from models.calendar import WorkingCalendar
from models.chain import CHAINS, StageDef, StageKind

DATE_KEYS = ("drafting", "filing", "disclosure")


class PolicyError(ValueError):
    """A policy value that cannot be used; `code` names the user's message, `params` fill it in."""

    def __init__(self, code: str, **params) -> None:
        super().__init__(f"{code} {params}")
        self.code, self.params = code, params


def default_dates(year: int) -> dict[str, date]:
    """Drafts 20 Dec; filing 31 Jan; disclosure 31 Mar (the national limit is before 1 April)."""
    return {"drafting": date(year, 12, 20), "filing": date(year + 1, 1, 31), "disclosure": date(year + 1, 3, 31)}


@dataclass(frozen=True)
class DeadlinePolicy:
    dates: dict[str, date]  # drafting | filing | disclosure
    budgets: dict[str, int] = field(default_factory=lambda: {"legal_review": 5, "committee_review": 7,
                                                             "revision": 3})  # working days
    remind_before: tuple[int, ...] = (3, 1)  # working days before the due date
    remind_on_day: bool = True
    remind_overdue: tuple[int, ...] = (1, 3, 5)  # working days after the due date
    escalate_supervisor: int = 1  # overdue working day from which the unit's supervisor is told
    escalate_coordinator: int = 3  # … and the county coordinator
    working_hours: tuple[time, time] = (time(8, 30), time(17, 30))
    auto_file: bool = False  # file upward the moment the last review approves, without a coordinator
    acknowledgement: int = 5  # working days after filing before an unacknowledged filing shows on the board

    # -- the ladder -------------------------------------------------------------------------------

    @property
    def steps(self) -> list[str]:
        """Every step in order: before-3, before-1, due, overdue-1, overdue-3, overdue-5."""
        return ([f"before-{n}" for n in sorted(set(self.remind_before), reverse=True)]
                + (["due"] if self.remind_on_day else [])
                + [f"overdue-{n}" for n in self.overdue_days])

    @property
    def overdue_days(self) -> list[int]:
        """Overdue steps, including the days escalation starts (an escalation is always a mail)."""
        escalations = {day for day in (self.escalate_supervisor, self.escalate_coordinator) if day > 0}
        return sorted(set(self.remind_overdue) | escalations)

    def step_on(self, calendar: WorkingCalendar, due: date, today: date) -> str | None:
        """The ladder step that falls on `today` (a working day) for an item due on `due`, if any."""
        if today == due:
            return "due" if self.remind_on_day else None
        if today < due:
            ahead = calendar.working_days_between(today, due)
            return f"before-{ahead}" if ahead in self.remind_before else None
        late = calendar.working_days_between(due, today)
        return f"overdue-{late}" if late in self.overdue_days else None

    def escalation(self, overdue: int) -> list[str]:
        """Who besides the actor is told about an item `overdue` working days late."""
        return [role for role, day in (("supervisor", self.escalate_supervisor),
                                       ("coordinator", self.escalate_coordinator)) if overdue >= day > 0]

    # -- due dates --------------------------------------------------------------------------------

    def date_due(self, calendar: WorkingCalendar, key: str) -> date:
        """A calendar deadline (drafting, filing, disclosure), moved off a day off."""
        return calendar.next_working_day(self.dates[key])

    def budget_due(self, calendar: WorkingCalendar, key: str, opened: date) -> date | None:
        """The due date of a stage counted in working days from `opened`, if the stage has a budget."""
        if key not in self.budgets:
            return None
        return calendar.add_working_days(opened, self.budgets[key])

    # -- storage ----------------------------------------------------------------------------------

    def as_json(self) -> dict:
        data = asdict(self)
        data["dates"] = {k: v.isoformat() for k, v in self.dates.items()}
        data["working_hours"] = [t.strftime("%H:%M") for t in self.working_hours]
        for key in ("remind_before", "remind_overdue"):
            data[key] = list(data[key])
        return data

    @classmethod
    def from_json(cls, data: dict) -> DeadlinePolicy:
        return policy_with(cls(dates={}), data, year=None)


def default_policy(year: int) -> DeadlinePolicy:
    return DeadlinePolicy(dates=default_dates(year))


# -- reading values a coordinator writes (policy file, CLI) ------------------------------------------

FIELDS = {f.name for f in fields(DeadlinePolicy)}


def budget_keys() -> set[str]:
    """What can have a working-day budget: every review stage of every chain, and a revision."""
    return {s.name for chain in CHAINS.values() for s in chain if s.kind is StageKind.REVIEW} | {"revision"}


def policy_with(policy: DeadlinePolicy, values: dict, year: int | None) -> DeadlinePolicy:
    """`policy` changed by `values` as written in a policy file or on the command line: calendar dates
    `drafting`, `filing`, `disclosure` (YYYY-MM-DD, or MM-DD: July–December of the cycle's year,
    January–June of the next), budgets by stage name (`legal_review: 5`), lists (`remind_before:
    3,1`), `working_hours: 08:30-17:30`, yes/no switches (`remind_on_day`, `auto_file`). Raises
    PolicyError naming the first bad value."""
    dates, budgets, changes = dict(policy.dates), dict(policy.budgets), {}
    for key, value in values.items():
        if key == "dates":
            dates.update({k: read_date(k, v, year) for k, v in value.items()})
        elif key == "budgets":
            budgets.update({k: read_count(k, v, minimum=1) for k, v in value.items() if k in budget_keys()})
            if unknown := set(value) - budget_keys():
                raise PolicyError("unknown_key", key=sorted(unknown)[0])
        elif key in DATE_KEYS:
            dates[key] = read_date(key, value, year)
        elif key in ("remind_before", "remind_overdue"):
            changes[key] = tuple(read_count(key, v, minimum=1) for v in read_list(value))
        elif key in ("escalate_supervisor", "escalate_coordinator"):
            changes[key] = read_count(key, value)
        elif key == "acknowledgement":
            changes[key] = read_count(key, value, minimum=1)
        elif key in ("remind_on_day", "auto_file"):
            changes[key] = read_bool(key, value)
        elif key == "working_hours":
            changes[key] = read_hours(value)
        elif key in budget_keys():
            budgets[key] = read_count(key, value, minimum=1)  # a stage's budget: legal_review: 5
        else:
            raise PolicyError("unknown_key", key=key)
    return DeadlinePolicy(**{**{f: getattr(policy, f) for f in FIELDS}, **changes, "dates": dates,
                             "budgets": budgets})


def read_policy_file(path: Path) -> dict:
    """The values of a YAML policy file (see examples/deadlines.yaml)."""
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise PolicyError("bad_file", file=str(path), detail=str(exc)) from None
    if not isinstance(values, dict):
        raise PolicyError("bad_file", file=str(path), detail="not a mapping of keys to values")
    return values


def read_date(key: str, value, year: int | None) -> date:
    if isinstance(value, date):
        return value
    text = str(value).strip()
    try:
        if len(text) <= 5 and year is not None:  # MM-DD
            month, day = (int(part) for part in text.split("-"))
            return date(year if month >= 7 else year + 1, month, day)
        return date.fromisoformat(text)
    except ValueError:
        raise PolicyError("bad_date", key=key, value=text) from None


def read_count(key: str, value, minimum: int = 0) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise PolicyError("bad_number", key=key, value=value) from None
    if number < minimum:
        raise PolicyError("bad_number", key=key, value=value)
    return number


def read_list(value) -> list:
    if isinstance(value, list | tuple):
        return list(value)
    return [part for part in str(value).replace("，", ",").split(",") if part.strip()]


def read_bool(key: str, value) -> bool:
    text = str(value).strip().lower()
    if text in ("true", "yes", "1", "on", "是"):
        return True
    if text in ("false", "no", "0", "off", "否"):
        return False
    raise PolicyError("bad_bool", key=key, value=value)


def read_hours(value) -> tuple[time, time]:
    parts = read_list(value) if isinstance(value, list | tuple) else str(value).replace("～", "-").split("-")
    try:
        start, end = (time.fromisoformat(str(p).strip().zfill(5)) for p in parts)
    except ValueError:
        raise PolicyError("bad_hours", value=value) from None
    if start >= end:
        raise PolicyError("bad_hours", value=value)
    return start, end


# -- the due date of each kind of open item ---------------------------------------------------------

def local_day(moment: datetime, timezone: str) -> date:
    return moment.astimezone(ZoneInfo(timezone)).date()


def draft_due(policy: DeadlinePolicy, calendar: WorkingCalendar, returned_on: date | None) -> date:
    """A first draft is due on the drafting date; a revision `revision` working days after the return
    (never before the drafting date)."""
    due = policy.date_due(calendar, "drafting")
    revision = policy.budget_due(calendar, "revision", returned_on) if returned_on else None
    return max(due, revision) if revision else due


def round_due(policy: DeadlinePolicy, calendar: WorkingCalendar, stage: StageDef, opened_on: date) -> date:
    """A review is due its budget in working days after the round opened: the one its chain gives the
    stage, else the policy's for the stage, else the filing date; the confidentiality review, which comes
    after filing, by the disclosure date."""
    if stage.kind is StageKind.CONFIDENTIALITY:
        return policy.date_due(calendar, "disclosure")
    if stage.budget is not None:
        return calendar.add_working_days(opened_on, stage.budget)
    return policy.budget_due(calendar, stage.name, opened_on) or policy.date_due(calendar, "filing")
