"""Per-session token buckets."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class SessionRateLimiter:
    """Allows ``burst`` messages at once and ``rate`` per second sustained, per session.

    Remembers at most ``max_sessions`` (least recently used are forgotten, which only ever lets a
    forgotten session start again with a full bucket).
    """

    def __init__(self, rate: float, burst: int, max_sessions: int = 100_000) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._max = max_sessions
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def acquire(self, session: str, now: float) -> float:
        """0.0 when a message may go now, else the seconds until one may."""
        bucket = self._buckets.get(session)
        if bucket is None:
            bucket = _Bucket(self._burst, now)
            self._buckets[session] = bucket
            if len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(session)
            bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self._rate
