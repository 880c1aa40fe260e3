"""Receipts' rules as plain functions: no server, no database."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from o2o_receipts import domain
from o2o_receipts.domain import (
    CommissionRule,
    CommissionScope,
    DayFigures,
    Line,
    LinkBackoff,
    MemberDay,
    Receipt,
    ReceiptKind,
    ReceiptLine,
    RefundRequestLine,
    SoldLine,
)
from o2o_receipts.store.days import report_from_json, report_json
from o2o_runtime.auth import Kind, Principal, Role
from o2o_runtime.errors import FailedPrecondition, InvalidArgument, PermissionDenied

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
STORE, OTHER_STORE = "store-a", "store-b"


def receipt(*, member: str = "", store: str = STORE, associates: tuple[str, ...] = ("assoc-1",)) -> Receipt:
    lines = tuple(
        ReceiptLine(n, f"SKU-{n}", "", "baby", "acme", 1, 100, 0, 100, associate)
        for n, associate in enumerate(associates, start=1)
    )
    return Receipt(
        receipt_id="r-1",
        store_id=store,
        register_id="R1",
        pos_transaction_number="T1",
        kind=ReceiptKind.SALE,
        occurred_at=NOW,
        business_date=NOW.date(),
        channel=1,
        currency_code="CNY",
        subtotal_minor=100 * len(lines),
        discount_minor=0,
        total_minor=100 * len(lines),
        units=len(lines),
        member_id=member,
        link_method=0,
        fingerprint="f",
        created_at=NOW,
        lines=lines,
        payments=(),
    )


def staff(role: Role, subject: str = "staff-1", stores: frozenset[str] = frozenset({STORE})) -> Principal:
    return Principal(Kind.STAFF, subject, role=role, store_ids=stores)


# ---- who sees which receipts ----------------------------------------------------------------


def test_each_principal_sees_what_is_theirs() -> None:
    mine = receipt(member="member-1")
    assert domain.can_see(Principal(Kind.MEMBER, "member-1"), mine)
    assert not domain.can_see(Principal(Kind.MEMBER, "member-2"), mine)
    assert not domain.can_see(Principal(Kind.MEMBER, "member-1"), receipt())
    assert domain.can_see(Principal(Kind.DEVICE, "pos-1", store_ids=frozenset({STORE})), mine)
    assert not domain.can_see(Principal(Kind.DEVICE, "pos-2", store_ids=frozenset({OTHER_STORE})), mine)
    served = receipt(associates=("assoc-1", "assoc-2"))
    assert domain.can_see(staff(Role.ASSOCIATE, "assoc-2"), served)
    assert not domain.can_see(staff(Role.ASSOCIATE, "assoc-3"), served)
    assert domain.can_see(staff(Role.STORE_MANAGER), served)
    assert not domain.can_see(staff(Role.STORE_MANAGER, stores=frozenset({OTHER_STORE})), served)
    assert domain.can_see(staff(Role.OWNER, stores=frozenset()), served)
    assert domain.can_see(Principal(Kind.SERVICE, "loyalty"), served)
    # A partner reads lists it is scoped for, never single receipts by id.
    assert not domain.can_see(Principal(Kind.PARTNER, "app", scopes=frozenset({"receipts:read"})), served)


def test_a_listing_is_narrowed_to_the_viewers_reach() -> None:
    member = Principal(Kind.MEMBER, "member-1")
    assert domain.list_scope(member, "", "", "") == domain.ListScope(None, "member-1", "")
    with pytest.raises(PermissionDenied):
        domain.list_scope(member, "", "member-2", "")
    associate = staff(Role.ASSOCIATE, "assoc-1")
    assert domain.list_scope(associate, STORE, "", "").associate_id == "assoc-1"
    with pytest.raises(PermissionDenied):
        domain.list_scope(associate, "", "", "assoc-2")
    manager = staff(Role.STORE_MANAGER, stores=frozenset({STORE, OTHER_STORE}))
    assert domain.list_scope(manager, "", "", "").store_ids == (STORE, OTHER_STORE)
    with pytest.raises(PermissionDenied):
        domain.list_scope(manager, "store-c", "", "")
    assert domain.list_scope(staff(Role.ADMIN, stores=frozenset()), "", "", "").store_ids is None


# ---- refunds --------------------------------------------------------------------------------


def test_only_a_sale_is_refunded_and_in_its_own_currency() -> None:
    with pytest.raises(FailedPrecondition) as not_a_sale:
        domain.ensure_refundable(ReceiptKind.REFUND, "CNY", STORE, "CNY")
    assert not_a_sale.value.violation_type == "NOT_A_SALE"
    with pytest.raises(FailedPrecondition) as elsewhere:
        domain.ensure_refundable(ReceiptKind.SALE, "CNY", OTHER_STORE, "HKD")
    assert elsewhere.value.violation_type == "CURRENCY_MISMATCH"
    domain.ensure_refundable(ReceiptKind.SALE, "CNY", OTHER_STORE, "CNY")


def test_a_refund_never_exceeds_what_is_left() -> None:
    lines = [Line(1, "BIB", "", "", "", 3, 1000, 1, ""), Line(2, "CUP", "", "", "", 1, 500, 0, "")]
    with pytest.raises(InvalidArgument) as error:
        domain.plan_refund(lines, {1: 2}, [RefundRequestLine(1, 4), RefundRequestLine(9, 1), RefundRequestLine(2, 0)])
    assert [v.field for v in error.value.violations] == [
        "lines[0].quantity",
        "lines[1].line_number",
        "lines[2].quantity",
    ]
    # Within what was sold, beyond what earlier refunds left: the receipt's state refuses it.
    with pytest.raises(FailedPrecondition) as exhausted:
        domain.plan_refund(lines, {1: 2}, [RefundRequestLine(2, 1), RefundRequestLine(1, 2)])
    assert (exhausted.value.violation_type, exhausted.value.subject) == (
        "REFUND_EXCEEDS_REMAINING",
        "lines[1].quantity",
    )
    planned = domain.plan_refund(lines, {1: 2}, [RefundRequestLine(1, 1)])
    assert domain.refund_amounts(planned, {1: 2}) == [1000]


@given(st.integers(1, 50), st.integers(0, 100_000), st.data())
def test_refunds_in_parts_add_up_to_the_line(quantity: int, unit_price: int, data: st.DataObject) -> None:
    line = Line(1, "SKU", "", "", "", quantity, unit_price, data.draw(st.integers(0, quantity * unit_price)), "")
    refunded, total = 0, 0
    while refunded < quantity:
        part = data.draw(st.integers(1, quantity - refunded))
        planned = domain.plan_refund([line], {1: refunded}, [RefundRequestLine(1, part)])
        total += sum(domain.refund_amounts(planned, {1: refunded}))
        refunded += part
    assert total == line.amount_minor


def test_a_refunds_fingerprint_covers_what_it_returns() -> None:
    first = domain.Refund("sale", STORE, "R1", "RF1", (RefundRequestLine(1, 1),))
    assert first.fingerprint == domain.Refund("sale", STORE, "R1", "RF1", (RefundRequestLine(1, 1),)).fingerprint
    assert first.fingerprint != domain.Refund("sale", STORE, "R1", "RF1", (RefundRequestLine(1, 2),)).fingerprint


# ---- claim codes and late links -------------------------------------------------------------


def test_claim_codes_are_derived_printable_and_checked_by_shape() -> None:
    code = domain.claim_code_for(b"k" * 32, "receipt-1")
    # The first 100 bits of HMAC-SHA256(key, "claim:<receipt id>") in RFC 4648 base32: codes
    # printed on slips stay valid whatever computes them.
    digest = hmac.new(b"k" * 32, b"claim:receipt-1", hashlib.sha256).digest()
    assert code.replace("-", "") == base64.b32encode(digest).decode()[:20]
    assert code == domain.claim_code_for(b"k" * 32, "receipt-1")
    assert code != domain.claim_code_for(b"k" * 32, "receipt-2")
    assert [len(group) for group in code.split("-")] == [5, 5, 5, 5]
    normalized = domain.normalize_claim_code(code.lower().replace("-", " "))
    assert domain.is_claim_code(normalized)
    assert domain.claim_code_hash(b"k" * 32, code) == domain.claim_code_hash(b"k" * 32, normalized)
    assert not domain.is_claim_code("ABCDE")
    assert not domain.is_claim_code("ABCDEFGHIJKLMNOPQRS!")


def test_a_receipt_is_claimed_once_before_its_code_expires() -> None:
    later = NOW + timedelta(days=30)
    domain.ensure_claimable("", "member-1", later, NOW)
    for owner, claimer, expires, kind in (
        ("member-1", "member-1", later, "ALREADY_CLAIMED"),
        ("member-2", "member-1", later, "ALREADY_CLAIMED"),
        ("", "member-1", NOW - timedelta(seconds=1), "CLAIM_CODE_EXPIRED"),
    ):
        with pytest.raises(FailedPrecondition) as error:
            domain.ensure_claimable(owner, claimer, expires, NOW)
        assert error.value.violation_type == kind
    assert domain.code_is_live(ReceiptKind.SALE, "", later, NOW)
    assert not domain.code_is_live(ReceiptKind.SALE, "member-1", later, NOW)
    assert not domain.code_is_live(ReceiptKind.REFUND, "", later, NOW)
    assert not domain.code_is_live(ReceiptKind.SALE, "", NOW - timedelta(seconds=1), NOW)


def test_late_links_back_off_and_give_up() -> None:
    backoff = LinkBackoff(first_delay_s=5, max_delay_s=60, max_attempts=4)
    assert backoff.first_attempt(NOW) == NOW + timedelta(seconds=5)
    delays = [backoff.next_attempt(attempts, NOW) for attempts in range(1, 5)]
    assert delays[:3] == [NOW + timedelta(seconds=s) for s in (10, 20, 40)]
    assert delays[3] is None
    assert LinkBackoff(5, max_delay_s=60).next_attempt(10, NOW) == NOW + timedelta(seconds=60)


# ---- commission -----------------------------------------------------------------------------


def test_the_most_specific_rule_in_force_rates_a_line() -> None:
    day = timedelta(days=1)
    rules = [
        CommissionRule(CommissionScope.DEFAULT, "", 100, NOW - 3 * day),
        CommissionRule(CommissionScope.CATEGORY, "baby", 300, NOW - 2 * day),
        CommissionRule(CommissionScope.BRAND, "acme", 800, NOW - day),
        CommissionRule(CommissionScope.BRAND, "acme", 1200, NOW + day),
    ]
    line = Line(1, "SKU", "", "baby", "acme", 1, 100, 0, "")
    assert domain.commission_rate(rules, line, NOW) == 800
    assert domain.commission_rate(rules, line, NOW + 2 * day) == 1200
    assert domain.commission_rate(rules, line, NOW - day - timedelta(hours=1)) == 300
    assert domain.commission_rate(rules, Line(1, "SKU", "", "toys", "other", 1, 100, 0, ""), NOW) == 100
    assert domain.commission_rate([], line, NOW) == 0
    assert domain.scope_for_key(CommissionScope.DEFAULT, "x") is not None
    assert domain.scope_for_key(CommissionScope.BRAND, "") is not None
    assert domain.scope_for_key(CommissionScope.CATEGORY, "baby") is None


def test_a_refund_takes_back_what_its_sale_earned() -> None:
    rules = [
        CommissionRule(CommissionScope.BRAND, "acme", 800, NOW - timedelta(days=2)),
        CommissionRule(CommissionScope.BRAND, "acme", 1200, NOW - timedelta(hours=1)),
    ]
    sold_at = NOW - timedelta(days=1)
    line = Line(1, "SKU", "", "", "acme", 1, 2505, 0, "")
    sale = SoldLine("sale", sold_at, line, 2505, "CNY", sold_at)
    refund = SoldLine("refund", NOW, Line(1, "SKU", "", "", "acme", -1, 2505, 0, ""), -2505, "CNY", sold_at)
    statement = domain.statement("assoc-1", [refund, sale], rules)
    assert [(s.receipt_id, s.rate_bp, s.commission_minor) for s in statement.lines] == [
        ("sale", 800, 200),
        ("refund", 800, -200),
    ]
    assert (statement.sales_minor, statement.refunds_minor, statement.commission_minor) == (2505, 2505, 0)
    with pytest.raises(FailedPrecondition) as mixed:
        domain.statement("assoc-1", [sale, SoldLine("usd", NOW, line, 100, "USD", NOW)], rules)
    assert mixed.value.violation_type == "MIXED_CURRENCY"


# ---- store days -----------------------------------------------------------------------------


def test_store_days_follow_the_local_clock() -> None:
    new_york = "America/New_York"
    start, end = domain.day_bounds(date(2026, 3, 8), new_york)  # clocks go forward
    assert end - start == timedelta(hours=23)
    start, end = domain.day_bounds(date(2026, 11, 1), new_york)  # and back
    assert end - start == timedelta(hours=25)
    assert domain.business_date(datetime(2026, 12, 1, 16, 30, tzinfo=UTC), "Asia/Shanghai") == date(2026, 12, 2)


def test_footfall_is_counted_in_quarter_hours_and_read_in_local_hours() -> None:
    assert domain.footfall_slot(datetime(2026, 12, 2, 18, 44, 59, tzinfo=UTC)) == datetime(
        2026, 12, 2, 18, 30, tzinfo=UTC
    )
    # Kolkata is UTC+05:30: its hours start at half past in UTC, and its day at 18:30 UTC.
    zone = "Asia/Kolkata"
    start, end = domain.day_bounds(date(2026, 12, 3), zone)
    assert (start, end - start) == (datetime(2026, 12, 2, 18, 30, tzinfo=UTC), timedelta(days=1))
    slots = [(start, 2), (start + timedelta(minutes=45), 1), (start + timedelta(minutes=60), 4)]
    hours = domain.hourly(slots, zone)
    assert [(h.start.astimezone(ZoneInfo(zone)).hour, h.visitors) for h in hours] == [(0, 3), (1, 4)]


def test_the_day_report_figures() -> None:
    figures = DayFigures(
        revenue_minor=10_000,
        refunds_minor=1_000,
        transactions=4,
        units=10,
        member_revenue_minor=2_500,
        members=[MemberDay("m-1", 2_000, 1, True), MemberDay("m-2", 500, 1, False), MemberDay("m-3", 0, 0, False)],
        footfall_slots=[(datetime(2026, 12, 2, 1, 0, tzinfo=UTC), 5), (datetime(2026, 12, 2, 1, 15, tzinfo=UTC), 3)],
    )
    report = domain.day_report(STORE, date(2026, 12, 2), "CNY", "Asia/Shanghai", figures, core_customers=1)
    assert (report.net_minor, report.average_basket_minor, report.items_per_basket) == (9_000, 2_500, 2.5)
    assert (report.new_members, report.returning_members, report.member_revenue_share) == (1, 1, 0.25)
    assert [c.member_id for c in report.core_customers] == ["m-1"]
    assert (report.footfall, report.conversion_rate) == (8, 0.5)
    assert [(h.visitors) for h in report.footfall_by_hour] == [8]
    unknown = domain.day_report(STORE, date(2026, 12, 2), "CNY", "Asia/Shanghai", DayFigures(), core_customers=1)
    assert (unknown.footfall, unknown.conversion_rate, unknown.average_basket_minor) == (None, None, 0)
    # Frozen as JSON at close, read back as it was.
    closed = domain.StoreDayReport(**{**report.__dict__, "closed_at": NOW})
    assert report_from_json(report_json(closed), NOW) == closed


def test_a_closed_report_from_before_hourly_footfall_still_reads() -> None:
    stored = report_json(domain.day_report(STORE, date(2026, 12, 2), "CNY", "UTC", DayFigures(), core_customers=1))
    del stored["footfall_by_hour"]
    assert report_from_json(stored, NOW).footfall_by_hour == ()
