"""Plane geometry of floor plans, in metres: polygons, containment, distances."""

from __future__ import annotations

import math
from collections.abc import Sequence

Point = tuple[float, float]
Polygon = Sequence[Point]
# Vertices closer than this are the same vertex.
EPSILON = 1e-9


def _orientation(a: Point, b: Point, c: Point) -> float:
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])


def _on_segment(a: Point, b: Point, p: Point) -> bool:
    return min(a[0], b[0]) - EPSILON <= p[0] <= max(a[0], b[0]) + EPSILON and (
        min(a[1], b[1]) - EPSILON <= p[1] <= max(a[1], b[1]) + EPSILON
    )


def segments_intersect(a: Point, b: Point, c: Point, d: Point) -> bool:
    o1, o2, o3, o4 = _orientation(a, b, c), _orientation(a, b, d), _orientation(c, d, a), _orientation(c, d, b)
    if ((o1 > EPSILON and o2 < -EPSILON) or (o1 < -EPSILON and o2 > EPSILON)) and (
        (o3 > EPSILON and o4 < -EPSILON) or (o3 < -EPSILON and o4 > EPSILON)
    ):
        return True
    return (
        (abs(o1) <= EPSILON and _on_segment(a, b, c))
        or (abs(o2) <= EPSILON and _on_segment(a, b, d))
        or (abs(o3) <= EPSILON and _on_segment(c, d, a))
        or (abs(o4) <= EPSILON and _on_segment(c, d, b))
    )


def area(polygon: Polygon) -> float:
    """Signed area (shoelace): positive when the vertices run anticlockwise."""
    total = 0.0
    for i, (x1, y1) in enumerate(polygon):
        x2, y2 = polygon[(i + 1) % len(polygon)]
        total += x1 * y2 - x2 * y1
    return total / 2


def simplicity_problem(polygon: Polygon) -> str:
    """Why the polygon is not simple ("" when it is): at least three distinct vertices, no
    zero area, no edge crossing or touching another that is not its neighbour."""
    if len(polygon) < 3:
        return "must have at least 3 vertices"
    for i, p in enumerate(polygon):
        if not (math.isfinite(p[0]) and math.isfinite(p[1])):
            return f"vertex {i} is not a finite number"
        q = polygon[(i + 1) % len(polygon)]
        if math.dist(p, q) <= EPSILON:
            return f"vertices {i} and {(i + 1) % len(polygon)} are the same point"
    n = len(polygon)
    for i in range(n):
        a, b = polygon[i], polygon[(i + 1) % n]
        for j in range(i + 1, n):
            if j == i or (j + 1) % n == i or j == (i + 1) % n:
                continue
            if segments_intersect(a, b, polygon[j], polygon[(j + 1) % n]):
                return f"edges {i} and {j} cross (the polygon must be simple)"
    if abs(area(polygon)) <= EPSILON:
        return "has no area"
    return ""


def contains(polygon: Polygon, point: Point) -> bool:
    """Whether the point is inside the polygon or on its boundary (ray casting)."""
    x, y = point
    inside = False
    n = len(polygon)
    for i in range(n):
        (x1, y1), (x2, y2) = polygon[i], polygon[(i + 1) % n]
        if _on_segment((x1, y1), (x2, y2), point) and abs(_orientation((x1, y1), (x2, y2), point)) <= EPSILON:
            return True
        if (y1 > y) != (y2 > y):
            crossing = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if x < crossing:
                inside = not inside
    return inside


def distance_to_boundary(polygon: Polygon, point: Point) -> float:
    best = math.inf
    px, py = point
    n = len(polygon)
    for i in range(n):
        (x1, y1), (x2, y2) = polygon[i], polygon[(i + 1) % n]
        dx, dy = x2 - x1, y2 - y1
        length2 = dx * dx + dy * dy
        t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((px - x1) * dx + (py - y1) * dy) / length2))
        best = min(best, math.hypot(px - (x1 + t * dx), py - (y1 + t * dy)))
    return best


def within(polygon: Polygon, point: Point, margin: float) -> bool:
    """Inside the polygon grown by margin metres (hysteresis for leaving a zone)."""
    return contains(polygon, point) or distance_to_boundary(polygon, point) <= margin


def inside_rectangle(polygon: Polygon, width: float, height: float) -> bool:
    return all(-EPSILON <= x <= width + EPSILON and -EPSILON <= y <= height + EPSILON for x, y in polygon)


def heading(a: Point, b: Point) -> float:
    """Compass-style heading from a to b: degrees from +y, clockwise, in [0, 360)."""
    return math.degrees(math.atan2(b[0] - a[0], b[1] - a[1])) % 360
