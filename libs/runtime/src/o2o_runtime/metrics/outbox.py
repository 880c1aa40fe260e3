"""The outbox backlog: pending rows counted every few seconds by one small query."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import func
from sqlmodel import col, select

from o2o_runtime.db import Database
from o2o_runtime.events import OutboxEvent
from o2o_runtime.metrics.events import outbox_pending

log = logging.getLogger("o2o.metrics")


async def watch_backlog(producer: str, database: Database, stop: asyncio.Event, interval_s: float = 10.0) -> None:
    """Counts unpublished rows (an index range on published_at) apart from the relay's rounds,
    so the count costs nothing per event however busy the relay is. Every replica reports the
    same database's count: aggregate with max, not sum."""
    query = select(func.count()).select_from(OutboxEvent).where(col(OutboxEvent.published_at).is_(None))
    while not stop.is_set():
        try:
            async with database.read() as session:
                outbox_pending(producer, int((await session.exec(query)).one()))
        except Exception as exc:
            # The database watcher reports outages; a missed count is only a gap in a graph.
            log.debug("outbox backlog not counted", extra={"error": str(exc)})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)
