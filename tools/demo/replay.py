"""Replays a realistic day of Haibowan activity through intake's HTTP API, so a newcomer sees a living district.

    python tools/demo/replay.py [--intake http://127.0.0.1:8001] [--reports 150] [--minutes 1] [--seed 7]

The day is planned first, then posted in order, compressed into `--minutes` of wall time: residents report
through the app and WeChat in the morning and after work, grid workers patrol during office hours and the
hotline takes calls. Busier (more populous) grids report more, and the categories follow their kind: mostly
general matters, some disputes for mediation, some service requests for volunteers. The same seed gives the
same day. Hotline and patrol reports carry a staff token signed with GRIDLINK_AUTH_SECRET, as staff would.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "lib"))

from gridlink.refdata import Grid, load_categories, load_grid_map, load_staff  # noqa: E402
from gridlink.runtime.auth import DEFAULT_SECRET, issue_token  # noqa: E402

# Share of the day's reports in each hour (0–23), shaped like a district's real day: quiet nights, a morning
# peak when people leave home, a lunch dip, an afternoon of patrols and an evening peak after work.
HOURLY = (1, 1, 0, 0, 1, 2, 4, 7, 9, 10, 9, 7, 5, 6, 8, 8, 7, 6, 6, 7, 6, 4, 2, 1)
# (channel, weight, the hours it works): residents any time, patrols and the hotline in office hours.
CHANNELS = (("app", 45, range(24)), ("wechat", 35, range(24)), ("patrol", 12, range(8, 18)),
            ("hotline", 8, range(8, 21)))  # fmt: skip
KIND_WEIGHTS = {"general": 80, "dispute": 12, "volunteer": 8}
PLACES = ("号楼楼下", "号楼单元门口", "小区东门", "小区南门", "菜市场旁", "公交站旁", "小区停车场", "巷口")
SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗"


@dataclass(frozen=True)
class PlannedReport:
    at_seconds: int  # seconds after the day's midnight
    channel: str
    grid_code: str
    body: dict
    staff_id: str | None = None  # the grid worker who reports on patrol


def plan_day(count: int, seed: int, grids: list[Grid], categories: list, staff: list) -> list[PlannedReport]:
    """The day's reports, in time order. Pure: the same inputs give the same day."""
    rng = random.Random(seed)
    weights = [g.population + 200 for g in grids]  # a dedicated grid with no residents still has workers
    by_kind: dict[str, list] = {}
    for category in categories:
        by_kind.setdefault(category.kind, []).append(category)
    kinds = [k for k in KIND_WEIGHTS if k in by_kind]
    workers = {
        code: s.staff_id for s in staff if s.role in ("full_time_worker", "rural_worker") for code in s.grid_codes
    }
    plan = []
    for _ in range(count):
        hour = rng.choices(range(24), weights=HOURLY)[0]
        at = hour * 3600 + rng.randrange(3600)
        channel = rng.choices([c for c, _, _ in CHANNELS], weights=[w if hour in h else 0 for _, w, h in CHANNELS])[0]
        grid = rng.choices(grids, weights=weights)[0]
        kind = rng.choices(kinds, weights=[KIND_WEIGHTS[k] for k in kinds])[0]
        category = rng.choice(by_kind[kind])
        lat, long = _inside(grid, rng)
        place = f"{rng.randint(1, max(grid.buildings, 1))}{rng.choice(PLACES)}" if grid.buildings else "辖区内"
        body = {
            "category": category.code,
            "description": f"{category.name}：{grid.name}{place}，{category.description}",
            "channel": channel,
            "lat": lat,
            "long": long,
            "reporter": {
                "name": f"{rng.choice(SURNAMES)}{'先生' if rng.random() < 0.5 else '女士'}",
                "phone": f"139{rng.randrange(10**8):08d}",
            },
        }
        worker = workers.get(grid.code) if channel == "patrol" else None
        if worker:
            body["reporter"] = {}
        elif channel == "patrol":
            channel = body["channel"] = "app"  # a grid with no full-time worker has no patrol
        plan.append(PlannedReport(at, channel, grid.code, body, worker))
    return sorted(plan, key=lambda p: p.at_seconds)


def _inside(grid: Grid, rng: random.Random) -> tuple[float, float]:
    """A random point inside the grid's polygon (rejection sampling in its bounding box)."""
    longs = [x for x, _ in grid.polygon]
    lats = [y for _, y in grid.polygon]
    for _ in range(200):
        lat, long = rng.uniform(min(lats), max(lats)), rng.uniform(min(longs), max(longs))
        if grid.contains(lat, long):
            return round(lat, 6), round(long, 6)
    lat, long = grid.centroid
    return round(lat, 6), round(long, 6)


def staff_token(planned: PlannedReport, secret: str) -> str | None:
    """Patrols come from the grid's worker, hotline calls are taken at the district centre."""
    if planned.channel == "patrol" and planned.staff_id:
        return issue_token(secret, planned.staff_id, "grid_worker", planned.grid_code)
    if planned.channel == "hotline":
        return issue_token(secret, "D0001", "district_operator", planned.grid_code[:6])
    return None


def post(intake: str, planned: PlannedReport, secret: str) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    token = staff_token(planned, secret)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(planned.body, ensure_ascii=False).encode()
    for _ in range(5):
        request = urllib.request.Request(f"{intake}/reports", data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code != 429:  # over the per-address limit: wait and try again, as an app would
                return exc.code, json.loads(exc.read() or b"{}")
            time.sleep(2)
    return 429, {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intake", default=os.environ.get("INTAKE_URL", "http://127.0.0.1:8001"))
    parser.add_argument("--reports", type=int, default=150, help="reports in the day")
    parser.add_argument("--minutes", type=float, default=1.0, help="wall-clock minutes the day is compressed into")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--dry-run", action="store_true", help="print the plan instead of posting it")
    args = parser.parse_args(argv)
    data_dir = Path(os.environ.get("GRIDLINK_DATA_DIR", REPO_ROOT / "data" / "haibowan"))
    grid_map = load_grid_map(data_dir)
    categories = list(load_categories(data_dir).values())
    plan = plan_day(args.reports, args.seed, list(grid_map), categories, load_staff(data_dir))
    if args.dry_run:
        for p in plan:
            print(f"{p.at_seconds // 3600:02d}:{p.at_seconds % 3600 // 60:02d} {p.channel:<8} {p.body['description']}")
        return 0
    secret = os.environ.get("GRIDLINK_AUTH_SECRET", DEFAULT_SECRET)
    scale = args.minutes * 60 / 86400
    started = time.monotonic()
    outcomes: dict[int, int] = {}
    for p in plan:
        time.sleep(max(0.0, started + p.at_seconds * scale - time.monotonic()))
        status, body = post(args.intake, p, secret)
        outcomes[status] = outcomes.get(status, 0) + 1
        clock = f"{p.at_seconds // 3600:02d}:{p.at_seconds % 3600 // 60:02d}"
        print(f"{clock} {p.channel:<8} {status} {body.get('tracking_code', body.get('error', ''))}", flush=True)
    print(f"replayed {len(plan)} reports in {time.monotonic() - started:.0f}s: {outcomes}")
    return 0 if set(outcomes) <= {200, 201} else 1


if __name__ == "__main__":
    sys.exit(main())
