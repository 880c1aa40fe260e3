"""Storage rules on both databases, without servers: raw fixes past retention are deleted,
and an erased member is unlinked from devices, fixes and stays."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from o2o_positioning.app.retention import Retention
from o2o_positioning.store import Repository
from o2o_positioning.store.tables import DeviceRow, FixRow, LocationConsentRow, StayRow
from o2o_runtime.db import Database
from o2o_runtime.events import OutboxEvent
from o2o_runtime.ids import new_id
from o2o_runtime.timeutil import utcnow
from o2o_runtime.uow import UnitsOfWork
from sqlmodel import select

STORE = "0190a0a0-0000-7000-8000-000000000001"
MEMBER = "0190a0a0-0000-7000-8000-000000000002"


def _fix(age: timedelta, member: str = "") -> FixRow:
    return FixRow(
        fix_id=new_id(), store_id=STORE, device_id="d", member_id=member, floor=0, x=1, y=1, fix_at=utcnow() - age
    )


async def test_raw_fixes_are_deleted_after_the_retention_days(
    new_database: Callable[..., Awaitable[Database]],
) -> None:
    database = await new_database(FixRow, OutboxEvent)
    units = UnitsOfWork(database, "positioning", Repository)
    async with units() as uow:
        uow.repo.add(_fix(timedelta(days=31)), _fix(timedelta(days=40)), _fix(timedelta(days=29)))
    assert await Retention(units, timedelta(days=30)).purge() == 2
    async with units.read() as repo:
        left = (await repo.session.exec(select(FixRow))).all()
    assert len(left) == 1


async def test_an_erased_member_is_unlinked_everywhere(new_database: Callable[..., Awaitable[Database]]) -> None:
    database = await new_database(FixRow, DeviceRow, StayRow, LocationConsentRow, OutboxEvent)
    units = UnitsOfWork(database, "positioning", Repository)
    async with units() as uow:
        await uow.repo.set_location_consent(MEMBER, True, utcnow())
        uow.repo.add(
            _fix(timedelta(0), MEMBER),
            DeviceRow(store_id=STORE, device_id="d", member_id=MEMBER, track=[], presence={}),
            StayRow(
                stay_id=new_id(),
                store_id=STORE,
                zone_id="z",
                device_id="d",
                member_id=MEMBER,
                entered_at=utcnow(),
                exited_at=utcnow(),
                dwell_s=3,
            ),
        )
    async with units() as uow:
        assert await uow.repo.location_consenting([MEMBER]) == {MEMBER}
        await uow.repo.forget_member(MEMBER)
    async with units.read() as repo:
        assert await repo.location_consenting([MEMBER]) == set()
        fixes = (await repo.session.exec(select(FixRow))).all()
        devices = (await repo.session.exec(select(DeviceRow))).all()
        stays = (await repo.session.exec(select(StayRow))).all()
    assert [r.member_id for r in fixes] == [""]
    assert [r.member_id for r in devices] == [""]
    assert [r.member_id for r in stays] == [""]
