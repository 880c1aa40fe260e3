"""Connections of a service's database pool in use and idle: OpenTelemetry's
`db.client.connection.count` with `db.client.connection.state` used or idle."""

from __future__ import annotations

from collections.abc import Iterator

from opentelemetry.metrics import CallbackOptions, Meter, Observation
from sqlalchemy.pool import Pool


def observe_pool(meter: Meter | None, name: str, pool: Pool) -> None:
    """Reads the pool when metrics are collected; nothing is counted on the query path."""
    if meter is None:
        return
    used = {"db.client.connection.pool.name": name, "db.client.connection.state": "used"}
    idle = {"db.client.connection.pool.name": name, "db.client.connection.state": "idle"}
    # Pools that keep no connections (NullPool, StaticPool) have no counts to report.
    checked_out = getattr(pool, "checkedout", None)
    checked_in = getattr(pool, "checkedin", None)
    if checked_out is None or checked_in is None:
        return

    def observe(_options: CallbackOptions) -> Iterator[Observation]:
        yield Observation(checked_out(), used)
        yield Observation(checked_in(), idle)

    meter.create_observable_up_down_counter(
        "db.client.connection.count",
        callbacks=[observe],
        unit="{connection}",
        description="Connections of the database pool, by state",
    )
