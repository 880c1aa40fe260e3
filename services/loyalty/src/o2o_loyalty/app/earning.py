"""Points from receipts: a sale earns once (whichever of its events comes first, however often
they come), a refund takes back line by line, in whatever order the two arrive."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from o2o_runtime.ids import new_id
from o2o_runtime.timeutil import utcnow
from o2o_runtime.uow import UnitOfWork

from o2o_loyalty.app.documents import load_rules, load_tiers
from o2o_loyalty.app.ledger import MemberLedger, Source
from o2o_loyalty.app.tiers import review_tier, tier_of
from o2o_loyalty.domain import earning
from o2o_loyalty.domain import tiers as tiering
from o2o_loyalty.domain.earning import EarnedLine, Sale
from o2o_loyalty.domain.ledger import EntryKind, SourceKind
from o2o_loyalty.domain.tiers import month_key
from o2o_loyalty.store import EarnedReceiptRow, RefundRow, Repository


@dataclass(frozen=True)
class Refund:
    refund_receipt_id: str
    original_receipt_id: str
    # The sale's line numbers and the amounts returned (positive, minor units).
    lines: Mapping[int, int]
    amount_minor: int


@dataclass(frozen=True)
class Earned:
    sale: Sale
    member: MemberLedger
    points: int


async def earn(uow: UnitOfWork[Repository], sales: Sequence[Sale]) -> list[Earned]:
    """The sales (ReceiptIssued with a member, or ReceiptClaimed) of a batch earn their points,
    each once, in their order; those that earned before (or have nobody to earn for) are left
    out. A few statements for the whole batch: the members' accounts (locked) and lots, the
    receipts earned before, the refunds waiting and the rolling spend are read once each;
    the receipts earned and the spend are written once each, the entries and lots at commit."""
    sales = [sale for sale in sales if sale.member_id and sale.total_minor > 0]
    if not sales:
        return []
    now = utcnow()
    repo = uow.repo
    member_ids = sorted({sale.member_id for sale in sales})
    members = await MemberLedger.open_many(uow, member_ids, now)
    rules = await load_rules(repo)
    ladder = await load_tiers(repo)
    receipt_ids = [sale.receipt_id for sale in sales]
    seen = await repo.earned_of(receipt_ids)
    waiting = await repo.waiting_refunds_of(receipt_ids)
    if ladder:
        await repo.read_spend(member_ids, ladder[0].currency_code, tiering.window_start(now))
    claimed: list[dict[str, Any]] = []
    applied: list[str] = []
    done: list[Earned] = []
    for sale in sales:
        if sale.receipt_id in seen:
            continue
        seen.add(sale.receipt_id)
        member = members[sale.member_id]
        tier = tier_of(ladder, member.account.tier_id)
        lines = earning.line_points(rules, sale, member.account.tier_id, tier.factor_milli if tier else 0)
        points = sum(line.points for line in lines)
        entry_id = new_id() if points > 0 else ""
        month = month_key(sale.occurred_at)
        repo.count_spend(sale.member_id, sale.currency_code, month, sale.total_minor)
        if points > 0:
            member.credit(
                EntryKind.EARN,
                points,
                Source(SourceKind.RECEIPT, sale.receipt_id),
                available_at=sale.occurred_at + rules.pending_period,
                expire_at=sale.occurred_at + rules.expiry_period,
                entry_id=entry_id,
            )
        refunds = waiting.get(sale.receipt_id, [])
        if refunds:
            # Refunds that came before their sale are applied now, before it is recorded.
            earned = Receipt(sale.member_id, sale.currency_code, month, entry_id)
            await _reverse(member, earned, lines, refunds, deferred=True)
            applied += [row.refund_receipt_id for row in refunds]
        claimed.append(
            {
                "receipt_id": sale.receipt_id,
                "member_id": sale.member_id,
                "store_id": sale.store_id,
                "currency_code": sale.currency_code,
                "total_minor": sale.total_minor,
                "points": points,
                "entry_id": entry_id,
                "month": month,
                "lines": [line.as_json() for line in lines],
                "occurred_at": sale.occurred_at,
            }
        )
        await review_tier(member, ladder, now)
        done.append(Earned(sale, member, points))
    if claimed and await repo.claim_receipts(claimed) != len(claimed):
        # Cannot happen while the members' accounts are locked; if it does, nothing is kept.
        raise RuntimeError("a receipt of the batch earned meanwhile")
    await repo.write_spend()
    await repo.mark_refunds_applied(applied)
    return done


async def refund(uow: UnitOfWork[Repository], returned: Refund) -> None:
    """A refund takes back the points of the lines returned, proportionally. If its sale has
    not earned yet (events out of order), it waits and is applied when the sale earns."""
    now = utcnow()
    recorded = await uow.repo.record_refund(
        {
            "refund_receipt_id": returned.refund_receipt_id,
            "original_receipt_id": returned.original_receipt_id,
            "lines": [[number, amount] for number, amount in returned.lines.items()],
            "amount_minor": returned.amount_minor,
            "applied": False,
            "created_at": now,
        }
    )
    if not recorded:
        return
    earned = await uow.repo.earned(returned.original_receipt_id)
    if earned is None:
        return
    member = await MemberLedger.open(uow, earned.member_id, now)
    waiting = await uow.repo.waiting_refunds(returned.original_receipt_id)
    await _apply_refunds(member, earned, waiting)
    await review_tier(member, await load_tiers(uow.repo), now)


@dataclass(frozen=True)
class Receipt:
    """What a refund needs of the sale it returns."""

    member_id: str
    currency_code: str
    month: int
    entry_id: str


async def _reverse(
    member: MemberLedger, earned: Receipt, lines: list[EarnedLine], refunds: list[RefundRow], *, deferred: bool
) -> None:
    """Takes back the points of the refunded lines (lines keep what is left to take back)."""
    repo = member.uow.repo
    for row in refunds:
        points = earning.reverse(lines, {int(n): int(amount) for n, amount in row.lines})
        if deferred:
            repo.count_spend(earned.member_id, earned.currency_code, earned.month, -row.amount_minor)
        else:
            await repo.add_spend(earned.member_id, earned.currency_code, earned.month, -row.amount_minor)
        if points > 0:
            await member.take_back(
                EntryKind.REVERSE, points, Source(SourceKind.RECEIPT, row.refund_receipt_id), from_lot=earned.entry_id
            )


async def _apply_refunds(member: MemberLedger, earned: EarnedReceiptRow, refunds: list[RefundRow]) -> None:
    lines = [EarnedLine.from_json(line) for line in earned.lines]
    receipt = Receipt(earned.member_id, earned.currency_code, earned.month, earned.entry_id)
    await _reverse(member, receipt, lines, refunds, deferred=False)
    await member.uow.repo.set_earned_lines(earned.receipt_id, [line.as_json() for line in lines])
    await member.uow.repo.mark_refunds_applied([row.refund_receipt_id for row in refunds])
