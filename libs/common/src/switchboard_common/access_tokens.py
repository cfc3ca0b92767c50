"""Provider access tokens (WeChat, WeCom): fetched once, shared, refreshed shortly before they expire.

The cache knows nothing about HTTP: it is given a coroutine that fetches a token and says how long
it lives. Concurrent callers share one fetch; :meth:`AccessTokenCache.invalidate` drops a token the
provider rejected so that the next call fetches a new one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AccessToken:
    value: str
    expires_in: float
    """Seconds the provider says the token lives."""


class AccessTokenCache:
    """One provider credential's current access token."""

    def __init__(
        self,
        fetch: Callable[[], Awaitable[AccessToken]],
        *,
        refresh_margin: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._margin = refresh_margin
        self._clock = clock
        self._token: str | None = None
        self._valid_until = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def get(self) -> str:
        """A token that is valid for at least ``refresh_margin`` more seconds (or half its life)."""
        if self._token is not None and self._clock() < self._valid_until:
            return self._token
        async with self._lock:
            if self._token is not None and self._clock() < self._valid_until:
                return self._token
            token = await self._fetch()
            self.fetches += 1
            margin = min(self._margin, token.expires_in / 2)
            self._token = token.value
            self._valid_until = self._clock() + token.expires_in - margin
            return token.value

    def invalidate(self, rejected: str) -> None:
        """Forget ``rejected`` (the provider said it is invalid or expired), unless it was already replaced."""
        if self._token == rejected:
            self._token = None
            self._valid_until = 0.0
