"""History from events: receipts (sales, claims, refunds), identity (consent, friends,
erasure) and positioning (zones). Receipt events are applied a whole batch at a time: the
consumer's one unit of work per batch, a few statements per batch."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from o2o.common.v1 import common_pb2
from o2o.events.v1 import envelope_pb2, identity_events_pb2, positioning_events_pb2, recs_events_pb2
from o2o.events.v1 import receipts_events_pb2 as receipts
from o2o_runtime.events import Delivered
from o2o_runtime.timeutil import utcnow
from o2o_runtime.uow import UnitOfWork
from o2o_runtime.wellknown import OutOfRange, from_timestamp

from o2o_recs.domain import tags as tagging
from o2o_recs.domain.history import Effects, Line, Refund, Sale, count_member_sale, count_refunds, count_sales
from o2o_recs.store import Repository, blank_member

Uow = UnitOfWork[Repository]


def _time(stamp: object) -> object:
    try:
        return from_timestamp(stamp)  # type: ignore[arg-type]
    except OutOfRange:
        return utcnow()


def _lines(lines: Iterable[receipts.ReceiptLine]) -> tuple[Line, ...]:
    return tuple(
        Line(
            line.line_number,
            line.sku,
            line.name,
            line.category,
            line.brand,
            line.quantity,
            line.unit_price.amount_minor,
            line.amount.amount_minor,
            line.amount.currency_code or line.unit_price.currency_code,
        )
        for line in lines
    )


def sale_of(event: receipts.ReceiptIssued | receipts.ReceiptClaimed) -> Sale:
    return Sale(event.receipt_id, event.store_id, event.member_id, _time(event.occurred_time), _lines(event.lines))  # type: ignore[arg-type]


def _unique(sales: Iterable[Sale]) -> list[Sale]:
    seen: dict[str, Sale] = {}
    for sale in sales:
        seen.setdefault(sale.receipt_id, sale)
    return list(seen.values())


async def _count_new(uow: Uow, sales: Sequence[Sale], effects: Effects) -> None:
    """Counts the sales not counted before (a receipt is counted once, however often its
    events arrive)."""
    rows = [
        {"receipt_id": s.receipt_id, "store_id": s.store_id, "member_id": s.member_id, "occurred_at": s.occurred_at}
        for s in sales
    ]
    inserted = await uow.repo.new_receipts(rows)
    count_sales(effects, [s for s in sales if s.receipt_id in inserted])


async def receipts_issued(uow: Uow, run: Sequence[Delivered[receipts.ReceiptIssued]]) -> None:
    effects = Effects()
    await _count_new(uow, _unique(sale_of(d.payload) for d in run), effects)
    await _finish(uow, effects)


async def receipts_claimed(uow: Uow, run: Sequence[Delivered[receipts.ReceiptClaimed]]) -> None:
    """A sale linked to its member later: into the member's history once. A claim of a sale
    never seen (older than the stream) counts the whole sale."""
    sales = [s for s in _unique(sale_of(d.payload) for d in run) if s.member_id]
    owners = await uow.repo.receipt_members([s.receipt_id for s in sales])
    effects = Effects()
    await _count_new(uow, [s for s in sales if s.receipt_id not in owners], effects)
    claimed = [s for s in sales if owners.get(s.receipt_id) == ""]
    for sale in claimed:
        count_member_sale(effects, sale)
    await uow.repo.assign_receipts({s.receipt_id: s.member_id for s in claimed})
    await _finish(uow, effects)


async def receipts_refunded(uow: Uow, run: Sequence[Delivered[receipts.ReceiptRefunded]]) -> None:
    refunds = [Refund(d.payload.original_receipt_id, d.payload.member_id, _lines(d.payload.lines)) for d in run]
    sold = await uow.repo.sold_lines(sorted({r.original_receipt_id for r in refunds}))
    effects = Effects()
    count_refunds(effects, refunds, sold)
    await _finish(uow, effects)


async def _finish(uow: Uow, effects: Effects) -> None:
    await uow.repo.write(effects)
    await retag(uow, sorted(effects.members_touched))


async def retag(uow: Uow, member_ids: Sequence[str]) -> None:
    """Infers the members' tags again; a change of tags is published for loyalty's segments.
    Without profiling consent a member has no tags."""
    members, categories = await uow.repo.tag_inputs(member_ids)
    changed: dict[str, list[dict[str, object]]] = {}
    for member_id, row in members.items():
        inferred = [t.as_row() for t in tagging.infer(categories.get(member_id, {}))] if row.profiling else []
        if inferred == row.tags:
            continue
        changed[member_id] = inferred
        if tagging.tag_names(inferred) != tagging.tag_names(row.tags):
            uow.emit(
                recs_events_pb2.CustomerTagsChanged(member_id=member_id, tags=tagging.tag_names(inferred)), member_id
            )
    await uow.repo.set_tags(changed)


# ---- identity -------------------------------------------------------------------------------


async def member_registered(
    uow: Uow, event: identity_events_pb2.MemberRegistered, envelope: envelope_pb2.Envelope
) -> None:
    consents = set(event.consents)
    row = blank_member(
        event.member_id,
        profiling=common_pb2.CONSENT_PURPOSE_PROFILING in consents,
        social=common_pb2.CONSENT_PURPOSE_SOCIAL in consents,
    )
    await uow.repo.set_consents([row], ["profiling", "social"])


async def consent_changed(uow: Uow, event: identity_events_pb2.ConsentChanged, envelope: envelope_pb2.Envelope) -> None:
    column = {common_pb2.CONSENT_PURPOSE_PROFILING: "profiling", common_pb2.CONSENT_PURPOSE_SOCIAL: "social"}.get(
        event.purpose
    )
    if column is None:
        return
    await uow.repo.set_consents([blank_member(event.member_id, **{column: event.granted})], [column])
    if column == "profiling":
        await retag(uow, [event.member_id])


async def friend_link_changed(
    uow: Uow, event: identity_events_pb2.FriendLinkChanged, envelope: envelope_pb2.Envelope
) -> None:
    pair = [(event.member_id, event.friend_member_id)]
    if event.linked:
        await uow.repo.link_friends(pair)
    else:
        await uow.repo.unlink_friends(pair)


async def member_erased(uow: Uow, event: identity_events_pb2.MemberErased, envelope: envelope_pb2.Envelope) -> None:
    await uow.repo.forget_member(event.member_id)


# ---- positioning ----------------------------------------------------------------------------


def _zone_row(event: positioning_events_pb2.ZoneEntered | positioning_events_pb2.ZoneDwelled) -> dict[str, object]:
    return {
        "zone_id": event.zone_id,
        "store_id": event.store_id,
        "category": event.zone_category,
        "brand": event.zone_brand,
    }


async def zones_entered(uow: Uow, run: Sequence[Delivered[positioning_events_pb2.ZoneEntered]]) -> None:
    zones = {d.payload.zone_id: _zone_row(d.payload) for d in run if d.payload.zone_id}
    # Positioning names the member only with location consent; the last entry wins.
    members = {
        d.payload.member_id: {
            "member_id": d.payload.member_id,
            "zone_id": d.payload.zone_id,
            "store_id": d.payload.store_id,
            "entered_at": _time(d.payload.enter_time),
            "left_at": None,
        }
        for d in run
        if d.payload.member_id and d.payload.zone_id
    }
    await uow.repo.place(list(zones.values()), list(members.values()))


async def zones_dwelled(uow: Uow, run: Sequence[Delivered[positioning_events_pb2.ZoneDwelled]]) -> None:
    zones = {d.payload.zone_id: _zone_row(d.payload) for d in run if d.payload.zone_id}
    await uow.repo.place(list(zones.values()), [])
    await uow.repo.leave(
        [(d.payload.member_id, d.payload.zone_id, _time(d.payload.exit_time)) for d in run if d.payload.member_id]  # type: ignore[misc]
    )
