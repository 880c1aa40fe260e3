"""What a consumer handles, declared and checked at start-up."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from google.protobuf.message import Message
from o2o.events.v1 import envelope_pb2

if TYPE_CHECKING:
    from o2o_runtime.uow import UnitOfWork, UnitsOfWork


R = TypeVar("R")
P = TypeVar("P", bound=Message)

# Every service that publishes events; a subscription to anyone else is a mistake.
PRODUCERS = ("identity", "receipts", "loyalty", "positioning", "recs", "webhooks")
EVENTS_PACKAGE = "o2o.events.v1"


@dataclass(frozen=True)
class Delivered(Generic[P]):
    """An event as a batch handler gets it: its payload and its envelope."""

    payload: P
    envelope: envelope_pb2.Envelope


@dataclass(frozen=True)
class EventHandler(Generic[R]):
    """Applies one type of event inside the consumer's unit of work: one event at a time
    (`apply`), or a run of consecutive events of the type at once (`apply_batch`), for a
    consumer that writes a whole batch in a few statements."""

    payload_type: type[Message]
    apply: Callable[[UnitOfWork[R], Any, envelope_pb2.Envelope], Awaitable[None]] | None = None
    apply_batch: Callable[[UnitOfWork[R], Sequence[Delivered[Any]]], Awaitable[None]] | None = None

    @property
    def event_type(self) -> str:
        return str(self.payload_type.DESCRIPTOR.name)


def on(
    payload_type: type[P], handler: Callable[[UnitOfWork[R], P, envelope_pb2.Envelope], Awaitable[None]]
) -> EventHandler[R]:
    """Handles events whose payload is payload_type; the type names the event."""
    return EventHandler(payload_type, apply=handler)


def on_batch(
    payload_type: type[P], handler: Callable[[UnitOfWork[R], Sequence[Delivered[P]]], Awaitable[None]]
) -> EventHandler[R]:
    """Handles runs of consecutive events whose payload is payload_type, in one call each:
    the events of a fetched batch keep their order, and a run ends where another type begins."""
    return EventHandler(payload_type, apply_batch=handler)


@dataclass(frozen=True)
class Subscription(Generic[R]):
    """What a consumer service handles: events of one producer, by payload type, applied in
    the consumer's own units of work.

    Checked when it is declared, so a wrong producer or payload fails at start-up instead of
    acking and dropping every event."""

    producer: str
    units: UnitsOfWork[R]
    handlers: Sequence[EventHandler[R]]
    # Whose event contract the stream carries; the producer's own unless the stream is a
    # copy under another name (a mirror, or an isolated stream in tests).
    events_of: str = ""

    def __post_init__(self) -> None:
        contract = self.events_of or self.producer
        if contract not in PRODUCERS:
            raise ValueError(f"unknown event producer {contract!r}; known: {', '.join(PRODUCERS)}")
        if not self.handlers:
            raise ValueError(f"a subscription to {self.producer} must handle at least one event type")
        expected_file = f"o2o/events/v1/{contract}_events.proto"
        seen: set[str] = set()
        for handler in self.handlers:
            descriptor = handler.payload_type.DESCRIPTOR
            if descriptor.file.package != EVENTS_PACKAGE or descriptor.file.name != expected_file:
                raise ValueError(
                    f"{descriptor.full_name} is not an event {self.producer} publishes (those are in {expected_file})"
                )
            if handler.event_type in seen:
                raise ValueError(f"{handler.event_type} is handled twice in one subscription to {self.producer}")
            seen.add(handler.event_type)

    def handler_for(self, event_type: str) -> EventHandler[R] | None:
        for handler in self.handlers:
            if handler.event_type == event_type:
                return handler
        return None
