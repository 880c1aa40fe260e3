"""Webhook rules, without I/O: who may subscribe to what, which subscription an event goes
to, how deliveries are signed, and when a failed one is tried again."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import IntEnum
from urllib.parse import urlsplit


class EventType(IntEnum):
    """o2o.webhooks.v1.EventType."""

    RECEIPT_ISSUED = 1
    RECEIPT_CLAIMED = 2
    STORE_DAY_CLOSED = 3
    OFFER_ISSUED = 4


class DeliveryState(IntEnum):
    """o2o.webhooks.v1.DeliveryState."""

    PENDING = 1
    DELIVERED = 2
    DEAD = 3


# The API-key scope a partner needs for each event type.
SCOPE_OF = {
    EventType.RECEIPT_ISSUED: "receipts:read",
    EventType.RECEIPT_CLAIMED: "receipts:read",
    EventType.STORE_DAY_CLOSED: "reports:read",
    EventType.OFFER_ISSUED: "offers:read",
}
# Where each comes from: (producer, payload type) on the event bus.
SOURCE_OF = {
    EventType.RECEIPT_ISSUED: ("receipts", "ReceiptIssued"),
    EventType.RECEIPT_CLAIMED: ("receipts", "ReceiptClaimed"),
    EventType.STORE_DAY_CLOSED: ("receipts", "StoreDayClosed"),
    EventType.OFFER_ISSUED: ("loyalty", "OfferIssued"),
}
MAX_EVENT_TYPES = len(EventType)
MAX_STORES = 100
MAX_URL = 2000


def missing_scopes(event_types: Sequence[EventType], scopes: Collection[str]) -> list[tuple[int, str]]:
    """(index, scope) of each requested event type the partner's key does not cover."""
    return [(i, SCOPE_OF[t]) for i, t in enumerate(event_types) if SCOPE_OF[t] not in scopes]


def address_allowed(address: str, *, allow_private: bool) -> bool:
    """Whether deliveries may go to this IP address: partners' URLs must not reach into the
    platform's own network (loopback, private, link-local such as cloud metadata, multicast)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if allow_private:
        return True
    return ip.is_global and not ip.is_multicast


def url_problem(url: str, *, allow_http: bool, allow_private: bool = False) -> str:
    """Why a receiver URL is refused, or "" when it is fine."""
    if len(url) > MAX_URL:
        return f"must be at most {MAX_URL} characters"
    parts = urlsplit(url)
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        return "must be an absolute https URL" if not allow_http else "must be an absolute http(s) URL"
    if parts.username or parts.password:
        return "must not carry credentials; verify the signature instead"
    if parts.fragment:
        return "must not have a fragment"
    host = parts.hostname
    if not allow_private and (host == "localhost" or host.endswith(".localhost") or host.endswith(".internal")):
        return "must not point into the platform's network"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return ""  # a name: its addresses are checked when each delivery is sent
    if not address_allowed(host, allow_private=allow_private):
        return "must not point into the platform's network"
    return ""


@dataclass(frozen=True)
class EventFacts:
    """What routing needs to know of an event."""

    event_type: EventType
    store_id: str
    member_id: str


def wants(event_types: Collection[int], store_ids: Collection[str], facts: EventFacts) -> bool:
    if facts.event_type not in event_types:
        return False
    if store_ids and facts.store_id not in store_ids:
        return False
    # Receipts and offers go out only for a known member: an anonymous sale is no partner's.
    member_events = (EventType.RECEIPT_ISSUED, EventType.RECEIPT_CLAIMED, EventType.OFFER_ISSUED)
    return not (facts.event_type in member_events and not facts.member_id)


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """The X-O2O-Signature header: the time it was signed, and an HMAC over time and body
    (the time is signed too, so an old delivery cannot be replayed as new)."""
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def next_try_in_s(attempts: int, base_s: float, cap_s: float, jitter: float) -> float:
    """Exponential backoff after `attempts` failed tries; jitter in [0, 1) spreads receivers'
    retries so that a recovering receiver is not hit by every delivery at once."""
    return float(min(cap_s, base_s * 2.0 ** (attempts - 1)) * (0.8 + 0.4 * jitter))


def after_failure(attempts: int, max_attempts: int) -> DeliveryState:
    return DeliveryState.DEAD if attempts >= max_attempts else DeliveryState.PENDING
