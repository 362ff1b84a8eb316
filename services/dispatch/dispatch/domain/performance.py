"""Performance assessment (绩效考核): figures per grid, workstation, sub-centre, district or department.

Figures are counted over assignment periods (one stint of a case with one unit), so a case escalated from a grid
counts against the grid for the time it held it and against the community for the rest. A geographic level rolls
up the tiers below it: a sub-centre's figures include its communities' and grids' periods.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from dispatch.domain.errors import InvalidInput

# level → (tiers counted, length of the code prefix that names the unit)
LEVELS = {
    "grid": (("grid",), 15),
    "community": (("grid", "community"), 12),
    "sub_centre": (("grid", "community", "sub_centre"), 9),
    "district": (("grid", "community", "sub_centre", "district"), 6),
    "department": (("department",), None),
}
SATISFIED = ("satisfied", "basically_satisfied")


@dataclass(frozen=True)
class Figures:
    unit_code: str
    level: str
    received: int
    on_time_acceptance_rate: float | None
    on_time_resolution_rate: float | None
    overdue: int
    average_handling_hours: float | None
    satisfaction_rate: float | None
    reopen_rate: float | None

    def as_dict(self) -> dict:
        return asdict(self)


def _rate(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def _on_time(periods: list[dict], done: str, due: str, now: datetime) -> float | None:
    """Of the periods where the stage was decided (done, or its deadline passed while the unit held the case)."""
    decided = [p for p in periods if p[done] is not None or p[due] <= (p["ended_at"] or now)]
    return _rate(sum(1 for p in decided if p[done] is not None and p[done] <= p[due]), len(decided))


def figures(unit_code: str, level: str, periods: list[dict], now: datetime) -> Figures:
    resolved = [p for p in periods if p["resolved_at"] is not None]
    rated = [p for p in resolved if p["rating"]]
    hours = [(p["resolved_at"] - p["assigned_at"]) / timedelta(hours=1) for p in resolved]
    return Figures(
        unit_code=unit_code,
        level=level,
        received=len(periods),
        on_time_acceptance_rate=_on_time(periods, "accepted_at", "acceptance_due", now),
        on_time_resolution_rate=_on_time(periods, "resolved_at", "resolution_due", now),
        overdue=sum(1 for p in periods if p["acceptance_overdue"] or p["resolution_overdue"]),
        average_handling_hours=round(sum(hours) / len(hours), 2) if hours else None,
        satisfaction_rate=_rate(sum(1 for p in rated if p["rating"] in SATISFIED), len(rated)),
        reopen_rate=_rate(sum(1 for p in resolved if p["reopened"]), len(resolved)),
    )


def by_unit(periods: list[dict], level: str, now: datetime) -> list[Figures]:
    if level not in LEVELS:
        raise InvalidInput(f"level must be one of {', '.join(LEVELS)}")
    tiers, prefix = LEVELS[level]
    groups: dict[str, list[dict]] = {}
    for p in periods:
        if p["tier"] in tiers:
            key = p["unit_code"][:prefix] if prefix else p["unit_code"]
            groups.setdefault(key, []).append(p)
    return [figures(code, level, groups[code], now) for code in sorted(groups)]


CSV_COLUMNS = tuple(Figures.__dataclass_fields__)
