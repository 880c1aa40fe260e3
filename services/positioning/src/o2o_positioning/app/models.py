"""Each replica's estimators: a store's venue, zones, beacons and fitted survey, loaded once
and refitted when the store's version moves (checked at most every model_refresh_s)."""

from __future__ import annotations

import asyncio
import time

import numpy as np
from o2o_runtime.errors import FailedPrecondition
from o2o_runtime.uow import UnitsOfWork

from o2o_positioning.app.records import beacon_of, venue_of, zone_of
from o2o_positioning.domain.estimate import StoreModel
from o2o_positioning.domain.survey import Survey
from o2o_positioning.domain.wifi import FingerprintModel
from o2o_positioning.store import Repository
from o2o_positioning.store.tables import FingerprintRow

NO_VENUE = "NO_VENUE"


def fit(rows: list[FingerprintRow]) -> FingerprintModel | None:
    if not rows:
        return None
    aps = sorted({bssid for row in rows for bssid in row.wifi})
    if not aps:
        return None
    column = {ap: i for i, ap in enumerate(aps)}
    rssi = np.full((len(rows), len(aps)), np.nan, dtype=np.float32)
    for i, row in enumerate(rows):
        for bssid, value in row.wifi.items():
            rssi[i, column[bssid]] = value
    survey = Survey(
        ap_ids=tuple(aps),
        rssi=rssi,
        x=np.array([r.x for r in rows], dtype=np.float64),
        y=np.array([r.y for r in rows], dtype=np.float64),
        floor=np.array([r.floor for r in rows], dtype=np.int64),
        building=np.array([r.building for r in rows], dtype=np.int64),
    )
    return FingerprintModel(survey)


class Models:
    def __init__(self, units: UnitsOfWork[Repository], refresh_s: float) -> None:
        self.units = units
        self.refresh_s = refresh_s
        self._models: dict[str, tuple[StoreModel, float]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def invalidate(self, store_id: str) -> None:
        self._models.pop(store_id, None)

    async def get(self, store_id: str) -> StoreModel:
        held = self._models.get(store_id)
        if held is not None and time.monotonic() - held[1] < self.refresh_s:
            return held[0]
        async with self._locks.setdefault(store_id, asyncio.Lock()):
            held = self._models.get(store_id)
            if held is not None and time.monotonic() - held[1] < self.refresh_s:
                return held[0]
            async with self.units.read() as repo:
                venue = await repo.venue(store_id)
                if venue is None:
                    raise FailedPrecondition(
                        f"store {store_id!r} has no venue yet (UpsertVenue first)", NO_VENUE, store_id
                    )
                if held is not None and held[0].version == venue.survey_version:
                    self._models[store_id] = (held[0], time.monotonic())
                    return held[0]
                zones = await repo.zones(store_id)
                beacons = await repo.beacons(store_id)
                fingerprints = list(await repo.fingerprints(store_id))
            # Fitting is CPU work: off the event loop, so other streams keep flowing.
            wifi = await asyncio.to_thread(fit, fingerprints)
            model = StoreModel(
                venue=venue_of(venue),
                version=venue.survey_version,
                zones={z.zone_id: zone_of(z) for z in zones},
                beacons={(b.uuid, b.major, b.minor): beacon_of(b) for b in beacons},
                wifi=wifi,
            )
            self._models[store_id] = (model, time.monotonic())
            return model
