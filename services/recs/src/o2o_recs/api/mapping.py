"""Values of the use cases as messages."""

from __future__ import annotations

from o2o.common.v1 import common_pb2
from o2o.recs.v1 import recs_pb2 as pb
from o2o_runtime.timeutil import as_utc
from o2o_runtime.wellknown import to_timestamp

from o2o_recs.app import Answer, Profile
from o2o_recs.store.tables import KIND_REPLENISHABLE, ItemRow


def item_pb(row: ItemRow) -> pb.CatalogItem:
    return pb.CatalogItem(
        sku=row.sku,
        name=row.name,
        category=row.category,
        brand=row.brand,
        price=common_pb2.Money(amount_minor=row.price_minor, currency_code=row.currency_code)
        if row.currency_code
        else None,
        active=row.active,
        replenishable=row.kind == KIND_REPLENISHABLE,
        update_time=to_timestamp(as_utc(row.update_time)),
    )


def recommendations_pb(answer: Answer) -> list[pb.Recommendation]:
    return [
        pb.Recommendation(
            item=item_pb(answer.items[pick.sku]),
            score=pick.score,
            reason=pb.ReasonCode.ValueType(pick.reason),
            because_sku=pick.because_sku,
        )
        for pick in answer.picks
    ]


def profile_pb(profile: Profile) -> pb.CustomerProfile:
    def money(amount: int) -> common_pb2.Money:
        return common_pb2.Money(amount_minor=amount, currency_code=profile.currency_code)

    return pb.CustomerProfile(
        member_id=profile.member_id,
        total_spend=money(profile.spend_minor),
        purchases=profile.purchases,
        purchase_interval_days=profile.interval_days,
        last_purchase_time=to_timestamp(profile.last_purchase),
        favourite_categories=[
            pb.CategoryAffinity(category=c, spend=money(spend), purchases=n) for c, spend, n in profile.categories
        ],
        favourite_stores=[pb.StoreAffinity(store_id=s, visits=v) for s, v in profile.stores],
        tags=[
            pb.CustomerTag(tag=str(t["tag"]), confidence=float(t["confidence"]), evidence=str(t["evidence"]))  # type: ignore[arg-type]
            for t in profile.tags
        ],
    )
