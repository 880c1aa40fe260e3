"""Positioning's queries over one session (a unit of work's, or a read's). No rules live here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from o2o_runtime.pagination import PageRequest, keyset
from o2o_runtime.upsert import upsert, upsert_next_version
from sqlalchemy import delete, func, update
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from o2o_positioning.store.tables import (
    AccessPointRow,
    BeaconRow,
    DeviceRow,
    DwellTriggersRow,
    FingerprintRow,
    FixRow,
    LocationConsentRow,
    StayRow,
    TransitionRow,
    VenueRow,
    VisitRow,
    ZoneItemRow,
    ZoneRow,
)

DEVICE_KEY = ["store_id", "device_id"]
DEVICE_STATE = ["member_id", "track", "floor", "presence", "last_fix_at", "last_seen_at", "version"]


class Repository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, *rows: SQLModel) -> None:
        self.session.add_all(rows)

    # ---- venue -------------------------------------------------------------------------

    async def venue(self, store_id: str, *, for_update: bool = False) -> VenueRow | None:
        query = select(VenueRow).where(col(VenueRow.store_id) == store_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.exec(query)).first()

    async def bump_survey(self, store_id: str) -> None:
        await self.session.exec(
            update(VenueRow)
            .where(col(VenueRow.store_id) == store_id)
            .values(survey_version=col(VenueRow.survey_version) + 1)
        )

    async def zone(self, store_id: str, zone_id: str) -> ZoneRow | None:
        return await self.session.get(ZoneRow, (store_id, zone_id))

    async def zones(self, store_id: str, page: PageRequest | None = None) -> Sequence[ZoneRow]:
        query = select(ZoneRow).where(col(ZoneRow.store_id) == store_id)
        if page is None:
            return (await self.session.exec(query.order_by(col(ZoneRow.zone_id)))).all()
        return (await self.session.exec(keyset(query, [col(ZoneRow.zone_id)], page))).all()

    async def replace_zone_items(self, store_id: str, zone_id: str, items: Sequence[tuple[str, str]]) -> None:
        await self.session.exec(
            delete(ZoneItemRow).where(col(ZoneItemRow.store_id) == store_id, col(ZoneItemRow.zone_id) == zone_id)
        )
        rows = [{"store_id": store_id, "kind": k, "value": v, "zone_id": zone_id} for k, v in dict.fromkeys(items)]
        await upsert(self.session, ZoneItemRow, rows, keys=["store_id", "kind", "value", "zone_id"])

    async def zone_holding(self, store_id: str, kind: str, value: str) -> str:
        query = (
            select(col(ZoneItemRow.zone_id))
            .where(
                col(ZoneItemRow.store_id) == store_id, col(ZoneItemRow.kind) == kind, col(ZoneItemRow.value) == value
            )
            .order_by(col(ZoneItemRow.zone_id))
            .limit(1)
        )
        return str((await self.session.exec(query)).first() or "")

    async def beacon_by_identity(self, store_id: str, uuid: str, major: int, minor: int) -> BeaconRow | None:
        query = select(BeaconRow).where(
            col(BeaconRow.store_id) == store_id,
            col(BeaconRow.uuid) == uuid,
            col(BeaconRow.major) == major,
            col(BeaconRow.minor) == minor,
        )
        return (await self.session.exec(query)).first()

    async def beacons(self, store_id: str) -> Sequence[BeaconRow]:
        return (await self.session.exec(select(BeaconRow).where(col(BeaconRow.store_id) == store_id))).all()

    async def access_point_by_bssid(self, store_id: str, bssid: str) -> AccessPointRow | None:
        query = select(AccessPointRow).where(
            col(AccessPointRow.store_id) == store_id, col(AccessPointRow.bssid) == bssid
        )
        return (await self.session.exec(query)).first()

    async def add_fingerprints(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            await self.session.exec(FingerprintRow.__table__.insert(), params=list(rows))  # type: ignore[attr-defined]

    async def fingerprints(self, store_id: str) -> Sequence[FingerprintRow]:
        query = select(FingerprintRow).where(col(FingerprintRow.store_id) == store_id)
        return (await self.session.exec(query.order_by(col(FingerprintRow.fingerprint_id)))).all()

    # ---- devices -----------------------------------------------------------------------

    async def devices(
        self, keys: Sequence[tuple[str, str]], *, for_update: bool = False
    ) -> dict[tuple[str, str], dict[str, Any]]:
        """The live state of many devices as plain rows; locked (in key order, so two
        replicas locking overlapping batches never deadlock) when for_update."""
        if not keys:
            return {}
        table = DeviceRow.__table__  # type: ignore[attr-defined]
        query = (
            select(*table.c)
            .where(
                table.c.store_id.in_(sorted({s for s, _ in keys})),
                table.c.device_id.in_(sorted({d for _, d in keys})),
            )
            .order_by(table.c.store_id, table.c.device_id)
        )
        if for_update:
            query = query.with_for_update()
        rows = (await self.session.exec(query)).all()
        wanted = set(keys)
        found = {(row.store_id, row.device_id): dict(row._mapping) for row in rows}
        return {key: row for key, row in found.items() if key in wanted}

    async def save_devices(self, rows: Sequence[dict[str, Any]]) -> None:
        await upsert(self.session, DeviceRow, rows, keys=DEVICE_KEY, replace=DEVICE_STATE)

    async def save_devices_if_unchanged(self, rows: Sequence[dict[str, Any]]) -> set[tuple[str, str]]:
        """Writes each device's state only where the stored one is the version before it (or
        none is stored yet); the keys of those written by someone else meanwhile, left as
        they are."""
        if not rows:
            return set()
        written = await upsert_next_version(self.session, DeviceRow, rows, keys=DEVICE_KEY, replace=DEVICE_STATE)
        return {(row["store_id"], row["device_id"]) for row in rows} - {(str(s), str(d)) for s, d in written}

    async def add_fixes(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            await self.session.exec(FixRow.__table__.insert(), params=list(rows))  # type: ignore[attr-defined]

    async def latest_fix(self, store_id: str, device_id: str) -> DeviceRow | None:
        return await self.session.get(DeviceRow, (store_id, device_id))

    async def silent_devices(self, before: datetime, limit: int) -> Sequence[DeviceRow]:
        """Devices whose open visit saw its last fix before `before`; rows another replica is
        ending are skipped (PostgreSQL), so a visit ends once."""
        query = (
            select(DeviceRow)
            .where(col(DeviceRow.last_seen_at).is_not(None), col(DeviceRow.last_seen_at) < before)
            .order_by(col(DeviceRow.last_seen_at))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return (await self.session.exec(query)).all()

    async def location_consenting(self, member_ids: Sequence[str]) -> set[str]:
        """Those of the members who granted location consent."""
        if not member_ids:
            return set()
        query = select(col(LocationConsentRow.member_id)).where(
            col(LocationConsentRow.member_id).in_(sorted(set(member_ids))), col(LocationConsentRow.granted)
        )
        return {str(m) for m in (await self.session.exec(query)).all()}

    async def set_location_consent(self, member_id: str, granted: bool, at: datetime) -> None:
        row = await self.session.get(LocationConsentRow, member_id)
        if row is None:
            self.add(LocationConsentRow(member_id=member_id, granted=granted, changed_at=at))
        elif row.changed_at is None or at >= row.changed_at:
            row.granted, row.changed_at = granted, at
            self.add(row)

    async def unlink_member(self, member_id: str) -> None:
        """Erasure or withdrawn consent: the member's devices and history become anonymous."""
        for table in (FixRow, StayRow):
            await self.session.exec(update(table).where(col(table.member_id) == member_id).values(member_id=""))
        # A new version: a replica holding the device's state in memory reads it again.
        await self.session.exec(
            update(DeviceRow)
            .where(col(DeviceRow.member_id) == member_id)
            .values(member_id="", version=col(DeviceRow.version) + 1)
        )

    async def forget_member(self, member_id: str) -> None:
        await self.unlink_member(member_id)
        await self.session.exec(delete(LocationConsentRow).where(col(LocationConsentRow.member_id) == member_id))

    # ---- dwell triggers ------------------------------------------------------------------

    async def dwell_triggers_of(self, store_ids: Sequence[str]) -> dict[str, list[list[Any]]]:
        query = select(DwellTriggersRow).where(col(DwellTriggersRow.store_id).in_(sorted(set(store_ids))))
        return {row.store_id: row.triggers for row in (await self.session.exec(query)).all()}

    # ---- analytics -----------------------------------------------------------------------

    async def stays(self, store_id: str, start: datetime | None, end: datetime | None) -> Sequence[tuple[str, float]]:
        query = select(col(StayRow.zone_id), col(StayRow.dwell_s)).where(col(StayRow.store_id) == store_id)
        if start is not None:
            query = query.where(col(StayRow.exited_at) >= start)
        if end is not None:
            query = query.where(col(StayRow.exited_at) < end)
        return [(str(z), float(d)) for z, d in (await self.session.exec(query)).all()]

    async def transitions(
        self, store_id: str, start: datetime | None, end: datetime | None, limit: int
    ) -> list[tuple[str, str, int]]:
        count = func.count().label("n")
        query = select(col(TransitionRow.from_zone_id), col(TransitionRow.to_zone_id), count).where(
            col(TransitionRow.store_id) == store_id
        )
        if start is not None:
            query = query.where(col(TransitionRow.at) >= start)
        if end is not None:
            query = query.where(col(TransitionRow.at) < end)
        query = (
            query.group_by(col(TransitionRow.from_zone_id), col(TransitionRow.to_zone_id))
            .order_by(count.desc(), col(TransitionRow.from_zone_id), col(TransitionRow.to_zone_id))
            .limit(limit)
        )
        return [(str(a), str(b), int(n)) for a, b, n in (await self.session.exec(query)).all()]

    async def fix_positions(
        self, store_id: str, floor: int, start: datetime | None, end: datetime | None
    ) -> list[tuple[float, float]]:
        query = select(col(FixRow.x), col(FixRow.y)).where(col(FixRow.store_id) == store_id, col(FixRow.floor) == floor)
        if start is not None:
            query = query.where(col(FixRow.fix_at) >= start)
        if end is not None:
            query = query.where(col(FixRow.fix_at) < end)
        return [(float(x), float(y)) for x, y in (await self.session.exec(query)).all()]

    async def visit_starts(self, store_id: str, start: datetime, end: datetime) -> list[tuple[datetime, str]]:
        query = select(col(VisitRow.started_at), col(VisitRow.device_id)).where(
            col(VisitRow.store_id) == store_id, col(VisitRow.started_at) >= start, col(VisitRow.started_at) < end
        )
        return [(a, str(d)) for a, d in (await self.session.exec(query)).all()]

    async def delete_fixes_before(self, before: datetime, limit: int) -> int:
        ids = select(col(FixRow.fix_id)).where(col(FixRow.fix_at) < before).limit(limit)
        result = await self.session.exec(delete(FixRow).where(col(FixRow.fix_id).in_(ids.scalar_subquery())))
        return int(result.rowcount or 0)

    async def store_triggers(self, store_id: str, triggers: list[list[Any]], at: datetime) -> None:
        row = await self.session.get(DwellTriggersRow, store_id)
        if row is None:
            self.add(DwellTriggersRow(store_id=store_id, triggers=triggers, changed_at=at))
        elif row.changed_at is None or at >= row.changed_at:
            row.triggers, row.changed_at = triggers, at
            self.add(row)
