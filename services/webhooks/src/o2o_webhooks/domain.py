"""Webhook rules, without I/O: who may subscribe to what, which subscription an event goes
to, what a delivery carries and how it is signed, and when a failed one is tried again."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum
from typing import Any
from urllib.parse import urlsplit


class EventType(IntEnum):
    """o2o.webhooks.v1.EventType."""

    RECEIPT_ISSUED = 1
    RECEIPT_CLAIMED = 2
    STORE_DAY_CLOSED = 3
    OFFER_ISSUED = 4
    SALE_ATTRIBUTED = 5


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
    EventType.SALE_ATTRIBUTED: "receipts:read",
}
# Where each comes from: (producer, payload type) on the event bus.
SOURCE_OF = {
    EventType.RECEIPT_ISSUED: ("receipts", "ReceiptIssued"),
    EventType.RECEIPT_CLAIMED: ("receipts", "ReceiptClaimed"),
    EventType.STORE_DAY_CLOSED: ("receipts", "StoreDayClosed"),
    EventType.OFFER_ISSUED: ("loyalty", "OfferIssued"),
    EventType.SALE_ATTRIBUTED: ("receipts", "SaleAttributed"),
}
# Receipts and offers go out only for a known member: an anonymous sale is no partner's.
MEMBER_EVENTS = frozenset(
    {EventType.RECEIPT_ISSUED, EventType.RECEIPT_CLAIMED, EventType.OFFER_ISSUED, EventType.SALE_ATTRIBUTED}
)
MAX_EVENT_TYPES = len(EventType)
MAX_STORES = 100
MAX_URL = 2000
MAX_DESCRIPTION = 200
# What is kept of a failed try's error (the column's width).
MAX_ERROR = 300
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
USER_AGENT = "o2o-webhooks/1"
DEFAULT_PORTS = {"https": 443, "http": 80}
# A sender holds a due delivery this long; if it dies meanwhile, another sender takes it after.
LEASE_S = 60.0


# ---- subscriptions ---------------------------------------------------------------------


@dataclass(frozen=True)
class NewSubscription:
    """A partner's request to be sent events (validated in shape by the api layer)."""

    url: str
    event_types: list[EventType]
    store_ids: list[str]
    description: str


def missing_scopes(event_types: Sequence[EventType], scopes: Collection[str]) -> list[tuple[int, str]]:
    """(index, scope) of each requested event type the partner's key does not cover."""
    return [(i, SCOPE_OF[t]) for i, t in enumerate(event_types) if SCOPE_OF[t] not in scopes]


def new_signing_secret() -> str:
    """Shown to the partner once; kept encrypted, since every delivery is signed with it."""
    return SECRET_PREFIX + secrets.token_urlsafe(SECRET_BYTES)


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
    try:
        receiver_endpoint(url)
    except ValueError:
        return "must have a valid port"
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


def receiver_endpoint(url: str) -> tuple[str, int]:
    """(host, port) a delivery connects to, the port defaulting by scheme. ValueError when the
    URL cannot be sent to (a port out of range)."""
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or DEFAULT_PORTS.get(parts.scheme, DEFAULT_PORTS["https"])


def addresses_allowed(addresses: Iterable[str]) -> bool:
    """Whether every address a receiver's name resolves to is outside the platform's network
    (one inside is enough to refuse: the client may connect to any of them)."""
    found = list(addresses)
    return bool(found) and all(address_allowed(address, allow_private=False) for address in found)


# ---- routing ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EventFacts:
    """What routing needs to know of an event."""

    event_type: EventType
    store_id: str
    member_id: str


@dataclass(frozen=True)
class Interest:
    """What a live subscription wants: event types, and stores (none: every store)."""

    subscription_id: str
    event_types: Collection[int]
    store_ids: Collection[str]


def wants(event_types: Collection[int], store_ids: Collection[str], facts: EventFacts) -> bool:
    if facts.event_type not in event_types:
        return False
    if store_ids and facts.store_id not in store_ids:
        return False
    return not (facts.event_type in MEMBER_EVENTS and not facts.member_id)


def recipients(interests: Iterable[Interest], facts: EventFacts) -> list[str]:
    """The subscriptions an event goes to."""
    return [i.subscription_id for i in interests if wants(i.event_types, i.store_ids, facts)]


def delivery_body(event_id: str, event_type: EventType, occurred_time: str, data: Mapping[str, Any]) -> str:
    """The JSON a receiver gets (the same bytes on every try, so its signature can be checked
    against exactly what was sent)."""
    return json.dumps(
        {"eventId": event_id, "eventType": event_type.name, "occurredTime": occurred_time, "data": data},
        separators=(",", ":"),
    )


# ---- sending ---------------------------------------------------------------------------


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """The X-O2O-Signature header: the time it was signed, and an HMAC over time and body
    (the time is signed too, so an old delivery cannot be replayed as new)."""
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def delivery_headers(
    secret: bytes, timestamp: int, body: bytes, *, event_type: EventType, event_id: str, delivery_id: str
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-O2O-Event-Type": event_type.name,
        "X-O2O-Event-Id": event_id,
        "X-O2O-Delivery-Id": delivery_id,
        "X-O2O-Signature": signature(secret, timestamp, body),
    }


def answer_problem(status_code: int) -> str:
    """Why a receiver's answer counts as a failed try, or "" when it took the delivery."""
    return "" if 200 <= status_code < 300 else f"the receiver answered {status_code}"


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    # Backoff doubles from base_s after each failed try, up to cap_s.
    base_s: float
    cap_s: float


@dataclass(frozen=True)
class TryOutcome:
    """Where a delivery stands after one more try."""

    attempts: int
    state: DeliveryState
    status_code: int
    error: str
    # When the next try is due; None when there is none.
    next_attempt_at: datetime | None
    # Set only when this try delivered it.
    delivered_at: datetime | None


def next_try_in_s(attempts: int, base_s: float, cap_s: float, jitter: float) -> float:
    """Exponential backoff after `attempts` failed tries; jitter in [0, 1) spreads receivers'
    retries so that a recovering receiver is not hit by every delivery at once."""
    return float(min(cap_s, base_s * 2.0 ** (attempts - 1)) * (0.8 + 0.4 * jitter))


def after_failure(attempts: int, max_attempts: int) -> DeliveryState:
    return DeliveryState.DEAD if attempts >= max_attempts else DeliveryState.PENDING


def after_try(
    attempts_before: int, status_code: int, error: str, policy: RetryPolicy, *, now: datetime, jitter: float
) -> TryOutcome:
    """A try with no error delivered it; a failed one is tried again with backoff, until the
    last allowed try leaves it dead."""
    attempts = attempts_before + 1
    if not error:
        return TryOutcome(attempts, DeliveryState.DELIVERED, status_code, "", None, now)
    state = after_failure(attempts, policy.max_attempts)
    next_attempt_at = (
        now + timedelta(seconds=next_try_in_s(attempts, policy.base_s, policy.cap_s, jitter))
        if state is DeliveryState.PENDING
        else None
    )
    return TryOutcome(attempts, state, status_code, error[:MAX_ERROR], next_attempt_at, None)
