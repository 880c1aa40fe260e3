"""The trained models: rebuilt once across replicas (whoever holds the lease), stored in the
database where every replica loads them, and switched to by every replica at the same instant.

Reads never wait for a rebuild: a replica keeps serving its current model while the next one
is trained or loaded, then replaces it whole (one reference swap).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from o2o_runtime.errors import Aborted
from o2o_runtime.timeutil import as_utc, utcnow
from o2o_runtime.uow import UnitsOfWork

from o2o_recs.domain.taste import Interactions, TasteModel
from o2o_recs.store import Repository
from o2o_recs.store.tables import ModelRow

log = logging.getLogger("o2o.recs.models")
LEASE = "rebuild"


@dataclass(frozen=True)
class Built:
    version: int
    members: int
    items: int
    built_at: datetime
    activate_at: datetime
    build_seconds: float


def interactions_of(rows: list[tuple[str, str, int]]) -> Interactions:
    members: dict[str, int] = {}
    skus: dict[str, int] = {}
    r = np.empty(len(rows), np.int32)
    c = np.empty(len(rows), np.int32)
    n = np.empty(len(rows), np.float32)
    for i, (member, sku, count) in enumerate(rows):
        r[i] = members.setdefault(member, len(members))
        c[i] = skus.setdefault(sku, len(skus))
        n[i] = count
    return Interactions(list(members), list(skus), r, c, n)


class Models:
    def __init__(self, units: UnitsOfWork[Repository], *, switch_delay_s: float, lease_s: float) -> None:
        self.units = units
        self.switch_delay_s = switch_delay_s
        self.lease_s = lease_s
        self.holder = f"{socket.gethostname()}-{os.getpid()}"
        self.current = TasteModel.empty()
        self.current_version = 0
        self._pending: tuple[int, datetime, TasteModel] | None = None
        self._building = asyncio.Lock()

    @property
    def version(self) -> str:
        return str(self.current_version) if self.current_version else ""

    async def rebuild(self) -> Built:
        """Trains a new version from the whole history and stores it; refused while another
        replica's rebuild holds the lease."""
        async with self._building:
            now = utcnow()
            async with self.units() as uow:
                if not await uow.repo.take_lease(LEASE, self.holder, now, now + timedelta(seconds=self.lease_s)):
                    raise Aborted("a model rebuild is running already; retry when it has finished")
            try:
                return await self._build()
            finally:
                async with self.units() as uow:
                    await uow.repo.release_lease(LEASE, self.holder)

    async def _build(self) -> Built:
        started = time.monotonic()
        async with self.units.read() as repo:
            rows = await repo.interactions()
        data = interactions_of(rows)
        model = await asyncio.to_thread(TasteModel.train, data)
        blob = await asyncio.to_thread(model.to_bytes)
        seconds = time.monotonic() - started
        built_at = utcnow()
        activate_at = built_at + timedelta(seconds=self.switch_delay_s)
        async with self.units() as uow:
            version = await uow.repo.next_version()
            await uow.repo.store_model(
                ModelRow(
                    version=version,
                    built_at=built_at,
                    activate_at=activate_at,
                    members=len(data.member_ids),
                    items=len(data.skus),
                    build_seconds=seconds,
                    blob=blob,
                )
            )
        log.info(
            "model built", extra={"version": version, "members": len(data.member_ids), "seconds": round(seconds, 2)}
        )
        # This replica has it in hand already: no need to load it back.
        self._pending = (version, activate_at, model)
        return Built(version, len(data.member_ids), len(data.skus), built_at, activate_at, seconds)

    async def rebuild_if_stale(self, max_age_s: float) -> None:
        """The periodic rebuild: only when the newest version is older than max_age_s (so N
        replicas polling still build once), and only by the lease holder."""
        async with self.units.read() as repo:
            latest = await repo.latest_model()
        if latest is not None and (utcnow() - latest[2]).total_seconds() < max_age_s:
            return
        try:
            await self.rebuild()
        except Aborted:
            return

    async def refresh(self) -> None:
        """Loads the newest stored version ahead of its switch time, and switches to it once
        that time has come (every replica switches at the same instant)."""
        now = utcnow()
        async with self.units.read() as repo:
            latest = await repo.latest_model()
        if latest is None:
            return
        version, activate_at = latest[0], latest[1]
        pending = self._pending
        if version > self.current_version and (pending is None or pending[0] != version):
            async with self.units.read() as repo:
                row = await repo.model(version)
            if row is None:
                return
            model = await asyncio.to_thread(TasteModel.from_bytes, row.blob, str(version))
            self._pending = pending = (version, activate_at, model)
        if pending is not None and pending[0] > self.current_version and as_utc(pending[1]) <= now:
            self._switch(pending[0], pending[2])

    def _switch(self, version: int, model: TasteModel) -> None:
        model.version = str(version)
        self.current, self.current_version = model, version
        self._pending = None
        log.info("model switched", extra={"version": version})

    async def load_active(self) -> None:
        """At start-up: the version every other replica is serving now."""
        async with self.units.read() as repo:
            latest = await repo.latest_model(before=utcnow())
            row = await repo.model(latest[0]) if latest else None
        if row is not None:
            self._switch(row.version, await asyncio.to_thread(TasteModel.from_bytes, row.blob, str(row.version)))

    async def watch(self, stop: asyncio.Event, interval_s: float) -> None:
        """Background: refresh until the service stops; the switch is timed to its instant."""
        while not stop.is_set():
            try:
                await self.refresh()
            except Exception:
                log.exception("model refresh failed")
            wait = interval_s
            if self._pending is not None:
                wait = min(wait, max((as_utc(self._pending[1]) - utcnow()).total_seconds(), 0.0))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(wait, 0.01))
