"""The callers an access-matrix test tries every RPC with, and the outcomes it tells apart: one
list for every service, so that a new kind of caller reaches every matrix at once."""

from __future__ import annotations

ALLOWED, DENIED, UNAUTHENTICATED = "allowed", "denied", "unauthenticated"
PRINCIPALS = [
    "anonymous",
    "member_self",
    "member_other",
    "associate_in",
    "associate_out",
    "store_manager",
    "regional_manager",
    "owner",
    "admin",
    "device",
    "partner_scoped",
    "partner_unscoped",
    "service",
]
# Staff of the store the call is about (the regional manager's region holds it).
STAFF_IN = {"associate_in", "store_manager", "regional_manager", "owner", "admin"}
MANAGERS_IN = {"store_manager", "regional_manager", "owner", "admin"}
CHAIN = {"owner", "admin"}
SIGNED_IN = set(PRINCIPALS) - {"anonymous"}
