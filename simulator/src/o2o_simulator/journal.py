"""What a simulation sent and what it was answered: the record invariants are checked against,
independently of what the platform reports afterwards."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class SoldLine:
    sku: str
    category: str
    quantity: int
    amount_minor: int


@dataclass
class Sale:
    store_id: str
    register_id: str
    number: str
    # The member who paid with a linked card (empty: anonymous at the till, maybe claimed later).
    member_id: str
    lines: list[SoldLine]
    total_minor: int
    receipt_id: str = ""
    business_date: str = ""
    claim_code: str = ""
    # Uploaded late from a till that was offline.
    uploaded: bool = False


@dataclass
class Claim:
    member_id: str
    receipt_id: str


@dataclass
class Redemption:
    member_id: str
    reward_id: str
    points: int
    coupon_code: str
    used_on_receipt: str = ""


@dataclass
class Refund:
    receipt_id: str
    store_id: str
    line_number: int
    quantity: int
    amount_minor: int


@dataclass
class OfferSeen:
    member_id: str
    offer_id: str
    campaign_id: str
    zone_id: str
    store_id: str


@dataclass
class Journal:
    sales: list[Sale] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    redemptions: list[Redemption] = field(default_factory=list)
    refunds: list[Refund] = field(default_factory=list)
    offers: list[OfferSeen] = field(default_factory=list)
    # Each member's consents (purpose names), as registered.
    consents: dict[str, set[str]] = field(default_factory=dict)
    # Observations streamed, and visits (a phone's walk through a store).
    observations: int = 0
    visits: Counter[str] = field(default_factory=Counter)
    # Gateway requests made by partner apps, by route.
    app_calls: Counter[str] = field(default_factory=Counter)
    # Status codes seen and retried by the clients.
    retried: Counter[str] = field(default_factory=Counter)
    # Members named in a walk (location consent) who lingered in the promoted zone past the
    # dwell campaign's threshold.
    lingered: set[str] = field(default_factory=set)

    def sales_of(self, member_id: str) -> list[Sale]:
        """The member's sales: paid with their card or claimed in the app."""
        claimed = {c.receipt_id for c in self.claims if c.member_id == member_id}
        return [s for s in self.sales if s.member_id == member_id or s.receipt_id in claimed]
