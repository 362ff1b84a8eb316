"""Loads dispatch's part of the district data files: the organisation and its staff, the routing rules, the
deadline policy and the holiday calendar.

`LiveReference` re-reads them when one of the files changes, so routing rules, limits and the calendar change
without a release (the next case picks them up; cases already open keep their deadlines).
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from dispatch.domain.deadlines import ClassLimits, DeadlinePolicy, EvaluationPolicy, Limit, WorkingCalendar
from dispatch.domain.routing import Directory, Handler, RoutingTable, Rule
from gridlink.refdata import FULL_TIME_ROLES, Organisation, load_categories, load_organisation, load_staff
from gridlink.refdata.calendar import CALENDAR_FILE, load_days_off

ROUTING_FILE = "dispatch_routing.json"
POLICY_FILE = "dispatch_policy.json"
HOLIDAYS_FILE = CALENDAR_FILE
log = logging.getLogger(__name__)
WATCHED = (ROUTING_FILE, POLICY_FILE, HOLIDAYS_FILE, "organisation.json", "staff.csv", "categories.json")


@dataclass(frozen=True)
class DispatchReference:
    directory: Directory
    routing: RoutingTable
    policy: DeadlinePolicy
    calendar: WorkingCalendar
    category_departments: dict[str, str]
    organisation: Organisation
    headcounts: dict

    @property
    def grid_handlers(self) -> dict[str, Handler]:
        return self.directory.grid_handlers


def load_reference(data_dir: Path) -> DispatchReference:
    data_dir = Path(data_dir)
    organisation = load_organisation(data_dir)
    staff = load_staff(data_dir)
    handlers: dict[str, Handler] = {}
    leaders: dict[str, str] = {}
    instructors: dict[str, str] = {}
    for member in staff:
        if member.role in FULL_TIME_ROLES:
            for grid_code in member.grid_codes:
                handlers[grid_code] = Handler(member.staff_id, member.role, member.name)
        elif member.role == "grid_leader":
            for grid_code in member.grid_codes:
                leaders.setdefault(grid_code, member.staff_id)
        elif member.role == "grid_instructor":
            instructors.setdefault(member.community_code, member.staff_id)
    directory = Directory(
        district_code=organisation.district_code,
        grid_handlers=handlers,
        grid_leaders=leaders,
        community_leads=instructors,
        departments=frozenset(d.code for d in organisation.departments),
    )
    roles: dict[str, int] = {}
    for member in staff:
        roles[member.role] = roles.get(member.role, 0) + 1
    headcounts = {
        "sub_centres": len(organisation.sub_centres),
        "communities": len(organisation.communities),
        "grids": len({g for m in staff for g in m.grid_codes}),
        "departments": len(organisation.departments),
        "staff": len(staff),
        "staff_by_role": dict(sorted(roles.items())),
    }
    return DispatchReference(
        directory=directory,
        routing=load_routing(data_dir / ROUTING_FILE),
        policy=load_policy(data_dir / POLICY_FILE),
        calendar=load_calendar(data_dir / HOLIDAYS_FILE),
        category_departments={c.code: c.department_code for c in load_categories(data_dir).values()},
        organisation=organisation,
        headcounts=headcounts,
    )


def _rule(raw: dict, name: str = "") -> Rule:
    return Rule(
        name=raw.get("name", name),
        tier=raw["tier"],
        categories=frozenset(raw.get("category", [])),
        urgencies=frozenset(raw.get("urgency", [])),
        grid_prefixes=tuple(raw.get("grid", [])),
        unit=raw.get("unit"),
    )


def load_routing(path: Path) -> RoutingTable:
    raw = json.loads(path.read_text(encoding="utf-8"))
    return RoutingTable(
        rules=tuple(_rule(r) for r in raw["rules"]),
        grid_admission=frozenset(raw["grid_admission"]),
        not_admitted=_rule(raw["not_admitted"], "not on the grid task admission list"),
    )


def _limit(raw: dict) -> Limit:
    return Limit(hours=float(raw.get("hours", 0)), working_days=int(raw.get("working_days", 0)))


def load_policy(path: Path) -> DeadlinePolicy:
    raw = json.loads(path.read_text(encoding="utf-8"))
    evaluation = raw.get("evaluation", {})
    return DeadlinePolicy(
        classes={
            name: ClassLimits(_limit(c["acceptance"]), _limit(c["resolution"]), _limit(c["grace"]))
            for name, c in raw["classes"].items()
        },
        default_class=raw.get("default_class", "ordinary"),
        urgency_class=raw.get("urgency_class", {}),
        category_class=raw.get("category_class", {}),
        due_soon_fraction=float(raw.get("due_soon_fraction", 0.8)),
        evaluation=EvaluationPolicy(
            answer_within_days=int(evaluation.get("answer_within_days", 7)),
            reopen_limit=int(evaluation.get("reopen_limit", 1)),
            escalate_to=evaluation.get("after_reopen_limit_escalate_to", "sub_centre"),
        ),
    )


def load_calendar(path: Path) -> WorkingCalendar:
    return WorkingCalendar(*load_days_off(path))


class LiveReference:
    """The reference data, re-loaded when a watched file's modification time changes."""

    def __init__(self, data_dir: Path | None = None):
        self.data_dir = data_dir
        self._lock = threading.Lock()
        self._stamp: tuple | None = None
        self._value: DispatchReference | None = None

    def _stamp_now(self) -> tuple:
        return tuple((self.data_dir / name).stat().st_mtime_ns for name in WATCHED)

    def current(self) -> DispatchReference:
        stamp = self._stamp_now()
        with self._lock:
            if self._value is None or stamp != self._stamp:
                try:
                    self._value = load_reference(self.data_dir)
                except (ValueError, KeyError, OSError):
                    if self._value is None:
                        raise
                    # A bad edit must not stop dispatch: the rules in force stay until the files are fixed.
                    log.exception("reference data failed to reload; keeping the previous version")
                self._stamp = stamp
            return self._value
