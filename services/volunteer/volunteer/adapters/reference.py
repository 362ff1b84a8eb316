"""Loads volunteer's part of the district data files: teams, the roster, services, points and timing rules,
rewards, and where each grid lies (for distances)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path

from gridlink.refdata import RefDataError, VolunteerTeam, load_grid_map, load_organisation
from gridlink.refdata.reading import read_json
from volunteer.domain.catalogue import Catalogue, PointsRules, Reward, Service, Timing
from volunteer.domain.errors import UnknownTeam, UnknownVolunteer
from volunteer.domain.matching import Volunteer, Window, haversine_km

VOLUNTEERS_FILE = "volunteers.json"
SERVICES_FILE = "volunteer_services.json"
RULES_FILE = "volunteer_rules.json"
REWARDS_FILE = "volunteer_rewards.json"


@dataclass(frozen=True)
class VolunteerReference:
    catalogue: Catalogue
    volunteers: dict[str, Volunteer]
    teams: dict[str, VolunteerTeam]
    grid_points: dict[str, tuple[float, float]]  # grid code → (lat, long) of its centroid
    grid_communities: dict[str, str]
    district_code: str

    def volunteer(self, volunteer_id: str) -> Volunteer:
        try:
            return self.volunteers[volunteer_id]
        except KeyError:
            raise UnknownVolunteer(f"unknown volunteer {volunteer_id!r}") from None

    def team(self, team_code: str) -> VolunteerTeam:
        try:
            return self.teams[team_code]
        except KeyError:
            raise UnknownTeam(f"unknown volunteer team {team_code!r}") from None

    def distance_km(self, grid_a: str, grid_b: str) -> float:
        if grid_a == grid_b:
            return 0.0
        return _distance(self.grid_points[grid_a], self.grid_points[grid_b])


@lru_cache(maxsize=200_000)
def _distance(a: tuple[float, float], b: tuple[float, float]) -> float:
    return haversine_km(a, b)


def _decimal(value, where: str) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise RefDataError(f"{where}: {value!r} is not a decimal number") from None


def _clock(text: str, where: str) -> time:
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise RefDataError(f"{where}: {text!r} is not a time of day (HH:MM)") from None


def load_catalogue(data_dir: Path) -> Catalogue:
    services = {
        s["code"]: Service(
            s["code"],
            s["name"],
            s["name_en"],
            _decimal(s["multiplier"], SERVICES_FILE),
            _decimal(s["max_hours"], SERVICES_FILE),
        )
        for s in read_json(data_dir / SERVICES_FILE)
    }
    rewards = {
        r["code"]: Reward(r["code"], r["name"], r["name_en"], _decimal(r["points"], REWARDS_FILE), int(r["stock"]))
        for r in read_json(data_dir / REWARDS_FILE)
    }
    rules = read_json(data_dir / RULES_FILE)
    points = rules["points"]
    timing = rules["timing"]
    return Catalogue(
        services=services,
        rewards=rewards,
        points=PointsRules(
            base_per_hour=_decimal(points["base_per_hour"], RULES_FILE),
            rating_bonus={int(k): _decimal(v, RULES_FILE) for k, v in points["rating_bonus"].items()},
        ),
        timing=Timing(
            accept_within=timedelta(minutes=timing["accept_minutes"]),
            claim_within=timedelta(minutes=timing["claim_minutes"]),
            max_dispatch_attempts=int(timing["max_dispatch_attempts"]),
            reminder_before=timedelta(hours=timing["reminder_hours_before"]),
            confirm_before=timedelta(hours=timing["confirm_hours_before"]),
        ),
    )


def load_volunteers(data_dir: Path) -> dict[str, Volunteer]:
    roster = {}
    for row in read_json(data_dir / VOLUNTEERS_FILE):
        where = f"{VOLUNTEERS_FILE} {row.get('volunteer_id')}"
        roster[row["volunteer_id"]] = Volunteer(
            volunteer_id=row["volunteer_id"],
            name=row["name"],
            team_code=row["team_code"],
            home_grid=row["home_grid"],
            skills={code: int(level) for code, level in row["skills"].items()},
            windows=tuple(
                Window(frozenset(w["weekdays"]), _clock(w["from"], where), _clock(w["to"], where))
                for w in row["availability"]
            ),
            max_load=int(row["max_load"]),
            rating=_decimal(row["rating"], where),
        )
    return roster


def load_reference(data_dir: Path) -> VolunteerReference:
    organisation = load_organisation(data_dir)
    grids = load_grid_map(data_dir)
    reference = VolunteerReference(
        catalogue=load_catalogue(data_dir),
        volunteers=load_volunteers(data_dir),
        teams={t.code: t for t in organisation.volunteer_teams},
        grid_points={code: grid.centroid for code, grid in grids.grids.items()},
        grid_communities={code: grid.community_code for code, grid in grids.grids.items()},
        district_code=organisation.district_code,
    )
    for v in reference.volunteers.values():
        if v.team_code not in reference.teams or v.home_grid not in reference.grid_points:
            raise RefDataError(f"{VOLUNTEERS_FILE} {v.volunteer_id}: unknown team or home grid")
        for skill in v.skills:
            if skill not in reference.catalogue.services:
                raise RefDataError(f"{VOLUNTEERS_FILE} {v.volunteer_id}: unknown skill {skill!r}")
    return reference
