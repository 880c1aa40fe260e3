"""Webhook rules without I/O: receiver URLs, routing, signatures, backoff."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

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


def test_attributed_sales_go_out_like_the_member_receipts() -> None:
    attributed = EventFacts(EventType.SALE_ATTRIBUTED, "store-1", "member-1")
    assert domain.wants([EventType.SALE_ATTRIBUTED], ["store-1"], attributed)
    assert not domain.wants([EventType.SALE_ATTRIBUTED], ["store-2"], attributed)
    assert not domain.wants([EventType.SALE_ATTRIBUTED], [], EventFacts(EventType.SALE_ATTRIBUTED, "store-1", ""))
    assert domain.missing_scopes([EventType.SALE_ATTRIBUTED], {"reports:read"}) == [(0, "receipts:read")]


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


def test_a_receiver_needs_a_port_it_can_be_sent_to() -> None:
    assert domain.url_problem("https://crm.example:8443/hooks", allow_http=False) == ""
    assert domain.url_problem("https://crm.example:99999/hooks", allow_http=False) == "must have a valid port"
    assert domain.receiver_endpoint("https://crm.example/hooks") == ("crm.example", 443)
    assert domain.receiver_endpoint("http://crm.example/hooks") == ("crm.example", 80)
    assert domain.receiver_endpoint("https://crm.example:8443/hooks") == ("crm.example", 8443)
    with pytest.raises(ValueError, match="out of range"):
        domain.receiver_endpoint("https://crm.example:99999/hooks")


def test_one_internal_address_among_a_names_addresses_refuses_it() -> None:
    assert domain.addresses_allowed(["93.184.216.34", "2606:2800:220:1::248"])
    assert not domain.addresses_allowed(["93.184.216.34", "10.0.0.5"])
    assert not domain.addresses_allowed(["169.254.169.254"])
    assert not domain.addresses_allowed([])  # a name with no address goes nowhere


def test_an_event_goes_to_each_subscription_that_wants_it() -> None:
    interests = [
        domain.Interest("everywhere", [EventType.RECEIPT_ISSUED], []),
        domain.Interest("store-1-only", [EventType.RECEIPT_ISSUED, EventType.OFFER_ISSUED], ["store-1"]),
        domain.Interest("store-2-only", [EventType.RECEIPT_ISSUED], ["store-2"]),
        domain.Interest("days", [EventType.STORE_DAY_CLOSED], []),
    ]
    sale = EventFacts(EventType.RECEIPT_ISSUED, "store-1", "member-1")
    assert domain.recipients(interests, sale) == ["everywhere", "store-1-only"]
    assert domain.recipients(interests, EventFacts(EventType.RECEIPT_ISSUED, "store-1", "")) == []
    assert domain.recipients(interests, EventFacts(EventType.STORE_DAY_CLOSED, "store-9", "")) == ["days"]


def test_a_delivery_carries_its_event_and_a_signature_over_its_exact_body() -> None:
    body = domain.delivery_body("event-1", EventType.OFFER_ISSUED, "2026-12-01T10:00:00Z", {"offerId": "o-1"})
    assert json.loads(body) == {
        "eventId": "event-1",
        "eventType": "OFFER_ISSUED",
        "occurredTime": "2026-12-01T10:00:00Z",
        "data": {"offerId": "o-1"},
    }
    assert " " not in body  # compact: the bytes signed are the bytes sent
    headers = domain.delivery_headers(
        b"whsec_x",
        1_700_000_000,
        body.encode(),
        event_type=EventType.OFFER_ISSUED,
        event_id="event-1",
        delivery_id="d-1",
    )
    assert headers["X-O2O-Event-Type"] == "OFFER_ISSUED"
    assert headers["X-O2O-Event-Id"] == "event-1"
    assert headers["X-O2O-Delivery-Id"] == "d-1"
    assert headers["X-O2O-Signature"] == domain.signature(b"whsec_x", 1_700_000_000, body.encode())
    assert headers["User-Agent"] == domain.USER_AGENT


def test_signing_secrets_are_fresh_and_recognisable() -> None:
    first, second = domain.new_signing_secret(), domain.new_signing_secret()
    assert first.startswith(domain.SECRET_PREFIX)
    assert first != second
    assert len(first) > len(domain.SECRET_PREFIX) + domain.SECRET_BYTES  # base64 of the random bytes


def test_only_a_2xx_answer_delivers() -> None:
    assert domain.answer_problem(200) == ""
    assert domain.answer_problem(204) == ""
    assert domain.answer_problem(301) == "the receiver answered 301"  # redirects are not followed
    assert domain.answer_problem(503) == "the receiver answered 503"


RETRIES = domain.RetryPolicy(max_attempts=3, base_s=10, cap_s=100)
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def test_a_try_that_got_through_delivers() -> None:
    outcome = domain.after_try(1, 200, "", RETRIES, now=NOW, jitter=0.5)
    assert outcome == domain.TryOutcome(2, DeliveryState.DELIVERED, 200, "", None, NOW)


def test_a_failed_try_is_retried_with_backoff_until_the_last_one() -> None:
    first = domain.after_try(0, 500, "the receiver answered 500", RETRIES, now=NOW, jitter=0.5)
    assert (first.attempts, first.state, first.status_code) == (1, DeliveryState.PENDING, 500)
    assert first.next_attempt_at == NOW + timedelta(seconds=10)
    assert first.delivered_at is None
    second = domain.after_try(1, 0, "ConnectError: refused", RETRIES, now=NOW, jitter=0.5)
    assert second.next_attempt_at == NOW + timedelta(seconds=20)
    last = domain.after_try(2, 503, "the receiver answered 503", RETRIES, now=NOW, jitter=0.5)
    assert (last.attempts, last.state, last.next_attempt_at) == (3, DeliveryState.DEAD, None)


def test_a_failed_tries_error_is_kept_to_its_column() -> None:
    outcome = domain.after_try(0, 0, "x" * 1000, RETRIES, now=NOW, jitter=0.0)
    assert len(outcome.error) == domain.MAX_ERROR
