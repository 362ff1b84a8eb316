"""Writes data/haibowan/volunteers.json: a synthetic, deterministic roster of volunteers for the 41 teams.

Each volunteer has a team, a home grid in the team's community, two or three skills (service codes from
volunteer_services.json, each with a level 1–3), weekly availability windows in local time, the most orders they may
hold at once and a starting rating. Names come from the same synthetic name pool as the staff roster.

    python tools/refdata/volunteers.py [--out data/haibowan]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "data" / "haibowan"
SEED = 20210106
PER_TEAM = 5

# Weekly patterns a volunteer can keep: (weekdays 0=Monday, from, to) in Beijing time.
PATTERNS = (
    [([0, 1, 2, 3, 4], "18:00", "21:00"), ([5, 6], "08:00", "18:00")],  # works office hours
    [([0, 1, 2, 3, 4, 5, 6], "08:00", "17:00")],  # retired
    [([5, 6], "09:00", "17:00")],  # weekends only
    [([0, 2, 4], "09:00", "12:00"), ([1, 3], "14:00", "18:00")],  # part-time
    [([0, 1, 2, 3, 4], "08:30", "11:30"), ([0, 1, 2, 3, 4], "14:30", "17:30")],  # community staff
)


def _people(rng: random.Random):
    spec = importlib.util.spec_from_file_location("generate_haibowan", REPO / "tools/refdata/generate_haibowan.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module.People(rng)


def build(data_dir: Path) -> list[dict]:
    rng = random.Random(SEED)
    people = _people(rng)
    organisation = json.loads((data_dir / "organisation.json").read_text(encoding="utf-8"))
    services = [s["code"] for s in json.loads((data_dir / "volunteer_services.json").read_text(encoding="utf-8"))]
    grids = json.loads((data_dir / "grids.geojson").read_text(encoding="utf-8"))["features"]
    grids_of: dict[str, list[str]] = {}
    for feature in grids:
        props = feature["properties"]
        if props["kind"] == "geographic":
            grids_of.setdefault(props["community_code"], []).append(props["code"])
    roster = []
    for team in organisation["volunteer_teams"]:
        home_grids = sorted(grids_of[team["community_code"]])
        for _ in range(PER_TEAM):
            skills = rng.sample(services, rng.choice((2, 3, 3)))
            roster.append(
                {
                    "volunteer_id": f"V{len(roster) + 1:04d}",
                    "name": people.name(),
                    "team_code": team["code"],
                    "home_grid": rng.choice(home_grids),
                    "skills": {code: rng.choice((1, 2, 2, 3)) for code in sorted(skills)},
                    "availability": [
                        {"weekdays": days, "from": start, "to": end} for days, start, end in rng.choice(PATTERNS)
                    ],
                    "max_load": rng.choice((1, 2, 2, 3)),
                    "rating": f"{rng.choice((3.8, 4.2, 4.5, 4.6, 4.8, 5.0)):.1f}",
                }
            )
    return roster


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory (reads the district there)")
    args = parser.parse_args(argv)
    roster = build(args.out)
    # One volunteer a line: readable, and a diff shows exactly whose record changed.
    text = "[\n" + ",\n".join(json.dumps(v, ensure_ascii=False) for v in roster) + "\n]\n"
    (args.out / "volunteers.json").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
