"""Who handles a case: routing rules (data) pick the first tier, the directory names the unit and the person.

Small matters stay in the grid (小事不出网格); what the grid may not take (网格事务准入) or cannot solve goes to the
community workstation, the sub-centre, the district centre or a functional department. The tiers nest, so each has
a next one up, and each has a supervisor who is told when it is late.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dispatch.domain.errors import CannotEscalate, NoHandler, UnknownUnit

TIERS = ("grid", "community", "sub_centre", "district", "department")
NEXT_TIER = {"grid": "community", "community": "sub_centre", "sub_centre": "district", "department": "district"}
# The staff role that works a case at each tier (the token's role).
ROLE_FOR_TIER = {
    "grid": "grid_worker",
    "community": "community_operator",
    "sub_centre": "sub_centre_operator",
    "district": "district_operator",
    "department": "department",
}


@dataclass(frozen=True)
class Handler:
    staff_id: str
    role: str
    name: str


@dataclass(frozen=True)
class Assignment:
    tier: str
    unit_code: str
    assignee_id: str
    assignee_role: str
    supervisor_id: str | None = None


@dataclass(frozen=True)
class Place:
    """Where a case is: its grid and the units that contain it, and the department of its category."""

    grid_code: str
    community_code: str
    sub_centre_code: str
    department_code: str | None = None


@dataclass(frozen=True)
class Directory:
    """The organisation as dispatch needs it: who works and who supervises each unit."""

    district_code: str
    grid_handlers: dict[str, Handler]
    grid_leaders: dict[str, str] = field(default_factory=dict)  # grid → its leader, the grid worker's supervisor
    community_leads: dict[str, str] = field(default_factory=dict)  # community → its grid instructor
    departments: frozenset[str] = frozenset()

    def desk(self, unit_code: str) -> str:
        """A unit with no named person on duty is worked from its desk; notification delivers to the desk's inbox."""
        return f"desk:{unit_code}"

    def assignment(self, tier: str, place: Place, department_code: str | None = None) -> Assignment:
        if tier == "grid":
            handler = self.grid_handlers.get(place.grid_code)
            if handler is None:
                raise NoHandler(f"no full-time handler for grid {place.grid_code}")
            return Assignment(
                "grid", place.grid_code, handler.staff_id, handler.role, self.grid_leaders.get(place.grid_code)
            )
        if tier == "community":
            lead = self.community_leads.get(place.community_code) or self.desk(place.community_code)
            return Assignment(
                "community", place.community_code, lead, "community_operator", self.desk(place.sub_centre_code)
            )
        if tier == "sub_centre":
            return Assignment(
                "sub_centre",
                place.sub_centre_code,
                self.desk(place.sub_centre_code),
                "sub_centre_operator",
                self.desk(self.district_code),
            )
        if tier == "district":
            return Assignment("district", self.district_code, self.desk(self.district_code), "district_operator")
        if tier == "department":
            code = department_code or place.department_code
            if not code or code not in self.departments:
                raise UnknownUnit(f"no department {code!r}")
            return Assignment("department", code, self.desk(code), "department", self.desk(self.district_code))
        raise UnknownUnit(f"no tier {tier!r}; one of {', '.join(TIERS)}")

    def assignment_to_unit(self, unit_code: str, place: Place) -> Assignment:
        """Re-dispatch by code: the case's own grid, community, sub-centre, the district, or a department."""
        for tier, code in (
            ("grid", place.grid_code),
            ("community", place.community_code),
            ("sub_centre", place.sub_centre_code),
            ("district", self.district_code),
        ):
            if unit_code == code:
                return self.assignment(tier, place)
        if unit_code in self.departments:
            return self.assignment("department", place, unit_code)
        raise UnknownUnit(f"{unit_code!r} is neither a department nor one of this case's own units")

    def next_up(self, tier: str, place: Place) -> Assignment:
        if tier not in NEXT_TIER:
            raise CannotEscalate(f"a case at the {tier} tier has no tier above it")
        return self.assignment(NEXT_TIER[tier], place)


@dataclass(frozen=True)
class Rule:
    name: str
    tier: str
    categories: frozenset[str] = frozenset()  # empty: any
    urgencies: frozenset[str] = frozenset()
    grid_prefixes: tuple[str, ...] = ()
    unit: str | None = None  # "category_department" or a department code, for the department tier

    def matches(self, category_code: str, urgency: str, grid_code: str) -> bool:
        return (
            (not self.categories or category_code in self.categories)
            and (not self.urgencies or urgency in self.urgencies)
            and (not self.grid_prefixes or grid_code.startswith(self.grid_prefixes))
        )


@dataclass(frozen=True)
class RoutingTable:
    rules: tuple[Rule, ...]
    grid_admission: frozenset[str]
    not_admitted: Rule

    def __post_init__(self) -> None:
        for rule in (*self.rules, self.not_admitted):
            if rule.tier not in TIERS:
                raise ValueError(f"routing rule {rule.name!r}: unknown tier {rule.tier!r}")

    def rule_for(self, category_code: str, urgency: str, grid_code: str) -> Rule:
        rule = next((r for r in self.rules if r.matches(category_code, urgency, grid_code)), None)
        if rule is None:
            raise NoHandler(f"no routing rule matches {category_code}/{urgency}/{grid_code}")
        if rule.tier == "grid" and category_code not in self.grid_admission:
            return self.not_admitted
        return rule

    def route(self, category_code: str, urgency: str, place: Place, directory: Directory) -> tuple[Rule, Assignment]:
        rule = self.rule_for(category_code, urgency, place.grid_code)
        department = place.department_code if rule.unit in (None, "category_department") else rule.unit
        return rule, directory.assignment(rule.tier, place, department)
