"""Returns: what may be refunded, and how much each returned unit gives back."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from o2o_runtime.errors import FailedPrecondition, FieldViolation, InvalidArgument

from o2o_receipts.domain.sales import Line, ReceiptKind


@dataclass(frozen=True, slots=True)
class RefundRequestLine:
    line_number: int
    quantity: int


@dataclass(frozen=True, slots=True)
class Refund:
    """The command a till or a manager sends: return units of a sale at a store's register."""

    original_id: str
    store_id: str
    register_id: str
    pos_transaction_number: str
    lines: Sequence[RefundRequestLine]
    reason: str = ""

    @property
    def fingerprint(self) -> str:
        """What makes a resubmission of the refund's key the same refund."""
        requested = "|".join(f"{r.line_number}:{r.quantity}" for r in self.lines)
        text = f"refund|{self.original_id}|{requested}|{self.store_id}|{self.register_id}|{self.pos_transaction_number}"
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class RefundedLine:
    original: Line
    quantity: int


def ensure_refundable(kind: int, sale_currency: str, store_id: str, store_currency: str) -> None:
    """Only a sale is refunded, and in the currency it was paid in."""
    if kind != ReceiptKind.SALE:
        raise FailedPrecondition("only a sale can be refunded", "NOT_A_SALE", "receipt_id")
    if sale_currency != store_currency:
        raise FailedPrecondition(
            f"the sale was in {sale_currency}; store {store_id} refunds in {store_currency}",
            "CURRENCY_MISMATCH",
            "store_id",
        )


def plan_refund(
    lines: Sequence[Line], already_refunded: Mapping[int, int], requested: Sequence[RefundRequestLine]
) -> list[RefundedLine]:
    """Never more than was bought, across every refund of the receipt: more than the line sold
    is bad input; within it but beyond what earlier refunds left, the receipt's state refuses."""
    by_number = {line.line_number: line for line in lines}
    problems: list[FieldViolation] = []
    planned: list[RefundedLine] = []
    exhausted: list[str] = []
    seen: set[int] = set()
    if not requested:
        problems.append(FieldViolation("lines", "must name at least one line to refund"))
    for index, item in enumerate(requested):
        where = f"lines[{index}]"
        original = by_number.get(item.line_number)
        if original is None:
            problems.append(FieldViolation(f"{where}.line_number", "is not a line of the receipt"))
            continue
        if item.line_number in seen:
            problems.append(FieldViolation(f"{where}.line_number", "is named twice"))
            continue
        seen.add(item.line_number)
        left = original.quantity - already_refunded.get(item.line_number, 0)
        if item.quantity <= 0:
            problems.append(FieldViolation(f"{where}.quantity", "must be positive"))
        elif item.quantity > original.quantity:
            problems.append(FieldViolation(f"{where}.quantity", f"exceeds the units sold ({original.quantity})"))
        elif item.quantity > left:
            # Within what was sold, but earlier refunds took the rest: the receipt's state refuses it.
            exhausted.append(f"{where}.quantity")
        else:
            planned.append(RefundedLine(original, item.quantity))
    if problems:
        raise InvalidArgument(problems)
    if exhausted:
        raise FailedPrecondition(
            "earlier refunds took what is left of the line", "REFUND_EXCEEDS_REMAINING", exhausted[0]
        )
    return planned


def refund_amounts(planned: Sequence[RefundedLine], already_refunded: Mapping[int, int]) -> list[int]:
    """Amount per refunded line; the last units of a line take the rounding remainder."""
    amounts = []
    for item in planned:
        line = item.original
        before = already_refunded.get(line.line_number, 0)
        after = before + item.quantity
        # Cumulative share of the line's amount: floor(amount * units / quantity).
        amounts.append(line.amount_minor * after // line.quantity - line.amount_minor * before // line.quantity)
    return amounts
