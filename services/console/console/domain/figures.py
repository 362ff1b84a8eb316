"""What the map, the supervision board and the performance report show, computed from case summaries."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from console.domain.cases import OPEN_STATES, SATISFIED, CaseSummary

MAP_METRICS = ("open", "overdue", "satisfaction")
REPORT_LEVELS = ("sub_centre", "community", "grid")
TIER_ORDER = ("grid", "community", "sub_centre", "district", "department")
DISTRICT_OFFSET = timedelta(hours=8)  # Wuhai keeps China Standard Time all year


class BadQuery(ValueError):
    """A person asked for a metric, level or period that does not exist."""


@dataclass
class GridFigures:
    open: int = 0
    overdue: int = 0
    due_soon: int = 0
    evaluated: int = 0
    satisfied: int = 0

    @property
    def satisfaction(self) -> float | None:
        return round(self.satisfied / self.evaluated, 3) if self.evaluated else None

    def level(self, metric: str) -> int:
        """0–4, the colour step of the grid on the map for `metric` (4 = needs the most attention)."""
        if metric == "open":
            return min(self.open, 4)
        if metric == "overdue":
            return min(self.overdue * 2, 4)
        if self.satisfaction is None:
            return 0
        # Satisfaction: the less satisfied, the hotter; 1 is the coolest step that still shows data.
        return 1 + min(int((1 - self.satisfaction) * 4), 3)


@dataclass(frozen=True)
class CaseTally:
    """How many cases are alike in everything the map counts. The map folds these rather than every case: a year
    of cases is a few thousand tallies, where loading each case cost about 2 s a request at 100,000."""

    grid_code: str | None
    state: str
    overdue: bool
    due_soon: bool
    rating: str | None
    cases: int = 1


def grid_figures(tallies: Iterable[CaseTally]) -> dict[str, GridFigures]:
    figures: dict[str, GridFigures] = {}
    for tally in tallies:
        if not tally.grid_code:
            continue
        f = figures.setdefault(tally.grid_code, GridFigures())
        n = tally.cases
        f.open += n * (tally.state in OPEN_STATES)
        f.overdue += n * tally.overdue
        f.due_soon += n * tally.due_soon
        if tally.rating:
            f.evaluated += n
            f.satisfied += n * (tally.rating in SATISFIED)
    return figures


def check_metric(metric: str) -> str:
    if metric not in MAP_METRICS:
        raise BadQuery(f"metric must be one of {', '.join(MAP_METRICS)}, not {metric!r}")
    return metric


@dataclass
class SupervisionBoard:
    """Open cases that are overdue or near their deadline, per tier, most urgent first."""

    overdue: dict[str, list[CaseSummary]] = field(default_factory=dict)
    due_soon: dict[str, list[CaseSummary]] = field(default_factory=dict)


def supervision_board(cases: Iterable[CaseSummary]) -> SupervisionBoard:
    board = SupervisionBoard()
    for case in cases:
        if not case.is_open:
            continue
        target = board.overdue if case.overdue else board.due_soon if case.due_soon else None
        if target is not None:
            target.setdefault(case.tier or "grid", []).append(case)
    for lists in (board.overdue, board.due_soon):
        for items in lists.values():
            items.sort(key=lambda c: (c.deadline_at is None, c.deadline_at or datetime.max))
        ordered = dict(sorted(lists.items(), key=lambda kv: TIER_ORDER.index(kv[0]) if kv[0] in TIER_ORDER else 99))
        lists.clear()
        lists.update(ordered)
    return board


@dataclass(frozen=True)
class Period:
    """Whole days, both ends included, in the district's calendar (dates are compared in UTC+8)."""

    start: date
    end: date

    @classmethod
    def parse(cls, start: str | None, end: str | None, today: date) -> Period:
        try:
            first = date.fromisoformat(start) if start else today.replace(day=1)
            last = date.fromisoformat(end) if end else today
        except ValueError:
            raise BadQuery("from and to must be dates written YYYY-MM-DD") from None
        if last < first:
            raise BadQuery(f"the period ends ({last}) before it starts ({first})")
        if (last - first).days > 366:
            raise BadQuery("a report covers at most 366 days")
        return cls(first, last)

    def bounds(self) -> tuple[datetime, datetime]:
        """The period in UTC, its end excluded: for the database to select what `holds` then checks."""
        start = datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC) - DISTRICT_OFFSET
        end = datetime(self.end.year, self.end.month, self.end.day, tzinfo=UTC) + timedelta(days=1) - DISTRICT_OFFSET
        return start, end

    def holds(self, moment: datetime | None) -> bool:
        if moment is None:
            return False
        local = (moment + DISTRICT_OFFSET).date()
        return self.start <= local <= self.end


@dataclass
class UnitFigures:
    unit_code: str
    name: str
    received: int = 0
    resolved: int = 0
    resolved_on_time: int = 0
    overdue: int = 0
    escalated: int = 0
    evaluated: int = 0
    satisfied: int = 0
    handling_hours_total: float = 0.0

    @property
    def on_time_rate(self) -> float | None:
        return round(self.resolved_on_time / self.resolved, 3) if self.resolved else None

    @property
    def satisfaction_rate(self) -> float | None:
        return round(self.satisfied / self.evaluated, 3) if self.evaluated else None

    @property
    def average_handling_hours(self) -> float | None:
        return round(self.handling_hours_total / self.resolved, 1) if self.resolved else None

    def row(self) -> dict:
        return {
            "unit_code": self.unit_code,
            "name": self.name,
            "received": self.received,
            "resolved": self.resolved,
            "resolved_on_time": self.resolved_on_time,
            "on_time_rate": self.on_time_rate,
            "overdue": self.overdue,
            "escalated": self.escalated,
            "evaluated": self.evaluated,
            "satisfaction_rate": self.satisfaction_rate,
            "average_handling_hours": self.average_handling_hours,
        }


REPORT_COLUMNS = tuple(UnitFigures("", "").row())


def performance(cases: Iterable[CaseSummary], level: str, period: Period, names: dict[str, str]) -> list[UnitFigures]:
    """The assessment (绩效考核) per unit at `level` for the cases reported in `period`.

    Every unit in `names` appears, with zeros when it had no case, so a quiet unit is visible as such.
    """
    if level not in REPORT_LEVELS:
        raise BadQuery(f"level must be one of {', '.join(REPORT_LEVELS)}, not {level!r}")
    units = {code: UnitFigures(code, name) for code, name in names.items()}
    for case in cases:
        code = case.unit_path[level]
        if code is None or not period.holds(case.reported_at):
            continue
        unit = units.setdefault(code, UnitFigures(code, code))
        unit.received += 1
        unit.overdue += case.was_overdue
        unit.escalated += case.escalations > 0
        if case.resolved_at is not None:
            unit.resolved += 1
            unit.resolved_on_time += bool(case.resolved_on_time)
            if case.reported_at is not None:
                unit.handling_hours_total += (case.resolved_at - case.reported_at).total_seconds() / 3600
        if case.rating:
            unit.evaluated += 1
            unit.satisfied += case.rating in SATISFIED
    return sorted(units.values(), key=lambda u: u.unit_code)


def performance_csv(rows: list[UnitFigures]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=REPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for unit in rows:
        writer.writerow({k: "" if v is None else v for k, v in unit.row().items()})
    return out.getvalue()
