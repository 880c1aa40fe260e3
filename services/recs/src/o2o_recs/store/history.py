"""Writes of the history: each kind of row of a batch in one statement."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from o2o_runtime.statements import Queries
from o2o_runtime.upsert import insert_new, upsert
from sqlalchemy import Table, bindparam, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import SQLModel, col

from o2o_recs.domain.history import Effects, SoldLine
from o2o_recs.store.tables import (
    ItemRow,
    MemberCategoryRow,
    MemberItemRow,
    MemberRow,
    MemberStoreRow,
    PairRow,
    ReceiptLineRow,
    ReceiptRow,
    StockMarkRow,
    StoreItemRow,
)


def _table(model: type[SQLModel]) -> Table:
    return SQLModel.metadata.tables[str(model.__tablename__)]


@functools.cache
def _members_upsert(dialect: str) -> Any:
    """Member totals: amounts add up, the first purchase is kept, the last one moves on."""
    table = _table(MemberRow)
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    return statement.on_conflict_do_update(
        index_elements=["member_id"],
        set_={
            "spend_minor": table.c.spend_minor + statement.excluded.spend_minor,
            "visits": table.c.visits + statement.excluded.visits,
            "currency_code": statement.excluded.currency_code,
            "first_at": func.coalesce(table.c.first_at, statement.excluded.first_at),
            "last_at": statement.excluded.last_at,
        },
    )


def _returned(model: type[SQLModel], keys: Sequence[str], amounts: Sequence[str]) -> Any:
    table = _table(model)
    return (
        update(table)
        .where(*(table.c[key] == bindparam(f"k_{key}") for key in keys))
        .values({name: table.c[name] + bindparam(f"a_{name}") for name in amounts})
    )


def _params(rows: Iterable[Mapping[str, Any]], keys: Sequence[str], amounts: Sequence[str]) -> list[dict[str, Any]]:
    return [{**{f"k_{k}": row[k] for k in keys}, **{f"a_{a}": row[a] for a in amounts}} for row in rows]


class HistoryWrites(Queries):
    async def new_receipts(self, rows: Sequence[Mapping[str, Any]]) -> set[str]:
        """Inserts the receipts not counted before; returns the ids it inserted."""
        return {str(key[0]) for key in await insert_new(self.session, ReceiptRow, rows, keys=["receipt_id"])}

    async def receipt_members(self, receipt_ids: Sequence[str]) -> dict[str, str]:
        if not receipt_ids:
            return {}
        statement = select(col(ReceiptRow.receipt_id), col(ReceiptRow.member_id)).where(
            col(ReceiptRow.receipt_id).in_(receipt_ids)
        )
        return {str(r): str(m) for r, m in (await self.run(statement)).all()}

    async def assign_receipts(self, owners: Mapping[str, str]) -> None:
        if not owners:
            return
        table = _table(ReceiptRow)
        statement = update(table).where(table.c.receipt_id == bindparam("k")).values(member_id=bindparam("m"))
        await self.run(statement, [{"k": r, "m": m} for r, m in owners.items()])

    async def write(self, effects: Effects) -> None:
        s = self.session
        await insert_new(s, ReceiptLineRow, effects.lines, keys=["receipt_id", "line_number"])
        await upsert(s, ItemRow, list(effects.items.values()), keys=["sku"])
        await upsert(s, StoreItemRow, list(effects.store_items.values()), keys=["store_id", "sku"], add=["units"])
        await upsert(s, PairRow, list(effects.pairs.values()), keys=["sku", "other_sku"], add=["baskets"])
        await upsert(
            s,
            MemberItemRow,
            list(effects.member_items.values()),
            keys=["member_id", "sku"],
            add=["purchases", "units", "spend_minor"],
            replace=["last_at"],
        )
        await upsert(
            s,
            MemberCategoryRow,
            list(effects.member_categories.values()),
            keys=["member_id", "category"],
            add=["purchases", "spend_minor"],
        )
        await upsert(
            s, MemberStoreRow, list(effects.member_stores.values()), keys=["member_id", "store_id"], add=["visits"]
        )
        if effects.members:
            rows = [{"profiling": False, "social": False, "tags": [], **row} for row in effects.members.values()]
            await s.exec(
                _members_upsert(self.session.bind.dialect.name if self.session.bind else "sqlite"), params=rows
            )
        if effects.restocked:
            table = _table(StockMarkRow)
            statement = delete(table).where(
                table.c.store_id == bindparam("k_store"),
                table.c.sku == bindparam("k_sku"),
                table.c.marked_at < bindparam("k_at"),
            )
            await self.run(
                statement, [{"k_store": st, "k_sku": sku, "k_at": at} for (st, sku), at in effects.restocked.items()]
            )
        await self._write_returns(effects)

    async def _write_returns(self, effects: Effects) -> None:
        if effects.refunded_lines:
            table = _table(ReceiptLineRow)
            statement = (
                update(table)
                .where(table.c.receipt_id == bindparam("k_r"), table.c.line_number == bindparam("k_l"))
                .values(refunded=bindparam("v"))
            )
            latest = {(r["receipt_id"], r["line_number"]): r["refunded"] for r in effects.refunded_lines}
            await self.run(statement, [{"k_r": r, "k_l": n, "v": v} for (r, n), v in latest.items()])
        for model, rows, keys, amounts in (
            (MemberItemRow, effects.returned_member_items, ("member_id", "sku"), ("purchases", "units", "spend_minor")),
            (MemberRow, effects.returned_members, ("member_id",), ("spend_minor",)),
            (MemberCategoryRow, effects.returned_categories, ("member_id", "category"), ("purchases", "spend_minor")),
            (StoreItemRow, effects.returned_store_items, ("store_id", "sku"), ("units",)),
        ):
            if rows:
                await self.run(_returned(model, keys, amounts), _params(rows.values(), keys, amounts))

    async def sold_lines(self, receipt_ids: Sequence[str]) -> dict[tuple[str, int], SoldLine]:
        """The counted lines of these sales, with their member and the item's category."""
        if not receipt_ids:
            return {}
        statement = (
            select(
                col(ReceiptLineRow.receipt_id),
                col(ReceiptLineRow.line_number),
                col(ReceiptLineRow.sku),
                col(ReceiptLineRow.quantity),
                col(ReceiptLineRow.refunded),
                col(ReceiptRow.member_id),
                col(ItemRow.category),
            )
            .join(ReceiptRow, col(ReceiptRow.receipt_id) == col(ReceiptLineRow.receipt_id))
            .outerjoin(ItemRow, col(ItemRow.sku) == col(ReceiptLineRow.sku))
            .where(col(ReceiptLineRow.receipt_id).in_(receipt_ids))
        )
        return {
            (str(r), int(n)): SoldLine(str(r), int(n), str(sku), int(q), int(refunded), str(m), str(category or ""))
            for r, n, sku, q, refunded, m, category in (await self.run(statement)).all()
        }
