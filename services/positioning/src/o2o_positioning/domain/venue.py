"""The venue model: a store's floors, zones, beacons and access points, and their rules."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from o2o_positioning.domain.geometry import Point, Polygon, contains, inside_rectangle, simplicity_problem

MAX_FLOORS = 50
MAX_POLYGONS = 200
MAX_VERTICES = 500
MAX_FLOOR_SIDE_M = 2_000.0
MIN_FLOOR = -20
MAX_FLOOR = 200
MAX_BUILDING = 1_000
MAX_ZONE_ITEMS = 1_000
# A zone id is chosen by the caller and appears in URLs: a slug.
ZONE_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
BEACON_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
BSSID = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
# Received signal strengths a radio can report, in dBm.
MIN_RSSI_DBM = -120.0
MAX_RSSI_DBM = 0.0


@dataclass(frozen=True)
class FloorPlan:
    floor: int
    name: str
    width_m: float
    height_m: float
    walkable: tuple[tuple[Point, ...], ...] = ()
    obstacles: tuple[tuple[Point, ...], ...] = ()

    def is_walkable(self, point: Point) -> bool:
        x, y = point
        if not (0 <= x <= self.width_m and 0 <= y <= self.height_m):
            return False
        if self.walkable and not any(contains(area, point) for area in self.walkable):
            return False
        return not any(contains(obstacle, point) for obstacle in self.obstacles)

    def holds(self, point: Point) -> bool:
        return 0 <= point[0] <= self.width_m and 0 <= point[1] <= self.height_m


@dataclass(frozen=True)
class Venue:
    store_id: str
    building: int
    floors: tuple[FloorPlan, ...]

    def floor(self, number: int) -> FloorPlan | None:
        return next((f for f in self.floors if f.floor == number), None)


@dataclass(frozen=True)
class Zone:
    store_id: str
    zone_id: str
    name: str
    floor: int
    area: tuple[Point, ...]
    brand: str = ""
    category: str = ""
    skus: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    def holds(self, point: Point) -> bool:
        return contains(self.area, point)


@dataclass(frozen=True)
class Beacon:
    beacon_id: str
    store_id: str
    uuid: str
    major: int
    minor: int
    floor: int
    position: Point
    measured_power_dbm: float


@dataclass(frozen=True)
class AccessPoint:
    access_point_id: str
    store_id: str
    bssid: str
    ssid: str
    floor: int
    position: Point | None


@dataclass
class Problems:
    """Field path -> what is wrong, in the order found (mapped to field violations)."""

    items: list[tuple[str, str]] = field(default_factory=list)

    def add(self, path: str, description: str) -> None:
        self.items.append((path, description))


def check_polygon(problems: Problems, path: str, polygon: Polygon, floor: FloorPlan | None) -> None:
    if len(polygon) > MAX_VERTICES:
        problems.add(path, f"must have at most {MAX_VERTICES} vertices")
        return
    problem = simplicity_problem(polygon)
    if problem:
        problems.add(path, problem)
        return
    if floor is not None and not inside_rectangle(polygon, floor.width_m, floor.height_m):
        problems.add(path, f"must lie inside the floor ({floor.width_m:g} m x {floor.height_m:g} m)")


def check_floor(problems: Problems, path: str, plan: FloorPlan) -> None:
    if not MIN_FLOOR <= plan.floor <= MAX_FLOOR:
        problems.add(f"{path}.floor", f"must be between {MIN_FLOOR} and {MAX_FLOOR}")
    for name, value in (("width_m", plan.width_m), ("height_m", plan.height_m)):
        if not 0 < value <= MAX_FLOOR_SIDE_M:
            problems.add(f"{path}.{name}", f"must be more than 0 and at most {MAX_FLOOR_SIDE_M:g} metres")
    sized = plan if 0 < plan.width_m <= MAX_FLOOR_SIDE_M and 0 < plan.height_m <= MAX_FLOOR_SIDE_M else None
    for kind, polygons in (("walkable", plan.walkable), ("obstacles", plan.obstacles)):
        if len(polygons) > MAX_POLYGONS:
            problems.add(f"{path}.{kind}", f"must hold at most {MAX_POLYGONS} polygons")
            continue
        for index, polygon in enumerate(polygons):
            check_polygon(problems, f"{path}.{kind}[{index}].vertices", polygon, sized)


def check_venue(venue: Venue) -> Problems:
    problems = Problems()
    if not 0 <= venue.building <= MAX_BUILDING:
        problems.add("venue.building", f"must be between 0 and {MAX_BUILDING}")
    if not venue.floors:
        problems.add("venue.floors", "is required")
    if len(venue.floors) > MAX_FLOORS:
        problems.add("venue.floors", f"must hold at most {MAX_FLOORS} floors")
        return problems
    seen: set[int] = set()
    for index, plan in enumerate(venue.floors):
        check_floor(problems, f"venue.floors[{index}]", plan)
        if plan.floor in seen:
            problems.add(f"venue.floors[{index}].floor", f"floor {plan.floor} is given twice")
        seen.add(plan.floor)
    return problems


def check_zone(zone: Zone, venue: Venue) -> Problems:
    """The zone's area against the venue's floor (the venue must exist: checked before)."""
    problems = Problems()
    plan = venue.floor(zone.floor)
    if plan is None:
        problems.add("zone.floor", f"floor {zone.floor} is not a floor of the store's venue")
    check_polygon(problems, "zone.area.vertices", zone.area, plan)
    return problems


def check_position(problems: Problems, path: str, floor_path: str, venue: Venue, floor: int, point: Point) -> None:
    plan = venue.floor(floor)
    if plan is None:
        problems.add(floor_path, f"floor {floor} is not a floor of the store's venue")
    elif not plan.holds(point):
        problems.add(path, f"must lie inside the floor ({plan.width_m:g} m x {plan.height_m:g} m)")
