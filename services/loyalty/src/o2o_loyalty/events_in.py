"""Events loyalty consumes, turned into the use cases' values at the edge."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp
from o2o.events.v1 import (
    envelope_pb2,
    identity_events_pb2,
    positioning_events_pb2,
    receipts_events_pb2,
    recs_events_pb2,
)
from o2o_runtime.events import Delivered
from o2o_runtime.timeutil import utcnow
from o2o_runtime.uow import UnitOfWork
from o2o_runtime.wellknown import OutOfRange, from_timestamp

from o2o_loyalty.app import earning, members
from o2o_loyalty.app.campaigns import Campaigns, Occasion
from o2o_loyalty.app.earning import Refund
from o2o_loyalty.app.referrals import reward_first_purchase
from o2o_loyalty.domain.campaigns import TriggerKind
from o2o_loyalty.domain.earning import Sale, SaleLine
from o2o_loyalty.store import Repository

Sold = receipts_events_pb2.ReceiptIssued | receipts_events_pb2.ReceiptClaimed
Envelope = envelope_pb2.Envelope
Uow = UnitOfWork[Repository]


def _moment(message: object, name: str) -> Timestamp | None:
    return getattr(message, name) if message.HasField(name) else None  # type: ignore[attr-defined]


def moment(stamp: Timestamp | None) -> datetime:
    """An event's time; a missing or impossible one is taken as now."""
    if stamp is None:
        return utcnow()
    try:
        return from_timestamp(stamp)
    except OutOfRange:
        return utcnow()


def sale_of(event: Sold) -> Sale:
    return Sale(
        receipt_id=event.receipt_id,
        member_id=event.member_id,
        store_id=event.store_id,
        occurred_at=moment(_moment(event, "occurred_time")),
        currency_code=event.total.currency_code,
        total_minor=event.total.amount_minor,
        lines=tuple(
            SaleLine(line.line_number, line.category, line.brand, line.amount.amount_minor) for line in event.lines
        ),
    )


def refund_of(event: receipts_events_pb2.ReceiptRefunded) -> Refund:
    lines: dict[int, int] = {}
    for line in event.lines:
        lines[line.line_number] = lines.get(line.line_number, 0) + abs(line.amount.amount_minor)
    return Refund(event.refund_receipt_id, event.original_receipt_id, lines, abs(event.total.amount_minor))


def attributes(event: identity_events_pb2.MemberRegistered | identity_events_pb2.MemberUpdated) -> dict[str, object]:
    return {
        "member_id": event.member_id,
        "birth_year": event.birth_year,
        "birth_month": event.birth_month,
        "birth_day": event.birth_day,
        "gender": int(event.gender),
        "income_band": int(event.income_band),
        "tags": list(event.tags),
    }


class EventHandlers:
    """The handlers of the consumed events, bound to the campaigns they may trigger."""

    def __init__(self, campaigns: Campaigns) -> None:
        self.campaigns = campaigns

    async def receipts_issued(self, uow: Uow, events: Sequence[Delivered[receipts_events_pb2.ReceiptIssued]]) -> None:
        await self._sold(uow, [event.payload for event in events])

    async def receipts_claimed(self, uow: Uow, events: Sequence[Delivered[receipts_events_pb2.ReceiptClaimed]]) -> None:
        await self._sold(uow, [event.payload for event in events])

    async def _sold(self, uow: Uow, events: Sequence[Sold]) -> None:
        """A run of sales of one fetched batch, earned together; then, sale by sale, the
        referral it completes and the campaigns it sets off."""
        done = await earning.earn(uow, [sale_of(event) for event in events])
        await uow.repo.read_referrals_of([earned.sale.member_id for earned in done])
        for earned in done:
            sale = earned.sale
            now = utcnow()
            await reward_first_purchase(uow, earned.member, now)
            occasion = Occasion(
                member_id=sale.member_id,
                trigger=TriggerKind.PURCHASE,
                key=f"receipt:{sale.receipt_id}",
                store_id=sale.store_id,
                receipt_id=sale.receipt_id,
                spend_minor=sale.total_minor,
                currency_code=sale.currency_code,
                earned_points=earned.points,
            )
            await self.campaigns.trigger(uow, occasion, now, earned.member)

    async def receipt_refunded(self, uow: Uow, event: receipts_events_pb2.ReceiptRefunded, _envelope: Envelope) -> None:
        await earning.refund(uow, refund_of(event))

    async def dwell_reached(
        self, uow: Uow, event: positioning_events_pb2.ZoneDwellReached, _envelope: Envelope
    ) -> None:
        # Positioning names the member only with location consent; loyalty checks its own too.
        if not event.member_id:
            return
        entered = moment(_moment(event, "enter_time"))
        occasion = Occasion(
            member_id=event.member_id,
            trigger=TriggerKind.ZONE_DWELL,
            key=f"stay:{event.zone_id}:{entered.isoformat()}",
            store_id=event.store_id,
            zone_id=event.zone_id,
            dwell_seconds=max(event.threshold_seconds, int(event.dwell_seconds)),
        )
        await self.campaigns.trigger(uow, occasion, utcnow())

    async def member_registered(
        self, uow: Uow, event: identity_events_pb2.MemberRegistered, _envelope: Envelope
    ) -> None:
        await members.remember(uow, attributes(event), {int(c) for c in event.consents})

    async def member_updated(self, uow: Uow, event: identity_events_pb2.MemberUpdated, _envelope: Envelope) -> None:
        await members.remember(uow, attributes(event), None)

    async def consent_changed(self, uow: Uow, event: identity_events_pb2.ConsentChanged, _envelope: Envelope) -> None:
        await members.consent(
            uow, event.member_id, int(event.purpose), event.granted, moment(_moment(event, "update_time"))
        )

    async def tags_inferred(self, uow: Uow, event: recs_events_pb2.CustomerTagsChanged, _envelope: Envelope) -> None:
        await members.inferred(uow, event.member_id, list(event.tags))

    async def member_erased(self, uow: Uow, event: identity_events_pb2.MemberErased, _envelope: Envelope) -> None:
        await members.forget(uow, event.member_id)
