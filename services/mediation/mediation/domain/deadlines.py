"""Statutory periods in calendar or working days, counted in China Standard Time (UTC+8, no daylight saving).

A period starts the day after the act that opens it. A calendar period whose last day is a day off ends on the next
working day (民事诉讼法 art. 85); a working-day period counts only working days. The deadline keeps the local time
of day of the act, as dispatch's working-day deadlines do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

CST = timezone(timedelta(hours=8), "CST")
UNITS = ("calendar", "working")


@dataclass(frozen=True)
class WorkingCalendar:
    """Days off beyond weekends (public holidays) and weekend days that are worked (调休), as published yearly."""

    holidays: frozenset[date] = field(default_factory=frozenset)
    workdays: frozenset[date] = field(default_factory=frozenset)

    def is_working_day(self, day: date) -> bool:
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def next_working_day(self, day: date) -> date:
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day


NO_HOLIDAYS = WorkingCalendar()


@dataclass(frozen=True)
class Period:
    days: int
    unit: str = "calendar"

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"a period is counted in {' or '.join(UNITS)} days, not {self.unit!r}")
        if self.days < 0:
            raise ValueError("a period cannot be negative")

    def end(self, start: datetime, calendar: WorkingCalendar = NO_HOLIDAYS) -> datetime:
        """When a period of this length that started at `start` runs out."""
        local = start.astimezone(CST)
        day = local.date()
        if self.unit == "working":
            counted = 0
            while counted < self.days:
                day += timedelta(days=1)
                if calendar.is_working_day(day):
                    counted += 1
        else:
            day = calendar.next_working_day(day + timedelta(days=self.days)) if self.days else day
        return datetime.combine(day, local.timetz()).astimezone(start.tzinfo)

    def extend(self, deadline: datetime, calendar: WorkingCalendar = NO_HOLIDAYS) -> datetime:
        """A limit extended by this period: counted on from the current deadline."""
        return self.end(deadline, calendar)

    def before(self, deadline: datetime) -> datetime:
        """The moment this many calendar days before `deadline` (when a warning goes out)."""
        return deadline - timedelta(days=self.days)

    def __str__(self) -> str:
        return f"{self.days} {self.unit} days"
