"""The demo day that `tools/demo/replay.py` plays into intake: realistic in shape, and the same for the same seed."""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter

from gridlink.refdata import load_categories, load_grid_map, load_staff
from gridlink.runtime.auth import DEFAULT_SECRET, verify_token
from gridlink.runtime.config import REPO_ROOT

spec = importlib.util.spec_from_file_location("demo_replay", REPO_ROOT / "tools" / "demo" / "replay.py")
replay = importlib.util.module_from_spec(spec)
sys.modules["demo_replay"] = replay  # dataclasses look their module up while the file runs
spec.loader.exec_module(replay)

GRIDS = load_grid_map()
CATEGORIES = load_categories()
STAFF = load_staff()


def day(seed: int = 7, count: int = 600):
    return replay.plan_day(count, seed, list(GRIDS), list(CATEGORIES.values()), STAFF)


def test_the_same_seed_plays_the_same_day_and_another_seed_another():
    assert day() == day()
    assert day(seed=8) != day()


def test_the_day_has_the_shape_of_a_real_one():
    plan = day()
    assert [p.at_seconds for p in plan] == sorted(p.at_seconds for p in plan)
    hours = Counter(p.at_seconds // 3600 for p in plan)
    assert hours[9] + hours[10] > 4 * (hours[2] + hours[3] + 1)  # mornings are busy, nights quiet
    for p in plan:
        grid = GRIDS.get(p.grid_code)
        assert grid.contains(p.body["lat"], p.body["long"]), p  # every report lies inside its grid
        assert p.body["category"] in CATEGORIES and grid.name in p.body["description"]
        if p.channel in ("patrol", "hotline"):
            assert 8 <= p.at_seconds // 3600 < 21
    kinds = Counter(CATEGORIES[p.body["category"]].kind for p in plan)
    assert kinds["general"] > kinds["dispute"] > 0 and kinds["volunteer"] > 0
    assert {p.channel for p in plan} == {"app", "wechat", "patrol", "hotline"}


def test_staff_channels_carry_the_right_staff_token():
    plan = day()
    patrol = next(p for p in plan if p.channel == "patrol")
    who = verify_token(DEFAULT_SECRET, replay.staff_token(patrol, DEFAULT_SECRET))
    assert (who.role, who.unit, who.user_id) == ("grid_worker", patrol.grid_code, patrol.staff_id)
    assert patrol.grid_code in next(s for s in STAFF if s.staff_id == patrol.staff_id).grid_codes
    hotline = next(p for p in plan if p.channel == "hotline")
    assert verify_token(DEFAULT_SECRET, replay.staff_token(hotline, DEFAULT_SECRET)).role == "district_operator"
    assert replay.staff_token(next(p for p in plan if p.channel == "app"), DEFAULT_SECRET) is None
