"""Serving: gathers what the blend needs for one request in a few indexed reads, then runs the
pure blend (domain.recommend), the same code the evaluation command measures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from o2o_runtime.cache import TtlCache
from o2o_runtime.timeutil import utcnow
from o2o_runtime.uow import UnitsOfWork

from o2o_recs.app.models import Models
from o2o_recs.domain.recommend import Context, ItemFacts, Pick, Reason, candidate_skus, recommend
from o2o_recs.domain.replenish import HistoryItem
from o2o_recs.store import Repository
from o2o_recs.store.reading import MemberFacts, member_facts, out_of_stock
from o2o_recs.store.tables import KIND_ONE_OFF, ItemRow

# How many candidates each source proposes.
SOURCE_DEPTH = 50
RECENT_SEEDS = 10
# Pairs read for the bought-together source, across all its seeds.
TOGETHER_DEPTH = SOURCE_DEPTH * 4
# A zone entry older than this no longer says where the member is.
ZONE_FRESH = timedelta(hours=2)
# Best sellers, item pairs, zone shelves and catalog facts change slowly: each replica keeps them
# this long, so a request reads only what is the member's own (stock marks are read fresh every
# time).
SHARED_TTL_S = 5.0
CACHED_ITEMS = 200_000


@dataclass(frozen=True)
class RecommendationQuery:
    member_id: str
    store_id: str = ""
    zone_id: str = ""
    basket: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    limit: int = 10


@dataclass
class Answer:
    picks: list[Pick]
    items: dict[str, ItemRow] = field(default_factory=dict)
    model_version: str = ""


def _together(rows: Sequence[tuple[str, str, int]], weights: dict[str, float]) -> list[tuple[str, float, str]]:
    strength: dict[str, float] = {}
    because: dict[str, tuple[float, str]] = {}
    for seed, other, baskets in rows:
        amount = baskets * weights.get(seed, 1.0)
        strength[other] = strength.get(other, 0.0) + amount
        if other not in because or amount > because[other][0]:
            because[other] = (amount, seed)
    ordered = sorted(strength.items(), key=lambda pair: (-pair[1], pair[0]))
    return [(sku, value, because[sku][1]) for sku, value in ordered]


def _facts(row: ItemRow) -> ItemFacts:
    return ItemFacts(row.sku, row.category, row.active, row.kind == KIND_ONE_OFF)


def _in_stock(items: dict[str, ItemFacts], out_of_stock: set[str]) -> dict[str, ItemFacts]:
    for sku in out_of_stock & items.keys():
        items[sku] = replace(items[sku], in_stock=False)
    return items


class Recommending:
    def __init__(self, units: UnitsOfWork[Repository], models: Models) -> None:
        self.units = units
        self.models = models
        self._popular: TtlCache[str, list[tuple[str, int]]] = TtlCache(10_000, SHARED_TTL_S)
        # A catalog row with its facts for the blend (None: not in the catalog).
        self._items: TtlCache[str, tuple[ItemRow, ItemFacts] | None] = TtlCache(CACHED_ITEMS, SHARED_TTL_S)
        self._neighbours: TtlCache[str, list[tuple[str, int]]] = TtlCache(CACHED_ITEMS, SHARED_TTL_S)
        self._shelves: TtlCache[tuple[str, str, str], list[tuple[str, int]]] = TtlCache(10_000, SHARED_TTL_S)

    async def _best_sellers(self, repo: Repository, store_id: str) -> list[tuple[str, int]]:
        async def load() -> list[tuple[str, int]]:
            return await repo.popular(store_id, SOURCE_DEPTH)

        return await self._popular.get_or_load(store_id, load)

    async def _catalog(self, repo: Repository, skus: Sequence[str]) -> dict[str, tuple[ItemRow, ItemFacts]]:
        """Catalog rows and facts of the skus (those in the catalog), from the cache where it has them."""
        cached, missing = self._items.get_many(skus)
        found = {sku: entry for sku, entry in cached.items() if entry is not None}
        if missing:
            loaded = await repo.items(missing)
            for sku in missing:
                row = loaded.get(sku)
                entry = None if row is None else (row, _facts(row))
                self._items.put(sku, entry)
                if entry is not None:
                    found[sku] = entry
        return found

    async def recommend(self, query: RecommendationQuery) -> Answer:
        now = utcnow()
        model = self.models.current
        async with self.units.read() as repo:
            # One round trip for everything of the member's own; the shared lists come from memory.
            member = await member_facts(self.units.database, query.member_id, query.zone_id)
            personal = member is not None and member.profiling
            context = Context(now=now, limit=query.limit, basket=query.basket, exclude=query.exclude)
            popular: Sequence[tuple[str, float]] = await self._best_sellers(repo, query.store_id)
            if len(popular) < query.limit and query.store_id:
                # A new store sells little yet: the chain's best sellers fill in, after its own.
                popular = below_the_stores_own(popular, await self._best_sellers(repo, ""))
            context.popular = [(sku, float(units), "") for sku, units in popular]
            if personal:
                assert member is not None
                context.history = [HistoryItem(*row) for row in member.history]
                recent = [item.sku for item in sorted(context.history, key=lambda i: i.last_at, reverse=True)]
                seeds = dict.fromkeys(query.basket, 2.0) | {
                    sku: 1.0 for sku in recent[:RECENT_SEEDS] if sku not in query.basket
                }
                context.together = _together(await self._bought_with(repo, list(seeds)), seeds)
                context.taste = model.for_member(query.member_id, SOURCE_DEPTH, recent[:RECENT_SEEDS])
                if member.social:
                    context.friends = [
                        (sku, float(n), "") for sku, n in await repo.friends_bought(query.member_id, SOURCE_DEPTH)
                    ]
                context.zone = await self._zone(repo, query, member, now)
            skus = candidate_skus(context)
            catalog = await self._catalog(repo, sorted(skus))
            unavailable = await out_of_stock(self.units.database, query.store_id, sorted(catalog))
        context.items = _in_stock({sku: facts for sku, (_, facts) in catalog.items()}, unavailable)
        picks = recommend(context)
        return Answer(picks, {pick.sku: catalog[pick.sku][0] for pick in picks}, model.version)

    async def _bought_with(self, repo: Repository, seeds: Sequence[str]) -> list[tuple[str, str, int]]:
        """(seed, other, baskets) of the pairs most shared across the seeds, as the pair index
        would rank them; each seed's neighbours are kept in memory, the missing ones read at once."""
        lists: dict[str, list[tuple[str, int]]] = {}
        missing = []
        for seed in seeds:
            cached = self._neighbours.get(seed)
            if cached is None:
                missing.append(seed)
            else:
                lists[seed] = cached
        if missing:
            for seed, found in (await repo.neighbours(missing, TOGETHER_DEPTH)).items():
                self._neighbours.put(seed, found)
                lists[seed] = found
        rows = [(seed, other, baskets) for seed, found in lists.items() for other, baskets in found]
        rows.sort(key=lambda row: (-row[2], row[1]))
        return rows[:TOGETHER_DEPTH]

    async def _zone(
        self, repo: Repository, query: RecommendationQuery, member: MemberFacts, now: datetime
    ) -> list[tuple[str, float, str]]:
        if not query.zone_id:
            here = member.presence
            if here is None or here[3] is not None or here[2] < now - ZONE_FRESH:
                return []
            if query.store_id and here[1] != query.store_id:
                return []
        zone = member.zone
        if zone is None:
            return []

        async def load() -> list[tuple[str, int]]:
            return await repo.zone_items(zone.store_id, zone.category, zone.brand, SOURCE_DEPTH // 2)

        rows = await self._shelves.get_or_load((zone.store_id, zone.category, zone.brand), load)
        # Rank within the zone matters more than raw units: a slow shelf still fits the place.
        return [(sku, 1.0 / (1 + rank), "") for rank, (sku, _) in enumerate(rows)]

    async def similar(self, sku: str, limit: int) -> Answer:
        model = self.models.current
        proposals = [(other, score, sku) for other, score in model.similar(sku, limit * 3)]
        reason = Reason.SIMILAR
        async with self.units.read() as repo:
            if not proposals:
                seed = (await repo.items([sku])).get(sku)
                if seed is not None and seed.category:
                    proposals = [
                        (o, float(n) + 1, sku)
                        for o, n in await repo.category_items(seed.category, limit * 3)
                        if o != sku
                    ]
            if not proposals:
                reason = Reason.POPULAR_IN_STORE
                proposals = [(o, float(n), "") for o, n in await repo.popular("", limit * 3) if o != sku]
            items = await repo.items([o for o, _, _ in proposals])
        return Answer(_listed(proposals, items, set(), limit, reason), items, model.version)

    async def bought_together(self, sku: str, store_id: str, limit: int) -> Answer:
        async with self.units.read() as repo:
            proposals: list[tuple[str, float, str]] = [
                (o, float(n), sku) for _, o, n in await repo.together([sku], limit * 3)
            ]
            reason = Reason.BOUGHT_TOGETHER
            if not proposals:
                reason = Reason.POPULAR_IN_STORE
                popular = await repo.popular(store_id, limit * 3) or await repo.popular("", limit * 3)
                proposals = [(o, float(n), "") for o, n in popular if o != sku]
            candidates = [o for o, _, _ in proposals]
            items = await repo.items(candidates)
            unavailable = await out_of_stock(self.units.database, store_id, candidates)
        return Answer(_listed(proposals, items, unavailable, limit, reason), items, self.models.version)


def below_the_stores_own(
    store: Sequence[tuple[str, float]], chain: Sequence[tuple[str, int]]
) -> list[tuple[str, float]]:
    """The store's best sellers, then the chain's that the store does not list, scaled under the
    store's weakest, so that however much more the whole chain sells, a store's own best sellers
    stay first."""
    listed = {sku for sku, _ in store}
    floor = min((units for _, units in store), default=1)
    top = max((units for sku, units in chain if sku not in listed), default=0)
    fill = [(sku, floor * units / (top + 1)) for sku, units in chain if sku not in listed and units > 0]
    return [(sku, float(units)) for sku, units in store] + fill


def _listed(
    proposals: Sequence[tuple[str, float, str]],
    items: dict[str, ItemRow],
    out_of_stock: set[str],
    limit: int,
    reason: Reason,
) -> list[Pick]:
    """The proposals that are in the catalog, active and in stock, best first."""
    picks = []
    for sku, score, because in proposals:
        row = items.get(sku)
        if row is None or not row.active or sku in out_of_stock:
            continue
        picks.append(Pick(sku, round(score, 6), reason, because))
        if len(picks) == limit:
            break
    return picks
