"""Token buckets per key (a chat session, a client address): a burst at once, then a sustained rate."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class KeyedRateLimiter:
    """Allows ``burst`` requests at once and ``rate`` per second sustained, per key.

    Refused requests take nothing from the bucket. Remembers at most ``max_keys`` (least recently used
    are forgotten, which only ever lets a forgotten key start again with a full bucket).
    """

    def __init__(self, rate: float, burst: int, max_keys: int = 100_000) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._max = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def acquire(self, key: str, now: float) -> float:
        """0.0 when a request may go now, else the seconds until one may."""
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(self._burst, now)
            self._buckets[key] = bucket
            if len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self._rate
