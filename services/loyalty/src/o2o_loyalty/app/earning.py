"""Points from receipts: a sale earns once (whichever of its events comes first, however often
they come), a refund takes back line by line, in whatever order the two arrive."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from o2o_runtime.ids import new_id
from o2o_runtime.timeutil import utcnow
from o2o_runtime.uow import UnitOfWork

from o2o_loyalty.app.documents import load_rules, load_tiers
from o2o_loyalty.app.ledger import MemberLedger, Source
from o2o_loyalty.app.tiers import review_tier, tier_of
from o2o_loyalty.domain import earning
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
    member: MemberLedger
    points: int


async def earn(uow: UnitOfWork[Repository], sale: Sale) -> Earned | None:
    """A sale (ReceiptIssued with a member, or ReceiptClaimed) earns its points, once; None
    when it had earned before (or has nobody to earn for)."""
    if not sale.member_id or sale.total_minor <= 0:
        return None
    now = utcnow()
    member = await MemberLedger.open(uow, sale.member_id, now)
    rules = await load_rules(uow.repo)
    ladder = await load_tiers(uow.repo)
    tier = tier_of(ladder, member.account.tier_id)
    lines = earning.line_points(rules, sale, member.account.tier_id, tier.factor_milli if tier else 0)
    points = sum(line.points for line in lines)
    entry_id = new_id() if points > 0 else ""
    claimed = await uow.repo.claim_receipt(
        {
            "receipt_id": sale.receipt_id,
            "member_id": sale.member_id,
            "store_id": sale.store_id,
            "currency_code": sale.currency_code,
            "total_minor": sale.total_minor,
            "points": points,
            "entry_id": entry_id,
            "month": month_key(sale.occurred_at),
            "lines": [line.as_json() for line in lines],
            "occurred_at": sale.occurred_at,
        }
    )
    if not claimed:
        return None
    await uow.repo.add_spend(sale.member_id, sale.currency_code, month_key(sale.occurred_at), sale.total_minor)
    if points > 0:
        member.credit(
            EntryKind.EARN,
            points,
            Source(SourceKind.RECEIPT, sale.receipt_id),
            available_at=sale.occurred_at + rules.pending_period,
            expire_at=sale.occurred_at + rules.expiry_period,
            entry_id=entry_id,
        )
    waiting = await uow.repo.waiting_refunds(sale.receipt_id)
    if waiting:
        earned = await uow.repo.earned(sale.receipt_id)
        assert earned is not None
        await _apply_refunds(member, earned, waiting)
    await review_tier(member, ladder, now)
    return Earned(member, points)


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


async def _apply_refunds(member: MemberLedger, earned: EarnedReceiptRow, refunds: list[RefundRow]) -> None:
    lines = [EarnedLine.from_json(line) for line in earned.lines]
    repo = member.uow.repo
    for row in refunds:
        points = earning.reverse(lines, {int(n): int(amount) for n, amount in row.lines})
        await repo.add_spend(earned.member_id, earned.currency_code, earned.month, -row.amount_minor)
        if points > 0:
            await member.take_back(
                EntryKind.REVERSE, points, Source(SourceKind.RECEIPT, row.refund_receipt_id), from_lot=earned.entry_id
            )
    await repo.set_earned_lines(earned.receipt_id, [line.as_json() for line in lines])
    await repo.mark_refunds_applied([row.refund_receipt_id for row in refunds])
