"""Working-day deadlines, counted in China Standard Time (UTC+8, no daylight saving)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

CST = timezone(timedelta(hours=8), "CST")

# Working days allowed per urgency until the case must be resolved.
WORKING_DAYS_BY_URGENCY = {"critical": 1, "high": 2, "normal": 5, "low": 10}


def is_working_day(day: date, holidays: frozenset[date] = frozenset(), workdays: frozenset[date] = frozenset()) -> bool:
    """Weekends are off unless listed as adjusted working days (调休); listed holidays are off."""
    if day in workdays:
        return True
    return day.weekday() < 5 and day not in holidays


def add_working_days(
    start: datetime, days: int, holidays: frozenset[date] = frozenset(), workdays: frozenset[date] = frozenset()
) -> datetime:
    """The same local time of day, `days` working days later. Work received on a day off counts from the next one."""
    local = start.astimezone(CST)
    day = local.date()
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        if is_working_day(day, holidays, workdays):
            counted += 1
    return datetime.combine(day, local.timetz()).astimezone(start.tzinfo)


def deadline_for(urgency: str, opened_at: datetime, holidays: frozenset[date] = frozenset()) -> datetime:
    return add_working_days(
        opened_at, WORKING_DAYS_BY_URGENCY.get(urgency, WORKING_DAYS_BY_URGENCY["normal"]), holidays
    )
