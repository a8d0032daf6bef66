"""Default due dates of a cycle (issue-level policy: dates are configuration, never constants in code).

A cycle for year Y is written in December of Y and filed and published early in Y+1.
"""

from __future__ import annotations

from datetime import date


def default_due_dates(year: int) -> dict[str, str]:
    """Due date per stage as ISO strings: drafts 20 Dec, reviews by mid-January, filing 31 Jan,
    disclosure 31 Mar (the national limit is before 1 April)."""
    due = {
        "drafting": date(year, 12, 20),
        "legal_review": date(year, 12, 31),
        "committee_review": date(year + 1, 1, 15),
        "filing": date(year + 1, 1, 31),
        "filed": date(year + 1, 3, 31),
    }
    return {stage: d.isoformat() for stage, d in due.items()}
