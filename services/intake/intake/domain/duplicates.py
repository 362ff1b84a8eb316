"""Duplicate reports: the same category, near and recent, is one problem reported twice (or twenty times)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

EARTH_RADIUS_M = 6_371_000.0


@dataclass(frozen=True)
class DuplicateRule:
    radius_m: float
    window: timedelta


@dataclass(frozen=True)
class DuplicateRules:
    """Per category radius and window (data/haibowan/intake/duplicates.json); `never` lists categories where two
    reports are always two matters (two families' disputes are never one case)."""

    default: DuplicateRule
    by_category: dict[str, DuplicateRule]
    never: frozenset[str] = frozenset()

    def for_category(self, code: str) -> DuplicateRule | None:
        if code in self.never:
            return None
        return self.by_category.get(code, self.default)


@dataclass(frozen=True)
class Candidate:
    report_id: str
    lat: float
    long: float
    submitted_at: datetime


def distance_m(lat1: float, long1: float, lat2: float, long2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(long2 - long1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def search_box(lat: float, long: float, radius_m: float) -> tuple[float, float, float, float]:
    """(min_lat, max_lat, min_long, max_long) around a point, for a cheap pre-filter in the database."""
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    dlong = dlat / max(math.cos(math.radians(lat)), 1e-6)
    return lat - dlat, lat + dlat, long - dlong, long + dlong


def find_original(
    rule: DuplicateRule, lat: float, long: float, now: datetime, candidates: list[Candidate]
) -> Candidate | None:
    """The earliest open report within the radius and the window: the one every repeat is linked to."""
    near = [
        c
        for c in candidates
        if now - rule.window <= c.submitted_at <= now and distance_m(lat, long, c.lat, c.long) <= rule.radius_m
    ]
    return min(near, key=lambda c: (c.submitted_at, c.report_id)) if near else None
