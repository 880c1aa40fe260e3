"""Loyalty: points ledger, earn rules, tiers, rewards and coupons, campaigns and offers."""
