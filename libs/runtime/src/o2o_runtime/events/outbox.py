"""The outbox and the streams: an event is a row written with the change, published later
under `o2o.<producer>.<Event>` with its id as the JetStream message id."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from google.protobuf.message import Message
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError
from o2o.events.v1 import envelope_pb2
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from o2o_runtime.db import utc_timestamp
from o2o_runtime.ids import new_id
from o2o_runtime.telemetry import trace_headers
from o2o_runtime.timeutil import utcnow
from o2o_runtime.wellknown import set_timestamp

log = logging.getLogger("o2o.events")


class OutboxEvent(SQLModel, table=True):
    __tablename__ = "outbox_event"

    event_id: str = Field(primary_key=True, max_length=36)
    subject: str = Field(max_length=200)
    envelope: bytes
    created_at: datetime = utc_timestamp(index=True)
    published_at: datetime | None = utc_timestamp(nullable=True, index=True)
    attempts: int = 0
    last_error: str = Field(default="", max_length=500)


class InboxEvent(SQLModel, table=True):
    __tablename__ = "inbox_event"

    consumer: str = Field(primary_key=True, max_length=100)
    event_id: str = Field(primary_key=True, max_length=36)
    event_type: str = Field(max_length=100)
    handled_at: datetime = utc_timestamp()


INBOX_KEY = ("consumer", "event_id")


def subject_for(producer: str, event_type: str) -> str:
    return f"o2o.{producer}.{event_type}"


def stream_name(producer: str) -> str:
    return f"O2O_{producer.upper()}"


def stream_config(producer: str, replicas: int = 1) -> StreamConfig:
    # One stream per producer; the duplicate window covers relay retries after a crash.
    # Replicas match the NATS cluster (O2O_STREAM_REPLICAS): 3 on a three-node cluster.
    return StreamConfig(
        name=stream_name(producer),
        num_replicas=replicas,
        subjects=[f"o2o.{producer}.>"],
        duplicate_window=float(timedelta(minutes=10).total_seconds()),
        max_age=float(timedelta(days=7).total_seconds()),
    )


async def ensure_stream(js: JetStreamContext, producer: str, replicas: int = 1) -> None:
    config = stream_config(producer, replicas)
    try:
        info = await js.stream_info(config.name or "")
        if (info.config.num_replicas or 1) < replicas:
            # The cluster grew since the stream was made: JetStream adds the replicas. Only
            # ever up, so a replica still on the old setting during a rollout does not undo it;
            # a cluster not able to yet leaves the stream serving as it is.
            try:
                await js.update_stream(replace(info.config, num_replicas=replicas))
            except Exception as exc:
                log.warning(
                    "stream replicas not raised", extra={"stream": config.name, "replicas": replicas, "error": str(exc)}
                )
    except NotFoundError:
        with contextlib.suppress(Exception):
            await js.add_stream(config)
            return
        await js.stream_info(config.name or "")


def outbox_entry(producer: str, payload: Message, key: str = "") -> tuple[envelope_pb2.Envelope, dict[str, Any]]:
    """The envelope of an event and its outbox row (as column values), for a writer that
    inserts outbox rows in bulk. The trace context is the caller's current one."""
    event_type = payload.DESCRIPTOR.name
    now = utcnow()
    traceparent, tracestate = trace_headers()
    envelope = envelope_pb2.Envelope(
        event_id=new_id(), type=event_type, producer=producer, traceparent=traceparent, tracestate=tracestate, key=key
    )
    # Filled in place: no Timestamp or Any built and copied in (one per event written).
    set_timestamp(envelope.occurred_at, now)
    envelope.payload.Pack(payload)
    row = {
        "event_id": envelope.event_id,
        "subject": subject_for(producer, event_type),
        "envelope": envelope.SerializeToString(),
        "created_at": now,
        "published_at": None,
        "attempts": 0,
        "last_error": "",
    }
    return envelope, row


def emit(session: AsyncSession, producer: str, payload: Message, key: str = "") -> envelope_pb2.Envelope:
    """Adds the event to the caller's transaction; it is published only if that commits."""
    envelope, row = outbox_entry(producer, payload, key)
    session.add(OutboxEvent(**row))
    return envelope
