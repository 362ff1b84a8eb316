"""The district's organisation (organisation.json): command centre, sub-centres, communities, departments,
platforms and volunteer teams."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from gridlink.refdata.reading import DEFAULT_DATA_DIR, Record, RefDataError, read_json, unique_by_key

ORGANISATION_FILE = "organisation.json"
SUB_CENTRE_KINDS = ("subdistrict", "town")
COMMUNITY_KINDS = ("community", "village")

T = TypeVar("T")


@dataclass(frozen=True)
class Zone:
    code: str
    name: str
    name_en: str


@dataclass(frozen=True)
class FunctionRoom:
    code: str
    name: str
    name_en: str
    zone_code: str


@dataclass(frozen=True)
class CommandCentre:
    """The district Social Governance Command and Service Centre, the single hub of the linkage system."""

    name: str
    name_en: str
    area_m2: int
    zones: tuple[Zone, ...]
    function_rooms: tuple[FunctionRoom, ...]


@dataclass(frozen=True)
class SubCentre:
    """A town or sub-district, which runs a linkage sub-centre."""

    code: str
    name: str
    name_en: str
    kind: str
    centre_name: str


@dataclass(frozen=True)
class Community:
    """A community or village, which runs a linkage workstation."""

    code: str
    name: str
    name_en: str
    sub_centre_code: str
    kind: str
    pilot: bool
    workstation_name: str


@dataclass(frozen=True)
class Department:
    code: str
    name: str
    name_en: str


@dataclass(frozen=True)
class Platform:
    code: str
    name: str
    name_en: str


@dataclass(frozen=True)
class VolunteerTeam:
    code: str
    name: str
    name_en: str
    community_code: str


@dataclass(frozen=True)
class Organisation:
    district_code: str
    district_name: str
    district_name_en: str
    centre: CommandCentre
    sub_centres: tuple[SubCentre, ...]
    communities: tuple[Community, ...]
    departments: tuple[Department, ...]
    platforms: tuple[Platform, ...]
    volunteer_teams: tuple[VolunteerTeam, ...]
    _sub_centres_by_code: dict[str, SubCentre] = field(init=False, repr=False, compare=False)
    _communities_by_code: dict[str, Community] = field(init=False, repr=False, compare=False)
    _departments_by_code: dict[str, Department] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # frozen, so the lookup tables are set once here; building them also rejects duplicate codes
        where = ORGANISATION_FILE
        for name, items, label in (
            ("_sub_centres_by_code", self.sub_centres, "sub_centres"),
            ("_communities_by_code", self.communities, "communities"),
            ("_departments_by_code", self.departments, "departments"),
        ):
            object.__setattr__(self, name, unique_by_key(list(items), "code", f"{where} {label}"))
        unique_by_key(list(self.volunteer_teams), "code", f"{where} volunteer_teams")

    def sub_centre(self, code: str) -> SubCentre:
        return _lookup(self._sub_centres_by_code, "sub-centre", code)

    def community(self, code: str) -> Community:
        return _lookup(self._communities_by_code, "community", code)

    def department(self, code: str) -> Department:
        return _lookup(self._departments_by_code, "department", code)

    def communities_of(self, sub_centre_code: str) -> tuple[Community, ...]:
        return tuple(c for c in self.communities if c.sub_centre_code == sub_centre_code)

    def volunteer_team_of(self, community_code: str) -> VolunteerTeam | None:
        return next((t for t in self.volunteer_teams if t.community_code == community_code), None)


def _lookup(table: dict[str, T], kind: str, code: str) -> T:
    try:
        return table[code]
    except KeyError:
        raise KeyError(f"unknown {kind} code {code!r}") from None


def load_organisation(data_dir: Path = DEFAULT_DATA_DIR) -> Organisation:
    root = Record(read_json(data_dir / ORGANISATION_FILE), ORGANISATION_FILE)
    district = root.record("district")
    organisation = Organisation(
        district_code=district.text("code"),
        district_name=district.text("name"),
        district_name_en=district.text("name_en"),
        centre=_centre(district.record("centre")),
        sub_centres=tuple(
            SubCentre(
                code=r.text("code"),
                name=r.text("name"),
                name_en=r.text("name_en"),
                kind=r.choice("kind", SUB_CENTRE_KINDS),
                centre_name=r.text("centre_name"),
            )
            for r in root.records("sub_centres")
        ),
        communities=tuple(
            Community(
                code=r.text("code"),
                name=r.text("name"),
                name_en=r.text("name_en"),
                sub_centre_code=r.text("sub_centre_code"),
                kind=r.choice("kind", COMMUNITY_KINDS),
                pilot=r.flag("pilot", default=False),
                workstation_name=r.text("workstation_name"),
            )
            for r in root.records("communities")
        ),
        departments=tuple(
            Department(code=r.text("code"), name=r.text("name"), name_en=r.text("name_en"))
            for r in root.records("departments")
        ),
        platforms=tuple(
            Platform(code=r.text("code"), name=r.text("name"), name_en=r.text("name_en"))
            for r in root.records("platforms")
        ),
        volunteer_teams=tuple(
            VolunteerTeam(
                code=r.text("code"),
                name=r.text("name"),
                name_en=r.text("name_en"),
                community_code=r.text("community_code"),
            )
            for r in root.records("volunteer_teams")
        ),
    )
    _check_references(organisation)
    return organisation


def _centre(record: Record) -> CommandCentre:
    return CommandCentre(
        name=record.text("name"),
        name_en=record.text("name_en"),
        area_m2=record.integer("area_m2"),
        zones=tuple(Zone(r.text("code"), r.text("name"), r.text("name_en")) for r in record.records("zones")),
        function_rooms=tuple(
            FunctionRoom(
                code=r.text("code"),
                name=r.text("name"),
                name_en=r.text("name_en"),
                zone_code=r.text("zone_code"),
            )
            for r in record.records("function_rooms")
        ),
    )


def _check_references(organisation: Organisation) -> None:
    sub_centre_codes = {s.code for s in organisation.sub_centres}
    community_codes = {c.code for c in organisation.communities}
    for community in organisation.communities:
        if community.sub_centre_code not in sub_centre_codes:
            where = f"{ORGANISATION_FILE} community {community.code}"
            raise RefDataError(f"{where}: unknown sub-centre {community.sub_centre_code!r}")
    for team in organisation.volunteer_teams:
        if team.community_code not in community_codes:
            where = f"{ORGANISATION_FILE} volunteer team {team.code}"
            raise RefDataError(f"{where}: unknown community {team.community_code!r}")
