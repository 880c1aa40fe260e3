"""How big a simulated day is, and how fast it runs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    stores: int = 2
    shoppers: int = 20
    # The trading day, compressed into this many minutes of wall time.
    minutes: float = 2.0
    seed: int = 1
    # Shoppers who are members (the rest buy anonymously and may claim their receipt later).
    member_share: float = 0.7
    # Seconds a shopper must linger in the promoted zone for the dwell campaign's offer.
    dwell_s: int = 4
    # Seconds to wait, past the last observation's time, before the stores close: long enough
    # for the platform to end the last visits, so that the day's footfall is in the report.
    settle_s: float = 0.0

    def __post_init__(self) -> None:
        if self.stores < 2:
            raise ValueError("stores: at least 2 (returns happen at another store)")
        if self.shoppers < 4:
            raise ValueError("shoppers: at least 4")
        if self.minutes <= 0:
            raise ValueError("minutes: must be positive")
        if not 0 < self.member_share <= 1:
            raise ValueError("member_share: between 0 (exclusive) and 1")
