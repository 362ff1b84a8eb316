"""The district data the console draws: the grid map (projected once to SVG), unit names and each grid's staff."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from console.domain.mapview import GridMapView, project
from gridlink.refdata import GridMap, StaffMember, load_grid_map, load_organisation, load_staff


@dataclass(frozen=True)
class ConsoleReference:
    grids: GridMap
    map_view: GridMapView
    sub_centres: dict[str, str]  # code → name
    communities: dict[str, str]
    staff_by_grid: dict[str, tuple[StaffMember, ...]]

    def names(self, level: str, scope: str | None) -> dict[str, str]:
        """Every unit at `level` (sub_centre, community, grid) inside `scope`, by code."""
        table = {
            "sub_centre": self.sub_centres,
            "community": self.communities,
            "grid": {g.code: g.name for g in self.grids},
        }[level]
        return {code: name for code, name in table.items() if scope is None or code.startswith(scope)}

    def unit_name(self, code: str | None) -> str:
        if not code:
            return ""
        grid = self.grids.get(code)
        return grid.name if grid else self.communities.get(code) or self.sub_centres.get(code) or code


def load_reference(data_dir: Path) -> ConsoleReference:
    organisation = load_organisation(data_dir)
    grids = load_grid_map(data_dir)
    staff: dict[str, list[StaffMember]] = {}
    for member in load_staff(data_dir):
        for code in member.grid_codes:
            staff.setdefault(code, []).append(member)
    return ConsoleReference(
        grids=grids,
        map_view=project(grids),
        sub_centres={s.code: s.name for s in organisation.sub_centres},
        communities={c.code: c.name for c in organisation.communities},
        staff_by_grid={code: tuple(members) for code, members in staff.items()},
    )
