"""Matching an order to volunteers: who may take it, and a score that ranks them for the coordinator.

The score is a weighted sum of parts, each between 0 and 1, so the coordinator sees why one volunteer ranks above
another. A volunteer without the service's skill, unavailable at the scheduled time, at their maximum load or
already excluded from this order (declined, timed out, missed confirmation, no-show) is not a candidate at all.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from decimal import Decimal

BEIJING = timezone(timedelta(hours=8))  # availability windows are local time; China keeps no daylight saving

WEIGHTS = {"skill": 0.25, "distance": 0.30, "availability": 0.10, "load": 0.15, "rating": 0.20}
MAX_SKILL_LEVEL = 3
DISTANCE_SCALE_KM = 2.0  # the distance part halves at this distance
PRIOR_WEIGHT = 5  # the roster's rating counts as this many observed ratings


@dataclass(frozen=True)
class Window:
    weekdays: frozenset[int]  # 0 = Monday
    start: time
    end: time

    def holds(self, when: datetime) -> bool:
        local = when.astimezone(BEIJING)
        return local.weekday() in self.weekdays and self.start <= local.time() < self.end

    @property
    def weekly_hours(self) -> float:
        minutes = (self.end.hour * 60 + self.end.minute) - (self.start.hour * 60 + self.start.minute)
        return len(self.weekdays) * minutes / 60


@dataclass(frozen=True)
class Volunteer:
    volunteer_id: str
    name: str
    team_code: str
    home_grid: str
    skills: Mapping[str, int]  # service code → level 1..3
    windows: tuple[Window, ...]
    max_load: int
    rating: Decimal

    def available_at(self, when: datetime | None) -> bool:
        return when is None or any(w.holds(when) for w in self.windows)

    @property
    def weekly_hours(self) -> float:
        return sum(w.weekly_hours for w in self.windows)


@dataclass(frozen=True)
class MatchRequest:
    service_code: str
    grid_code: str
    scheduled_at: datetime | None = None
    team_code: str | None = None  # only this team's members
    excluded: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Candidate:
    volunteer_id: str
    name: str
    team_code: str
    score: float
    distance_km: float
    load: int
    parts: dict[str, float]


def haversine_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance between two (lat, long) points."""
    lat1, long1, lat2, long2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((long2 - long1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def why_not(volunteer: Volunteer, request: MatchRequest, load: int) -> str | None:
    """The reason a volunteer cannot take the order, or None when they can."""
    if volunteer.volunteer_id in request.excluded:
        return "already declined, timed out or was replaced on this order"
    if request.team_code is not None and volunteer.team_code != request.team_code:
        return f"not a member of team {request.team_code}"
    if volunteer.skills.get(request.service_code, 0) < 1:
        return f"has no {request.service_code} skill"
    if not volunteer.available_at(request.scheduled_at):
        return "not available at the scheduled time"
    if load >= volunteer.max_load:
        return f"already holds {load} of at most {volunteer.max_load} orders"
    return None


def effective_rating(prior: Decimal, observed_count: int, observed_sum: int) -> float:
    """The roster's rating, blended with the ratings residents have given since (a Bayesian average)."""
    return (float(prior) * PRIOR_WEIGHT + observed_sum) / (PRIOR_WEIGHT + observed_count)


def score(
    volunteer: Volunteer,
    request: MatchRequest,
    load: int,
    distance_km: float,
    rating: float,
) -> Candidate | None:
    """The volunteer's candidacy for the order, or None when they are not eligible."""
    if why_not(volunteer, request, load) is not None:
        return None
    parts = {
        "skill": volunteer.skills[request.service_code] / MAX_SKILL_LEVEL,
        "distance": 1.0 / (1.0 + distance_km / DISTANCE_SCALE_KM),
        # With a scheduled time the volunteer is available (or not a candidate); without one, wider weekly
        # availability makes an early visit likelier. 40 hours a week counts as fully available.
        "availability": 1.0 if request.scheduled_at is not None else min(volunteer.weekly_hours / 40.0, 1.0),
        "load": 1.0 - load / volunteer.max_load,
        "rating": max(0.0, min((rating - 1.0) / 4.0, 1.0)),
    }
    total = sum(WEIGHTS[k] * v for k, v in parts.items())
    return Candidate(
        volunteer_id=volunteer.volunteer_id,
        name=volunteer.name,
        team_code=volunteer.team_code,
        score=round(total, 4),
        distance_km=round(distance_km, 2),
        load=load,
        parts={k: round(v, 4) for k, v in parts.items()},
    )


def rank(
    volunteers: Iterable[Volunteer],
    request: MatchRequest,
    loads: Mapping[str, int],
    distance_km: Callable[[str, str], float],
    ratings: Mapping[str, tuple[int, int]],
) -> list[Candidate]:
    """Eligible volunteers, best first; ties go to the nearer, then to the lower id, so the order is stable.

    `loads` maps volunteer id → orders they hold now; `ratings` maps volunteer id → (count, sum) of ratings given.
    """
    candidates = []
    for v in volunteers:
        count, total = ratings.get(v.volunteer_id, (0, 0))
        candidate = score(
            v,
            request,
            loads.get(v.volunteer_id, 0),
            distance_km(v.home_grid, request.grid_code),
            effective_rating(v.rating, count, total),
        )
        if candidate is not None:
            candidates.append(candidate)
    return sorted(candidates, key=lambda c: (-c.score, c.distance_km, c.volunteer_id))
