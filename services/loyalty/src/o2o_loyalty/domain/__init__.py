"""Loyalty's rules, without I/O: earning, the ledger's lots, tiers, rewards and coupons."""
