"""The Haibowan workload: reports on random grids, in general-kind categories, over a mix of channels.

Intake merges a report into an open one of the same category nearby (data/haibowan/intake/duplicates.json), which
would turn load into merges. So each report's point is drawn inside a random grid and kept only when it lies
farther than its category's duplicate radius from every earlier report of that category in the run.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gridlink.refdata.geometry import contains

M_PER_DEG_LAT = 111_320.0
# Channels and their share of the load: residents' app and WeChat need no token; the hotline is staff-entered.
CHANNEL_MIX = (("app", 0.5), ("wechat", 0.35), ("hotline", 0.15))
SAFETY = 1.5  # keep points this many radii apart, so rounding and the radius test's own maths never merge them


@dataclass(frozen=True)
class Area:
    """A grid as the workload needs it: its code, polygon ((long, lat) vertices) and a point-in-polygon test."""

    code: str
    polygon: Sequence[tuple[float, float]]

    def bbox(self) -> tuple[float, float, float, float]:
        longs = [p[0] for p in self.polygon]
        lats = [p[1] for p in self.polygon]
        return min(longs), min(lats), max(longs), max(lats)

    def contains(self, lat: float, long: float) -> bool:
        """The platform's own test (half-open edges), so that a point drawn here is one intake places."""
        return contains(self.polygon, long, lat)


class Spacing:
    """Remembers the points used per category and says whether a new one is far enough from all of them.

    A hash of square cells as wide as the radius keeps each test to the 9 neighbouring cells.
    """

    def __init__(self, radius_m: dict[str, float], default_m: float, reference_lat: float = 39.67):
        self.radius_m = radius_m
        self.default_m = default_m
        # One scale for longitude over the whole district (Wuhai's latitude by default): a per-point cosine would
        # shift far-from-Greenwich x values by hundreds of metres between neighbouring points.
        self._x_scale = M_PER_DEG_LAT * math.cos(math.radians(reference_lat))
        self._cells: dict[tuple[str, int, int], list[tuple[float, float]]] = {}

    def radius(self, category: str) -> float:
        return self.radius_m.get(category, self.default_m) * SAFETY

    def _xy(self, lat: float, long: float) -> tuple[float, float]:
        return long * self._x_scale, lat * M_PER_DEG_LAT

    def free(self, category: str, lat: float, long: float) -> bool:
        r = self.radius(category)
        x, y = self._xy(lat, long)
        cx, cy = int(x // r), int(y // r)
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                for px, py in self._cells.get((category, cx + dx, cy + dy), ()):
                    if math.hypot(px - x, py - y) <= r:
                        return False
        return True

    def take(self, category: str, lat: float, long: float) -> None:
        r = self.radius(category)
        x, y = self._xy(lat, long)
        self._cells.setdefault((category, int(x // r), int(y // r)), []).append((x, y))


class Workload:
    """Draws report bodies; `next()` → (JSON body, extra headers). Deterministic for a seed."""

    def __init__(
        self,
        areas: Sequence[Area],
        categories: Sequence[tuple[str, str]],
        spacing: Spacing,
        hotline_token: str | None = None,
        seed: int = 9,
        reporters: bool = True,
    ):
        self.areas = list(areas)
        self.categories = list(categories)  # (code, Chinese name)
        self.spacing = spacing
        self.hotline_token = hotline_token
        # False: every report is anonymous, so intake publishes no contact (the receipt goes to the inbox only).
        self.reporters = reporters
        self.rng = random.Random(seed)
        self.drawn = 0
        self.crowded = 0  # draws where no free point was found and a busier one was used

    def _point(self, category: str) -> tuple[float, float]:
        """A point inside a random grid, as sent (rounded to 6 places, about 0.1 m), far enough from the category's
        earlier ones; after 40 grids without such a point, the last one drawn that was inside.

        Tested after rounding: a point drawn just inside the district's edge could round onto it, where no grid
        claims it, and intake rightly refused the report (422), which failed the step it fell in."""
        inside = None
        for _ in range(40):
            area = self.rng.choice(self.areas)
            min_long, min_lat, max_long, max_lat = area.bbox()
            for _ in range(10):
                lat = round(self.rng.uniform(min_lat, max_lat), 6)
                long = round(self.rng.uniform(min_long, max_long), 6)
                if area.contains(lat, long):
                    break
            else:
                continue
            inside = lat, long
            if self.spacing.free(category, lat, long):
                return inside
        if inside is None:
            raise RuntimeError("no point inside a grid in 400 draws: are the grids' polygons empty?")
        self.crowded += 1
        return inside

    def next(self) -> tuple[dict, dict]:
        code, name = self.rng.choice(self.categories)
        lat, long = self._point(code)
        self.spacing.take(code, lat, long)
        self.drawn += 1
        channel = self.rng.choices([c for c, _ in CHANNEL_MIX], [w for _, w in CHANNEL_MIX])[0]
        headers = {}
        if channel == "hotline":
            if self.hotline_token is None:
                channel = "app"
            else:
                headers["Authorization"] = f"Bearer {self.hotline_token}"
        body = {
            "category": code,
            "channel": channel,
            "description": f"{name}：第{self.drawn}号压测上报，请网格员核实处理",
            "lat": lat,
            "long": long,
        }
        phone = f"139{self.rng.randrange(10**8):08d}"  # drawn either way, so both kinds of run place reports alike
        if self.reporters:
            body["reporter"] = {"name": "压测居民", "phone": phone}
        return body, headers


def haibowan(
    data_dir: Path | None = None, seed: int = 9, auth_secret: str | None = None, reporters: bool = True
) -> Workload:
    """The workload over the district's own data files: every grid, every general-kind category."""
    from gridlink.refdata import load_grid_map
    from gridlink.refdata.categories import load_categories
    from gridlink.runtime.auth import DEFAULT_SECRET, issue_token
    from gridlink.runtime.config import REPO_ROOT

    data_dir = data_dir or REPO_ROOT / "data" / "haibowan"
    grids = load_grid_map(data_dir)
    areas = [Area(g.code, tuple(g.polygon)) for g in grids.grids.values()]
    categories = sorted((c.code, c.name) for c in load_categories(data_dir).values() if c.kind == "general")
    rules = json.loads((data_dir / "intake" / "duplicates.json").read_text(encoding="utf-8"))
    radius = {code: float(rule["radius_m"]) for code, rule in rules.get("categories", {}).items()}
    spacing = Spacing(radius, float(rules.get("default", {}).get("radius_m", 50)))
    district = min(g.code for g in grids.grids.values())[:6]  # grid codes nest under the district's code
    token = issue_token(auth_secret or DEFAULT_SECRET, "BENCH", "district_operator", district, ttl_seconds=24 * 3600)
    return Workload(areas, categories, spacing, hotline_token=token, seed=seed, reporters=reporters)
