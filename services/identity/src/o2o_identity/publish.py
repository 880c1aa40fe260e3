"""What identity tells the rest of the platform: the event payloads of its changes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TypeVar

from o2o.events.v1 import identity_events_pb2 as events
from o2o_runtime.wellknown import to_timestamp

from o2o_identity.tables import AdvisorRow, MemberRow

Segment = TypeVar("Segment", events.MemberRegistered, events.MemberUpdated)


def _segment(row: MemberRow, event: type[Segment]) -> Segment:
    """The member's segment attributes, as MemberRegistered and MemberUpdated carry them."""
    return event(
        member_id=row.member_id,
        home_store_id=row.home_store_id,
        birth_year=row.birth_year,
        birth_month=row.birth_month,
        birth_day=row.birth_day,
        gender=row.gender,  # type: ignore[arg-type]
        income_band=row.income_band,  # type: ignore[arg-type]
        tags=list(row.tags),
    )


def member_registered(row: MemberRow, consents: Sequence[int]) -> events.MemberRegistered:
    registered = _segment(row, events.MemberRegistered)
    registered.consents.extend(consents)  # type: ignore[arg-type]
    return registered


def member_updated(row: MemberRow) -> events.MemberUpdated:
    return _segment(row, events.MemberUpdated)


def member_erased(member_id: str, erased_at: datetime) -> events.MemberErased:
    return events.MemberErased(member_id=member_id, erase_time=to_timestamp(erased_at))


def consent_changed(member_id: str, purpose: int, granted: bool, at: datetime) -> events.ConsentChanged:
    return events.ConsentChanged(
        member_id=member_id,
        purpose=purpose,  # type: ignore[arg-type]
        granted=granted,
        update_time=to_timestamp(at),
    )


def friend_link_changed(member_id: str, friend_member_id: str, linked: bool) -> events.FriendLinkChanged:
    return events.FriendLinkChanged(member_id=member_id, friend_member_id=friend_member_id, linked=linked)


def advisor_bound(row: AdvisorRow) -> events.AdvisorBound:
    return events.AdvisorBound(
        member_id=row.member_id, staff_id=row.staff_id, store_id=row.store_id, bind_time=to_timestamp(row.bound_at)
    )
