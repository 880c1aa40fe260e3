"""Events between services: transactional outbox -> relay -> NATS JetStream -> inbox.

A producer writes its change and an outbox row in one transaction (`emit`). The relay
publishes outbox rows in order with the event id as JetStream message id, so the broker
drops duplicates, and retries until the broker has them. A consumer records each event id
in its inbox in the same transaction as the effect, so effects happen exactly once even
when a process or the broker dies between any two steps.
"""

from o2o_runtime.events.broker import Broker
from o2o_runtime.events.consumer import EventConsumer
from o2o_runtime.events.outbox import (
    INBOX_KEY,
    InboxEvent,
    OutboxEvent,
    emit,
    ensure_stream,
    outbox_entry,
    stream_config,
    stream_name,
    subject_for,
)
from o2o_runtime.events.relay import OutboxRelay
from o2o_runtime.events.subscriptions import PRODUCERS, Delivered, EventHandler, Subscription, on, on_batch

__all__ = [
    "INBOX_KEY",
    "PRODUCERS",
    "Broker",
    "Delivered",
    "EventConsumer",
    "EventHandler",
    "InboxEvent",
    "OutboxEvent",
    "OutboxRelay",
    "Subscription",
    "emit",
    "ensure_stream",
    "on",
    "on_batch",
    "outbox_entry",
    "stream_config",
    "stream_name",
    "subject_for",
]
