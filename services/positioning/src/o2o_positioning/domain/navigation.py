"""Shortest walkable paths on a floor: a grid over the floor plan (obstacles and what lies
outside the walkable area blocked), Dijkstra from the start to any cell of the destination
zone, the path straightened where the line of sight is free, then turned into steps."""

from __future__ import annotations

import heapq
import itertools
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from o2o_positioning.domain.geometry import Point, Polygon, heading
from o2o_positioning.domain.venue import FloorPlan, Zone

CELL_M = 0.5
MAX_CELLS = 1_000_000
# How far outside a zone still counts as arriving there (a zone may be a shelf itself).
ARRIVE_WITHIN_M = 1.5
TURN_DEG = 30.0


class NoPath(Exception):
    """Nothing walkable joins the start to the destination."""


@dataclass(frozen=True)
class Step:
    point: Point
    heading_deg: float
    distance_m: float
    instruction: str


@dataclass(frozen=True)
class Route:
    path: tuple[Point, ...]
    distance_m: float
    heading_deg: float
    steps: tuple[Step, ...]


def _inside(polygon: Polygon, xs: NDArray[np.float64], ys: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Vectorised ray casting for many points."""
    inside = np.zeros(xs.shape, dtype=bool)
    n = len(polygon)
    for i in range(n):
        (x1, y1), (x2, y2) = polygon[i], polygon[(i + 1) % n]
        if y1 == y2:
            continue
        crosses = (y1 > ys) != (y2 > ys)
        at = x1 + (ys - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (xs < at)
    return inside


def _distance(polygon: Polygon, xs: NDArray[np.float64], ys: NDArray[np.float64]) -> NDArray[np.float64]:
    """Distance of many points to the polygon's boundary."""
    best = np.full(xs.shape, np.inf)
    n = len(polygon)
    for i in range(n):
        (x1, y1), (x2, y2) = polygon[i], polygon[(i + 1) % n]
        dx, dy = x2 - x1, y2 - y1
        length2 = dx * dx + dy * dy or 1e-12
        t = np.clip(((xs - x1) * dx + (ys - y1) * dy) / length2, 0, 1)
        best = np.minimum(best, np.hypot(xs - (x1 + t * dx), ys - (y1 + t * dy)))
    return best


class FloorGrid:
    def __init__(self, plan: FloorPlan, cell_m: float = CELL_M) -> None:
        cell = max(cell_m, math.sqrt(plan.width_m * plan.height_m / MAX_CELLS))
        self.cell = cell
        self.columns = max(math.ceil(plan.width_m / cell), 1)
        self.rows = max(math.ceil(plan.height_m / cell), 1)
        xs, ys = np.meshgrid((np.arange(self.columns) + 0.5) * cell, (np.arange(self.rows) + 0.5) * cell)
        self.xs, self.ys = xs, ys
        free = np.ones(xs.shape, dtype=bool)
        if plan.walkable:
            free = np.zeros(xs.shape, dtype=bool)
            for polygon in plan.walkable:
                free |= _inside(polygon, xs, ys)
        for obstacle in plan.obstacles:
            free &= ~_inside(obstacle, xs, ys)
        self.free = free

    def cell_of(self, point: Point) -> tuple[int, int]:
        col = min(max(int(point[0] / self.cell), 0), self.columns - 1)
        row = min(max(int(point[1] / self.cell), 0), self.rows - 1)
        return row, col

    def centre(self, cell: tuple[int, int]) -> Point:
        return ((cell[1] + 0.5) * self.cell, (cell[0] + 0.5) * self.cell)

    def nearest_free(self, point: Point) -> tuple[int, int]:
        rows, cols = np.nonzero(self.free)
        if not len(rows):
            raise NoPath("the floor has no walkable area")
        d2 = (self.xs[rows, cols] - point[0]) ** 2 + (self.ys[rows, cols] - point[1]) ** 2
        best = int(np.argmin(d2))
        return int(rows[best]), int(cols[best])

    def goal_cells(self, zone: Zone) -> set[tuple[int, int]]:
        inside = _inside(zone.area, self.xs, self.ys)
        goals = inside & self.free
        if not goals.any():
            # A zone that is itself blocked (a shelf): arrive next to it.
            goals = self.free & (_distance(zone.area, self.xs, self.ys) <= ARRIVE_WITHIN_M)
        return {(int(r), int(c)) for r, c in zip(*np.nonzero(goals), strict=True)}

    def line_free(self, a: Point, b: Point) -> bool:
        length = math.dist(a, b)
        samples = max(int(length / (self.cell / 2)), 1)
        for i in range(samples + 1):
            t = i / samples
            row, col = self.cell_of((a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t))
            if not self.free[row, col]:
                return False
        return True


_MOVES = [(-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1)]


def _search(grid: FloorGrid, start: tuple[int, int], goals: set[tuple[int, int]]) -> list[tuple[int, int]]:
    """Dijkstra on the 8-connected grid; diagonal moves never cut a blocked corner."""
    best = {start: 0.0}
    came: dict[tuple[int, int], tuple[int, int]] = {}
    queue = [(0.0, start)]
    free = grid.free
    while queue:
        cost, cell = heapq.heappop(queue)
        if cell in goals:
            path = [cell]
            while path[-1] in came:
                path.append(came[path[-1]])
            return path[::-1]
        if cost > best.get(cell, math.inf):
            continue
        row, col = cell
        for dr, dc in _MOVES:
            r, c = row + dr, col + dc
            if not (0 <= r < grid.rows and 0 <= c < grid.columns) or not free[r, c]:
                continue
            if dr and dc and not (free[row + dr, col] and free[row, col + dc]):
                continue
            step = math.sqrt(2) if dr and dc else 1.0
            total = cost + step
            if total < best.get((r, c), math.inf):
                best[(r, c)] = total
                came[(r, c)] = cell
                heapq.heappush(queue, (total, (r, c)))
    raise NoPath("no walkable path reaches the destination")


def _straighten(grid: FloorGrid, points: list[Point]) -> list[Point]:
    """Keeps only the corners: each point is joined to the furthest one in sight."""
    if len(points) <= 2:
        return points
    kept = [points[0]]
    i = 0
    while i < len(points) - 1:
        j = len(points) - 1
        while j > i + 1 and not grid.line_free(points[i], points[j]):
            j -= 1
        kept.append(points[j])
        i = j
    return kept


def _instruction(turn: float) -> str:
    if abs(turn) < TURN_DEG:
        return "go straight"
    if abs(turn) > 150:
        return "turn around"
    return "turn right" if turn > 0 else "turn left"


def route(plan: FloorPlan, start: Point, zone: Zone, grid: FloorGrid | None = None) -> Route:
    grid = grid or FloorGrid(plan)
    goals = grid.goal_cells(zone)
    if not goals:
        raise NoPath(f"zone {zone.zone_id!r} cannot be reached: nothing walkable in or beside it")
    first = grid.cell_of(start)
    if not grid.free[first]:
        first = grid.nearest_free(start)
    cells = _search(grid, first, goals)
    points = _straighten(grid, [start, *(grid.centre(c) for c in cells[1:])]) if len(cells) > 1 else [start]
    if len(points) == 1:
        points = [start, start]
    steps: list[Step] = []
    previous_heading: float | None = None
    total = 0.0
    for a, b in itertools.pairwise(points):
        direction = heading(a, b)
        length = math.dist(a, b)
        total += length
        if previous_heading is None:
            instruction = "head off"
        else:
            instruction = _instruction((direction - previous_heading + 540) % 360 - 180)
        steps.append(Step(a, direction, length, instruction))
        previous_heading = direction
    steps.append(Step(points[-1], previous_heading or 0.0, 0.0, "arrive"))
    return Route(tuple(points), total, steps[0].heading_deg, tuple(steps))
