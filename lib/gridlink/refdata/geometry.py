"""Planar geometry on (long, lat) rings: point-in-polygon, centroid and bounding boxes.

Grids are a few hundred metres across, so treating degrees as planar coordinates is accurate enough.
"""

from __future__ import annotations

from dataclasses import dataclass

Position = tuple[float, float]  # (long, lat), the GeoJSON order
Ring = tuple[Position, ...]  # open ring: the closing vertex is not repeated


@dataclass(frozen=True)
class BBox:
    min_long: float
    min_lat: float
    max_long: float
    max_lat: float

    @classmethod
    def of(cls, ring: Ring) -> BBox:
        longs = [long for long, _ in ring]
        lats = [lat for _, lat in ring]
        return cls(min(longs), min(lats), max(longs), max(lats))

    @classmethod
    def union(cls, boxes: list[BBox]) -> BBox:
        return cls(
            min(box.min_long for box in boxes),
            min(box.min_lat for box in boxes),
            max(box.max_long for box in boxes),
            max(box.max_lat for box in boxes),
        )

    def contains(self, long: float, lat: float) -> bool:
        return self.min_long <= long <= self.max_long and self.min_lat <= lat <= self.max_lat


def contains(ring: Ring, long: float, lat: float) -> bool:
    """Crossing-number test with half-open edges.

    The half-open rule gives a point on an edge shared by two tiles to exactly one of them, so a tiling of
    grids never claims a point twice.
    """
    inside = False
    count = len(ring)
    for index in range(count):
        x1, y1 = ring[index]
        x2, y2 = ring[(index + 1) % count]
        if (y1 > lat) != (y2 > lat):
            crossing = x1 + (lat - y1) * (x2 - x1) / (y2 - y1)
            if crossing > long:
                inside = not inside
    return inside


def signed_area(ring: Ring) -> float:
    """Shoelace area in square degrees; positive when the ring runs counter-clockwise."""
    pairs = zip(ring, ring[1:] + ring[:1], strict=True)
    return sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in pairs) / 2


def centroid(ring: Ring) -> Position:
    """Area centroid as (long, lat); the vertex mean for a degenerate ring."""
    area = signed_area(ring)
    count = len(ring)
    if area == 0:
        return (sum(p[0] for p in ring) / count, sum(p[1] for p in ring) / count)
    cx = cy = 0.0
    for i in range(count):
        x1, y1 = ring[i]
        x2, y2 = ring[(i + 1) % count]
        cross = x1 * y2 - x2 * y1
        cx += (x1 + x2) * cross
        cy += (y1 + y2) * cross
    return (cx / (6 * area), cy / (6 * area))
