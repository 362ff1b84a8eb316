"""Working-time deadlines, counted in China Standard Time (UTC+8, no daylight saving) on the official calendar.

A limit is either elapsed hours (urgent matters run round the clock) or working days, which skip weekends and public
holidays but count adjusted working weekends (调休). The policy that picks a case's limits is data (see
`dispatch_policy.json`); this module only does the arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

CST = timezone(timedelta(hours=8), "CST")
STAGES = ("acceptance", "resolution")


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


@dataclass(frozen=True)
class WorkingCalendar:
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()

    def is_working_day(self, day: date) -> bool:
        return is_working_day(day, self.holidays, self.workdays)

    def add(self, start: datetime, limit: Limit) -> datetime:
        if limit.working_days:
            return add_working_days(start, limit.working_days, self.holidays, self.workdays)
        return start + timedelta(hours=limit.hours)


@dataclass(frozen=True)
class Limit:
    """How long a stage may take: `working_days` on the calendar, or else elapsed `hours`."""

    hours: float = 0.0
    working_days: int = 0

    def __post_init__(self) -> None:
        if (self.hours > 0) == (self.working_days > 0):
            raise ValueError("a limit is either hours or working_days, and positive")


@dataclass(frozen=True)
class ClassLimits:
    acceptance: Limit
    resolution: Limit
    grace: Limit  # after the deadline, before an overdue case goes up one tier


@dataclass(frozen=True)
class EvaluationPolicy:
    answer_within_days: int = 7  # no answer by then counts as satisfied
    reopen_limit: int = 1  # unsatisfied ratings that reopen the case; the next one sends it up
    escalate_to: str = "sub_centre"


@dataclass(frozen=True)
class Deadlines:
    handling_class: str
    acceptance_at: datetime
    resolution_at: datetime


@dataclass(frozen=True)
class DeadlinePolicy:
    classes: dict[str, ClassLimits]
    default_class: str = "ordinary"
    urgency_class: dict[str, str] = field(default_factory=dict)
    category_class: dict[str, str] = field(default_factory=dict)
    due_soon_fraction: float = 0.8
    evaluation: EvaluationPolicy = EvaluationPolicy()

    def __post_init__(self) -> None:
        if not 0 < self.due_soon_fraction < 1:
            raise ValueError("due_soon_fraction must lie between 0 and 1")
        named = {self.default_class, *self.urgency_class.values(), *self.category_class.values()}
        if missing := named - set(self.classes):
            raise ValueError(f"the policy names classes it does not define: {', '.join(sorted(missing))}")

    def class_of(self, category_code: str, urgency: str) -> str:
        return self.urgency_class.get(urgency) or self.category_class.get(category_code) or self.default_class

    def deadlines(self, category_code: str, urgency: str, start: datetime, calendar: WorkingCalendar) -> Deadlines:
        name = self.class_of(category_code, urgency)
        limits = self.classes[name]
        return Deadlines(name, calendar.add(start, limits.acceptance), calendar.add(start, limits.resolution))

    def due_soon_at(self, start: datetime, due: datetime) -> datetime:
        return start + (due - start) * self.due_soon_fraction

    def escalation_at(self, handling_class: str, due: datetime, calendar: WorkingCalendar) -> datetime:
        return calendar.add(due, self.classes[handling_class].grace)

    def evaluation_due(self, resolved_at: datetime) -> datetime:
        return resolved_at + timedelta(days=self.evaluation.answer_within_days)
