"""Navigation to a zone, or to the zone holding a product or a category."""

from __future__ import annotations

from dataclasses import dataclass

from o2o_runtime.errors import FailedPrecondition, InvalidArgument, NotFound
from o2o_runtime.uow import UnitsOfWork

from o2o_positioning.app.models import Models
from o2o_positioning.domain.navigation import NoPath, Route, route
from o2o_positioning.store import Repository

UNKNOWN_ITEM = "NOT_SHELVED"
NO_ROUTE = "NO_ROUTE"


@dataclass(frozen=True)
class Destination:
    zone_id: str = ""
    sku: str = ""
    category: str = ""


@dataclass(frozen=True)
class Start:
    floor: int
    point: tuple[float, float]


class Navigation:
    def __init__(self, units: UnitsOfWork[Repository], models: Models) -> None:
        self.uow = units
        self.models = models

    async def start_of_device(self, store_id: str, device_key_candidates: list[str]) -> Start:
        async with self.uow.read() as repo:
            for key in device_key_candidates:
                row = await repo.latest_fix(store_id, key)
                if row is not None and row.track:
                    return Start(row.floor, (row.track[0], row.track[1]))
        raise NotFound("device", "with no fix in this store")

    async def navigate(self, store_id: str, start: Start, to: Destination) -> tuple[str, Route]:
        model = await self.models.get(store_id)
        zone_id = to.zone_id
        if not zone_id:
            kind, value = ("sku", to.sku) if to.sku else ("category", to.category)
            async with self.uow.read() as repo:
                zone_id = await repo.zone_holding(store_id, kind, value)
            if not zone_id:
                raise FailedPrecondition(
                    f"no zone of the store holds {kind} {value!r}", UNKNOWN_ITEM, f"{kind}:{value}"
                )
        zone = model.zones.get(zone_id)
        if zone is None:
            raise NotFound("zone", zone_id)
        if zone.floor != start.floor:
            raise FailedPrecondition(
                f"zone {zone_id!r} is on floor {zone.floor}, the start on floor {start.floor}", NO_ROUTE, zone_id
            )
        plan = model.venue.floor(start.floor)
        grid = model.grid(start.floor)
        if plan is None or grid is None:
            raise InvalidArgument.field("position.floor", f"floor {start.floor} is not a floor of the store's venue")
        try:
            return zone_id, route(plan, start.point, zone, grid)
        except NoPath as problem:
            raise FailedPrecondition(str(problem), NO_ROUTE, zone_id) from None
