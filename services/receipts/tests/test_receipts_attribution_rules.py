"""Attribution's pure rules: which rule rates a line, who is the advisor at a moment, what a
refund takes back, and how the settlement of any set of stores nets to zero."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, date, datetime, timedelta

import pytest
from o2o_receipts import domain
from o2o_receipts.domain import (
    AdvisorBinding,
    AttributionRule,
    AttributionScope,
    Flow,
    Receipt,
    ReceiptKind,
    ReceiptLine,
    RefundedLine,
    RuleBook,
)
from o2o_runtime.errors import AlreadyExists, InvalidArgument

T0 = datetime(2026, 11, 1, tzinfo=UTC)
DAYS_180 = timedelta(days=180)
HOME, OTHER = "store-home", "store-other"


def rule(
    store: str, scope: AttributionScope, rate: int, key: str = "", channel: int = 0, **kw: object
) -> AttributionRule:
    values: dict[str, object] = {"window": DAYS_180, "shared_line_share_bp": 0, "effective_from": T0}
    values.update(kw)
    return AttributionRule(store, scope, key, channel, rate, **values)  # type: ignore[arg-type]


def line(number: int, amount: int, *, quantity: int = 1, brand: str = "acme", associate: str = "") -> ReceiptLine:
    return ReceiptLine(number, f"SKU-{number}", "", "baby", brand, quantity, amount // quantity, 0, amount, associate)


def sale(
    lines: tuple[ReceiptLine, ...], *, store: str = OTHER, channel: int = 3, at: datetime | None = None
) -> Receipt:
    total = sum(x.amount_minor for x in lines)
    moment = at or T0 + timedelta(days=10)
    return Receipt(
        "sale-1", store, "R1", "1", ReceiptKind.SALE, moment, date(2026, 11, 11), channel, "CNY",
        total, 0, total, sum(x.quantity for x in lines), "member-1", 1, "f", moment, lines, (),
    )  # fmt: skip


def binding(staff: str = "advisor", bound: datetime = T0, served: datetime | None = None) -> AdvisorBinding:
    return AdvisorBinding("member-1", staff, HOME, bound, served or bound)


def test_the_most_specific_rule_rates_a_line_and_the_advisors_store_wins_a_tie() -> None:
    book = RuleBook(
        [
            rule("", AttributionScope.DEFAULT, 100),
            rule(HOME, AttributionScope.DEFAULT, 200),
            rule("", AttributionScope.CHANNEL, 300, channel=3),
            rule("", AttributionScope.BRAND, 900, key="lux"),
            rule(HOME, AttributionScope.CATEGORY, 400, key="baby", effective_from=T0 + timedelta(days=20)),
        ]
    )
    at = T0 + timedelta(days=10)
    assert book.rule_for(HOME, line(1, 100, brand="lux"), 3, at).rate_bp == 900  # type: ignore[union-attr]
    assert book.rule_for(HOME, line(1, 100), 3, at).rate_bp == 300  # type: ignore[union-attr]
    assert book.rule_for(HOME, line(1, 100), 1, at).rate_bp == 200  # type: ignore[union-attr]
    assert book.rule_for(OTHER, line(1, 100), 1, at).rate_bp == 100  # type: ignore[union-attr]
    # The category rule is not in force yet; from its day on it beats the channel.
    assert book.rule_for(HOME, line(1, 100), 3, T0 + timedelta(days=21)).rate_bp == 400  # type: ignore[union-attr]
    assert book.rule_for(HOME, line(1, 100), 1, T0 - timedelta(days=1)) is None


def test_lines_are_attributed_as_the_rules_say() -> None:
    book = RuleBook([rule(HOME, AttributionScope.DEFAULT, 500, shared_line_share_bp=5_000)])
    lines = (line(1, 1_001), line(2, 2_000, associate="colleague"), line(3, 3_000, associate="advisor"))
    attributed = domain.attribute(sale(lines), binding(), book)
    assert attributed is not None
    # Half up: 5% of 1,001 is 50.05 -> 50; half the rate on the colleague's line; none on the advisor's.
    assert [(x.line_number, x.rate_bp, x.earned_minor) for x in attributed.lines] == [(1, 500, 50), (2, 250, 50)]
    assert (attributed.advisor_id, attributed.advisor_store_id, attributed.store_id) == ("advisor", HOME, OTHER)
    # In the advisor's own store nothing; online from it, the channel counts.
    assert domain.attribute(sale(lines, store=HOME, channel=1), binding(), book) is None
    assert domain.attribute(sale(lines, store=HOME, channel=3), binding(), book) is not None
    # Past the window after the last serving, nothing; a later serving opens it again.
    late = T0 + DAYS_180 + timedelta(days=1)
    assert domain.attribute(sale(lines, at=late), binding(), book) is None
    assert domain.attribute(sale(lines, at=late), binding(served=T0 + timedelta(days=30)), book) is not None


def test_the_advisor_is_the_one_bound_by_the_sales_time() -> None:
    first, second = binding("first", T0), binding("second", T0 + timedelta(days=5))
    assert domain.binding_at([second, first], T0 + timedelta(days=1)) == first
    assert domain.binding_at([first, second], T0 + timedelta(days=6)) == second
    assert domain.binding_at([first, second], T0 - timedelta(seconds=1)) is None


@pytest.mark.parametrize("quantity", [3, 7])
def test_refunds_take_back_each_units_share_and_a_full_return_all_of_it(quantity: int) -> None:
    book = RuleBook([rule(HOME, AttributionScope.DEFAULT, 333)])
    sold = line(1, 10_007, quantity=quantity)
    attributed = domain.attribute(sale((sold,)), binding(), book)
    assert attributed is not None
    earned = attributed.lines[0].earned_minor
    rng = random.Random(quantity)
    left, already, taken = quantity, 0, 0
    while left:
        units = rng.randint(1, left)
        refund = sale((line(1, -1, quantity=1),), at=T0 + timedelta(days=12))
        planned = [RefundedLine(sold.as_line(), units)]
        amounts = domain.refund_amounts(planned, {1: already})
        back = domain.take_back(attributed, refund, planned, amounts, {1: already})
        assert back is not None
        assert back.original_receipt_id == attributed.receipt_id
        assert back.store_id == OTHER
        assert back.lines[0].earned_minor <= 0
        taken -= back.lines[0].earned_minor
        # Never more than the share of the units returned so far, rounded down.
        assert taken == earned * (already + units) // quantity
        already, left = already + units, left - units
    assert taken == earned


def test_bad_rules_name_their_fields() -> None:
    with pytest.raises(InvalidArgument) as caught:
        domain.check_rule(
            rule(HOME, AttributionScope.BRAND, 3_001, channel=2, window=timedelta(0), shared_line_share_bp=-1)
        )
    fields = {v.field for v in caught.value.violations}
    assert fields == {"rule.key", "rule.channel", "rule.rate_bp", "rule.window", "rule.shared_line_share_bp"}


def test_rules_of_one_store_scope_and_key_never_overlap() -> None:
    june = rule(HOME, AttributionScope.DEFAULT, 100, expires_at=T0 + timedelta(days=30), rule_id="june")
    after = rule(HOME, AttributionScope.DEFAULT, 100, effective_from=T0 + timedelta(days=30), rule_id="after")
    assert domain.place_rule(after, [june]) == []
    assert domain.place_rule(rule(OTHER, AttributionScope.DEFAULT, 100), [june]) == []
    assert domain.place_rule(rule(HOME, AttributionScope.BRAND, 100, key="lux"), [june]) == []
    with pytest.raises(AlreadyExists) as caught:
        domain.place_rule(rule(HOME, AttributionScope.DEFAULT, 100, effective_from=T0 - timedelta(days=1)), [june])
    assert caught.value.field == "rule.effective_time"
    # A later rule supersedes an open-ended one, which ends where it begins; never an earlier one.
    later = rule(HOME, AttributionScope.DEFAULT, 150, effective_from=T0 + timedelta(days=60))
    [closed] = domain.place_rule(later, [june, after])
    assert (closed.rule_id, closed.expires_at) == ("after", later.effective_from)
    with pytest.raises(AlreadyExists):
        domain.place_rule(rule(HOME, AttributionScope.DEFAULT, 150, effective_from=T0 + timedelta(days=30)), [after])


def test_the_settlement_of_any_set_of_stores_nets_to_zero() -> None:
    stores = ["a", "b", "c"]
    rng = random.Random(7)
    flows = [
        Flow(advisor, seller, "CNY", rng.randint(-50, 500))
        for advisor, seller in itertools.product(stores, stores)
        for _ in range(3)
    ]
    settled = [
        domain.settlement(s, [f for f in flows if s in (f.advisor_store_id, f.selling_store_id)]) for s in stores
    ]
    assert sum(s.net_minor for s in settled) == 0
    a = settled[0]
    assert a.won_for_others_minor == sum(
        f.earned_minor for f in flows if f.advisor_store_id == "a" != f.selling_store_id
    )
    assert a.own_channels_minor == sum(f.earned_minor for f in flows if f.advisor_store_id == f.selling_store_id == "a")
    assert [c.store_id for c in a.counterparties] == ["b", "c"]
