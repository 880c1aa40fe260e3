"""Per-client token buckets: `rate` requests a second on average, bursts up to `burst`."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """In-memory, per gateway replica: with N replicas a client gets up to N times the rate,
    which the deployment accounts for when it sets the rate."""

    def __init__(self, rate_per_s: float, burst: int, max_clients: int = 100_000) -> None:
        self.rate = rate_per_s
        self.burst = float(burst)
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._max_clients = max_clients

    def take(self, client: str, now: float | None = None) -> float:
        """0 when the request may go ahead, else the seconds until it may be retried."""
        now = time.monotonic() if now is None else now
        bucket = self._buckets.get(client)
        if bucket is None:
            bucket = _Bucket(self.burst, now)
            self._buckets[client] = bucket
            if len(self._buckets) > self._max_clients:
                # The least recently seen client starts afresh: a full bucket is the default anyway.
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(client)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate
