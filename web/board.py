"""The board as the console shows it: the filters of its query string (the page and the .xlsx use
the same), the counts per stage, the .xlsx 督办 list, and the cumulative-flow chart's geometry."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import urlencode

from openpyxl import Workbook

from core.texts import message, render_block
from services.board import STAGES, Flow


@dataclass(frozen=True)
class Filters:
    """What the coordinator chose to see (GET parameters, so a filtered board can be bookmarked)."""

    stage: str = ""
    overdue: bool = False
    kind: str = ""
    supervisor: str = ""
    q: str = ""

    @classmethod
    def of(cls, stage: str = "", overdue: str = "", kind: str = "", supervisor: str = "", q: str = "",
           stages: Collection[str] = STAGES) -> Filters:
        """`stages`: those the board counts (another stage is no filter)."""
        return cls(stage if stage in stages else "", overdue in ("1", "on", "true"), kind[:32],
                   supervisor.strip()[:100], q.strip()[:100])

    def keep(self, row: dict) -> bool:
        text = " ".join([row["ref"], row["unit"], *row["waiting_on"], *row["supervisors"]]).lower()
        return ((not self.stage or row["stage"] == self.stage) and (not self.overdue or row["overdue"])
                and (not self.kind or row["unit_kind"] == self.kind)
                and (not self.supervisor or self.supervisor in row["supervisors"])
                and (not self.q or self.q.lower() in text))

    def query(self, year: int) -> str:
        values = {"year": year, "stage": self.stage, "overdue": "1" if self.overdue else "", "kind": self.kind,
                  "supervisor": self.supervisor, "q": self.q}
        return urlencode({k: v for k, v in values.items() if v})


def stage_counts(rows: list[dict]) -> list[tuple[str, int]]:
    """Reports per stage: the default chain's six, then the stages only other chains have."""
    counted = Counter(row["stage"] for row in rows)
    return [(stage, counted[stage]) for stage in STAGES] + [(s, n) for s, n in counted.items() if s not in STAGES]


def xlsx(year: int, rows: list[dict]) -> bytes:
    """The 督办 list: the board's columns, one row per report, as an .xlsx workbook."""
    book = Workbook()
    sheet = book.active
    sheet.title = render_block("web/xlsx.j2", "sheet", year=year)
    sheet.append(render_block("web/xlsx.j2", "columns").split("|"))
    for row in rows:
        sheet.append(xlsx_row(row))
    sheet.freeze_panes = "A2"
    for column, width in zip("ABCDEFGHI", (14, 24, 10, 14, 12, 10, 18, 18, 8), strict=True):
        sheet.column_dimensions[column].width = width
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def xlsx_row(row: dict) -> list:
    return [row["ref"], row["unit"], message("kind_label", kind=row["unit_kind"]),
            row["stage_label"], row["due"] or "",
            row["overdue_days"] if row["overdue"] else 0, "、".join(row["waiting_on"]),
            "、".join(row["supervisors"]), row["returns"]]


WIDTH, HEIGHT, LEFT, TOP, BOTTOM, RIGHT = 760, 280, 40, 44, 36, 60


def chart(flow: Flow) -> dict:
    """Stacked areas (published at the bottom, drafting on top) and the marked days, in SVG units."""
    n = len(flow.days)
    span = max(n - 1, 1)
    total = max([sum(counts[i] for counts in flow.counts.values()) for i in range(len(flow.counts[STAGES[0]]))]
                or [0]) or 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    x = lambda i: round(LEFT + plot_w * i / span, 1)  # noqa: E731
    y = lambda value: round(TOP + plot_h * (1 - value / total), 1)  # noqa: E731
    counted = len(flow.counts[STAGES[0]])
    below = [0] * counted
    areas = []
    for stage in reversed(flow.counts):
        above = [b + c for b, c in zip(below, flow.counts[stage], strict=True)]
        if counted and any(flow.counts[stage]):
            upper = [f"{x(i)},{y(v)}" for i, v in enumerate(above)]
            lower = [f"{x(i)},{y(v)}" for i, v in reversed(list(enumerate(below)))]
            areas.append({"stage": stage, "points": " ".join(upper + lower)})
        below = above

    def mark(day, key):
        i = (day - flow.days[0]).days
        return {"key": key, "x": x(i), "day": day} if 0 <= i < n else None

    marks = [m for m in (mark(flow.today, "today"), mark(flow.filing, "filing"), mark(flow.disclosure, "disclosure"))
             if m]
    ticks = [{"x": x(i), "day": d} for i, d in enumerate(flow.days) if d.day == 1 or i == 0]
    return {"width": WIDTH, "height": HEIGHT, "left": LEFT, "top": TOP, "bottom": HEIGHT - BOTTOM,
            "right": WIDTH - RIGHT, "total": total, "areas": areas, "marks": marks, "ticks": ticks,
            "stages": list(flow.counts), "labels": flow.labels}
