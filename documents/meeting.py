"""The committee meeting an approval names: its date and its minutes number (纪要号, or the meeting's
session such as 2026年第12次党委会), read from the approval contact's own words.

Only what the words say plainly is taken: a date tied to a meeting word (经2026年12月28日镇党委会议审议,
会议时间：2026年12月28日), a minutes number (纪要〔2026〕15号, 纪要号：2026-15), a numbered session. A date
that is not a real day, lies in the future, or two meetings that disagree are not taken (the contact is
asked instead). This reading never touches the decision: it runs on the words after they were read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from documents.layout import CN_DIGITS, cn_value

NUMBER = r"\d{1,2}|[一二三四五六七八九十]{1,3}"
YEAR = r"\d{4}|[〇零一二三四五六七八九]{4}"
DAY = re.compile(rf"(?:(?P<y>{YEAR})\s*年\s*)?(?P<m>{NUMBER})\s*月\s*(?P<d>{NUMBER})\s*[日号]"
                 r"|(?P<iy>\d{4})[-./](?P<im>\d{1,2})[-./](?P<id>\d{1,2})(?!\d)")
MEETING_WORD = r"会议|党委会|党组会|党工委会|常务会|办公会|会上"
NEAR = r"[^。！？!?；;\n]{0,16}?"  # the same sentence, a few words apart
AFTER_DAY = re.compile(rf"^{NEAR}(?:{MEETING_WORD})")
BEFORE_DAY = re.compile(r"(?:会议(?:时间|日期)|开会(?:时间|日期)?|召开)\s*[:：为是于在]?\s*$")
BRACKETS = r"[〔\[［（(【]\s*(?:\d{4})\s*[〕\]］）)】]"
MINUTES = (
    re.compile(rf"纪要\s*{BRACKETS}\s*(?:第\s*)?\d{{1,4}}\s*号"),
    re.compile(rf"{BRACKETS}\s*(?:第\s*)?\d{{1,4}}\s*号\s*(?:会议)?纪要"),
    re.compile(r"纪要(?:编号|号)\s*[:：为是]?\s*(?P<n>第?\s*[0-9A-Za-z〔〕\[\]（）()\-—]{1,20}号?)"),
    re.compile(rf"(?:(?:{YEAR})\s*年\s*(?:度\s*)?)?第\s*(?:\d{{1,3}}|[一二三四五六七八九十百]{{1,4}})\s*次"
               rf"[\u4e00-\u9fff（）()]{{0,10}}?(?:会议|会)"),
)


@dataclass(frozen=True)
class Meeting:
    """What the words say of the meeting; None for what they do not say (or say unclearly)."""

    on: date | None
    minutes: str | None


def read_meeting(text: str, today: date) -> Meeting | None:
    """The meeting `text` names, judged on `today` (the unit's day); None when it names none clearly."""
    days = set(meeting_days(text, today))
    on = days.pop() if len(days) == 1 and None not in days else None
    number = minutes_number(text)
    return Meeting(on, number) if on or number else None


def minutes_number(text: str) -> str | None:
    """The minutes number the text gives (a 纪要 number before a session), if it gives exactly one."""
    for pattern in MINUTES:
        found = {" ".join((m.groupdict().get("n") or m[0]).split()) for m in pattern.finditer(text)}
        if found:
            return found.pop() if len(found) == 1 else None
    return None


def meeting_days(text: str, today: date):
    """Each date tied to a meeting word, as a day; None for one that is no real day or lies ahead."""
    for match in DAY.finditer(text):
        before = text[max(0, match.start() - 12):match.start()]
        if AFTER_DAY.match(text[match.end():]) or BEFORE_DAY.search(before):
            yield real_day(match, today)


def real_day(match: re.Match, today: date) -> date | None:
    if match["iy"]:
        year, month, day = int(match["iy"]), int(match["im"]), int(match["id"])
    else:
        written = match["y"]
        year = today.year if not written else int(
            written if written.isdigit() else "".join(str(CN_DIGITS[c]) for c in written))
        month, day = cn_value(match["m"]), cn_value(match["d"])
        if not written and (month, day) > (today.month, today.day):
            year -= 1  # 12月28日 written in January: the December before
    try:
        found = date(year, month, day)
    except ValueError:
        return None
    return found if found <= today else None
