"""Webhook rules without I/O: receiver URLs, routing, signatures, backoff."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from o2o_webhooks import domain
from o2o_webhooks.domain import DeliveryState, EventFacts, EventType


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://crm.example/hooks", ""),
        ("http://crm.example/hooks", "must be an absolute https URL"),
        ("ftp://crm.example/hooks", "must be an absolute https URL"),
        ("https:///no-host", "must be an absolute https URL"),
        ("https://user:pw@crm.example/hooks", "must not carry credentials; verify the signature instead"),
        ("https://crm.example/hooks#part", "must not have a fragment"),
        ("https://127.0.0.1/hooks", "must not point into the platform's network"),
        ("https://10.1.2.3/hooks", "must not point into the platform's network"),
        ("https://169.254.169.254/latest/meta-data", "must not point into the platform's network"),
        ("https://[::1]/hooks", "must not point into the platform's network"),
        ("https://localhost:8443/hooks", "must not point into the platform's network"),
        ("https://metadata.google.internal/", "must not point into the platform's network"),
        ("https://93.184.216.34/hooks", ""),
        ("https://crm.example/" + "x" * 2000, "must be at most 2000 characters"),
    ],
)
def test_receiver_urls(url: str, problem: str) -> None:
    assert domain.url_problem(url, allow_http=False) == problem


def test_local_runs_may_allow_plain_http_on_private_networks() -> None:
    assert domain.url_problem("http://127.0.0.1:9000/hooks", allow_http=True, allow_private=True) == ""
    assert domain.url_problem("http://127.0.0.1:9000/hooks", allow_http=True) != ""


def test_events_go_only_where_they_are_wanted() -> None:
    sale = EventFacts(EventType.RECEIPT_ISSUED, "store-1", "member-1")
    assert domain.wants([EventType.RECEIPT_ISSUED], [], sale)
    assert domain.wants([EventType.RECEIPT_ISSUED], ["store-1"], sale)
    assert not domain.wants([EventType.RECEIPT_ISSUED], ["store-2"], sale)
    assert not domain.wants([EventType.STORE_DAY_CLOSED], [], sale)
    # An anonymous sale is no partner's business; a store day has no member anyway.
    assert not domain.wants([EventType.RECEIPT_ISSUED], [], EventFacts(EventType.RECEIPT_ISSUED, "store-1", ""))
    assert domain.wants([EventType.STORE_DAY_CLOSED], [], EventFacts(EventType.STORE_DAY_CLOSED, "store-1", ""))


def test_each_event_type_needs_its_scope() -> None:
    wanted = [EventType.RECEIPT_ISSUED, EventType.STORE_DAY_CLOSED, EventType.OFFER_ISSUED]
    assert domain.missing_scopes(wanted, {"receipts:read"}) == [(1, "reports:read"), (2, "offers:read")]
    assert domain.missing_scopes(wanted, {"receipts:read", "reports:read", "offers:read"}) == []


def test_the_signature_covers_time_and_body() -> None:
    header = domain.signature(b"whsec_x", 1_700_000_000, b'{"a":1}')
    expected = hmac.new(b"whsec_x", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    assert domain.signature(b"whsec_x", 1_700_000_001, b'{"a":1}') != header


def test_backoff_doubles_up_to_the_cap_and_the_last_try_is_dead() -> None:
    waits = [domain.next_try_in_s(n, base_s=10, cap_s=100, jitter=0.5) for n in range(1, 6)]
    assert waits == [10.0, 20.0, 40.0, 80.0, 100.0]
    assert domain.next_try_in_s(1, base_s=10, cap_s=100, jitter=0.0) == pytest.approx(8.0)
    assert domain.next_try_in_s(1, base_s=10, cap_s=100, jitter=0.999) < 12.0
    assert domain.after_failure(2, max_attempts=3) is DeliveryState.PENDING
    assert domain.after_failure(3, max_attempts=3) is DeliveryState.DEAD
