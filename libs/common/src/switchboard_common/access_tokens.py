"""Provider access tokens (WeChat, WeCom): fetched once, shared, refreshed shortly before they expire.

The cache knows nothing about HTTP: it is given a coroutine that fetches a token and says how long
it lives. Concurrent callers share one fetch; :meth:`AccessTokenCache.call` makes an API call with
the current token and, when the provider rejects the token, drops it and calls once more with a new
one. intake-chat (WeCom's ``kf/sync_msg``) and the notifier (WeChat's and WeCom's send APIs) both use it.

WeChat and WeCom answer ``{"errcode": ..., "errmsg": ...}`` (0 or absent: success); their token
endpoints answer ``{"access_token": ..., "expires_in": ...}``: :func:`errcode` and
:meth:`AccessToken.from_answer` read them, the ``*_TOKEN_REJECTED`` sets name the errcodes of a
stale or invalid token.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

WECHAT_TOKEN_REJECTED = frozenset({40001, 40014, 42001})
"""Official Account errcodes for an invalid or expired access_token."""
WECOM_TOKEN_REJECTED = frozenset({40014, 42001})
"""WeCom errcodes for an invalid or expired access_token (40001 is an invalid secret there, not a stale token)."""


def errcode(answer: Mapping[str, Any]) -> int:
    """The errcode of a WeChat or WeCom API answer (0: success; one that cannot be read: -1, "system busy")."""
    try:
        return int(answer.get("errcode", 0) or 0)
    except (TypeError, ValueError):
        return -1


@dataclass(frozen=True, slots=True)
class AccessToken:
    value: str
    expires_in: float
    """Seconds the provider says the token lives."""

    @classmethod
    def from_answer(cls, answer: Mapping[str, Any]) -> AccessToken:
        """The token of a WeChat or WeCom token endpoint's answer; ValueError when it has none."""
        value = answer.get("access_token")
        if errcode(answer) or not value:
            raise ValueError(f"no access token: errcode {errcode(answer)} {str(answer.get('errmsg', ''))[:100]}")
        return cls(str(value), float(answer.get("expires_in", 7200)))


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

    async def call(self, request: Callable[[str], Awaitable[T]], rejected: Callable[[T], bool]) -> T:
        """``request(token)``; when its answer says the token was rejected, once more with a new token."""
        token = await self.get()
        answer = await request(token)
        if rejected(answer):
            self.invalidate(token)
            answer = await request(await self.get())
        return answer

    def invalidate(self, rejected: str) -> None:
        """Forget ``rejected`` (the provider said it is invalid or expired), unless it was already replaced."""
        if self._token == rejected:
            self._token = None
            self._valid_until = 0.0
