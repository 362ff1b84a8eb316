"""The grid map as SVG: each grid's polygon projected from (long, lat) to screen coordinates, no tiles needed."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from gridlink.refdata import Grid


@dataclass(frozen=True)
class MapShape:
    code: str
    name: str
    sub_centre_code: str
    community_code: str
    path: str  # SVG path data


@dataclass(frozen=True)
class GridMapView:
    width: int
    height: int
    shapes: tuple[MapShape, ...]


def project(grids: Iterable[Grid], width: int = 1000, margin: int = 10) -> GridMapView:
    """Equirectangular projection scaled by cos(latitude), so a grid keeps its shape at Wuhai's 39.7°N."""
    grids = list(grids)
    if not grids:
        return GridMapView(width, width // 2, ())
    longs = [x for g in grids for x, _ in g.polygon]
    lats = [y for g in grids for _, y in g.polygon]
    min_x, max_x, min_y, max_y = min(longs), max(longs), min(lats), max(lats)
    squash = math.cos(math.radians((min_y + max_y) / 2))
    span_x = ((max_x - min_x) * squash) or 1e-9
    span_y = (max_y - min_y) or 1e-9
    scale = (width - 2 * margin) / span_x
    height = round(span_y * scale + 2 * margin)

    def point(long: float, lat: float) -> str:
        # SVG's y axis points down, latitude up.
        return f"{(long - min_x) * squash * scale + margin:.1f},{(max_y - lat) * scale + margin:.1f}"

    shapes = tuple(
        MapShape(
            code=g.code,
            name=g.name,
            sub_centre_code=g.sub_centre_code,
            community_code=g.community_code,
            path="M" + "L".join(point(x, y) for x, y in g.polygon) + "Z",
        )
        for g in sorted(grids, key=lambda g: g.code)
    )
    return GridMapView(width, height, shapes)
