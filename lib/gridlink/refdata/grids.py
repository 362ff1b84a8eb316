"""The grid map (grids.geojson): every grid with its polygon, and locating the grid that holds a point."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gridlink.refdata.geometry import BBox, Ring, centroid, contains
from gridlink.refdata.reading import DEFAULT_DATA_DIR, Record, RefDataError, read_json

GRIDS_FILE = "grids.geojson"
GRID_KINDS = ("geographic", "dedicated")  # dedicated: an enterprise, institution or sector
GRID_AREAS = ("urban", "rural")


@dataclass(frozen=True)
class Grid:
    code: str
    name: str
    community_code: str
    sub_centre_code: str
    kind: str
    area: str
    population: int
    buildings: int
    polygon: Ring  # (long, lat) vertices, open ring

    @property
    def centroid(self) -> tuple[float, float]:
        """(lat, long) of the polygon's area centroid."""
        long, lat = centroid(self.polygon)
        return (lat, long)

    def contains(self, lat: float, long: float) -> bool:
        return contains(self.polygon, long, lat)


class GridMap:
    """All grids, with a bucket index over their bounding boxes so that a lookup tests only a few polygons."""

    BUCKETS = 32  # per axis; a few grids per bucket at the district's 435 grids

    def __init__(self, grids: dict[str, Grid]) -> None:
        self.grids = grids
        self._boxes = {code: BBox.of(grid.polygon) for code, grid in grids.items()}
        self._extent = BBox.union(list(self._boxes.values())) if grids else BBox(0.0, 0.0, 0.0, 0.0)
        self._buckets: dict[tuple[int, int], list[str]] = {}
        for code, box in self._boxes.items():
            col0, row0 = self._bucket(box.min_long, box.min_lat)
            col1, row1 = self._bucket(box.max_long, box.max_lat)
            for col in range(col0, col1 + 1):
                for row in range(row0, row1 + 1):
                    self._buckets.setdefault((col, row), []).append(code)

    def _bucket(self, long: float, lat: float) -> tuple[int, int]:
        extent = self._extent
        width = (extent.max_long - extent.min_long) or 1.0
        height = (extent.max_lat - extent.min_lat) or 1.0
        col = math.floor((long - extent.min_long) / width * self.BUCKETS)
        row = math.floor((lat - extent.min_lat) / height * self.BUCKETS)
        return (min(max(col, 0), self.BUCKETS - 1), min(max(row, 0), self.BUCKETS - 1))

    def locate(self, lat: float, long: float) -> Grid | None:
        """The grid whose polygon holds the point, or None outside every grid."""
        if not self._extent.contains(long, lat):
            return None
        for code in self._buckets.get(self._bucket(long, lat), ()):
            if self._boxes[code].contains(long, lat) and self.grids[code].contains(lat, long):
                return self.grids[code]
        return None

    def get(self, code: str) -> Grid | None:
        return self.grids.get(code)

    def in_community(self, community_code: str) -> list[Grid]:
        return [grid for grid in self.grids.values() if grid.community_code == community_code]

    def __len__(self) -> int:
        return len(self.grids)

    def __iter__(self) -> Iterator[Grid]:
        return iter(self.grids.values())

    def __contains__(self, code: object) -> bool:
        return code in self.grids


def load_grid_map(data_dir: Path = DEFAULT_DATA_DIR) -> GridMap:
    root = Record(read_json(data_dir / GRIDS_FILE), GRIDS_FILE)
    if root.text("type") != "FeatureCollection":
        raise root.fail("expected a GeoJSON FeatureCollection")
    grids: dict[str, Grid] = {}
    for feature in root.records("features"):
        grid = _grid(feature)
        if grid.code in grids:
            raise feature.fail(f"duplicate grid code {grid.code!r}")
        grids[grid.code] = grid
    return GridMap(grids)


def _grid(feature: Record) -> Grid:
    raw = feature.record("properties")
    props = Record(raw.data, f"{feature.where} ({raw.data.get('code', '?')})")
    return Grid(
        code=props.text("code"),
        name=props.text("name"),
        community_code=props.text("community_code"),
        sub_centre_code=props.text("sub_centre_code"),
        kind=props.choice("kind", GRID_KINDS),
        area=props.choice("area", GRID_AREAS),
        population=props.integer("population"),
        buildings=props.integer("buildings"),
        polygon=_polygon(feature.record("geometry"), props.where),
    )


def _polygon(geometry: Record, where: str) -> Ring:
    if geometry.text("type") != "Polygon":
        raise RefDataError(f"{where}: geometry must be a Polygon")
    rings = geometry.array("coordinates")
    # holes are not used by grids; the exterior ring alone defines the grid
    if len(rings) != 1 or not isinstance(rings[0], list):
        raise RefDataError(f"{where}: polygon must have exactly one ring")
    positions: list[tuple[float, float]] = []
    for position in rings[0]:
        if (
            not isinstance(position, list)
            or len(position) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in position)
        ):
            raise RefDataError(f"{where}: position {position!r} is not [long, lat]")
        positions.append((float(position[0]), float(position[1])))
    if len(positions) < 4 or positions[0] != positions[-1]:
        raise RefDataError(f"{where}: ring must be closed and have at least 4 positions")
    return tuple(positions[:-1])
