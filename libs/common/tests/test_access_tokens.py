"""The provider access-token cache: one fetch shared, refreshed before expiry, replaced when rejected."""

from __future__ import annotations

import asyncio

import pytest

from switchboard_common.access_tokens import WECOM_TOKEN_REJECTED, AccessToken, AccessTokenCache, errcode


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def issuing(lifetime: float = 7200.0):
    issued: list[str] = []

    async def fetch() -> AccessToken:
        await asyncio.sleep(0.01)
        issued.append(f"t{len(issued) + 1}")
        return AccessToken(issued[-1], lifetime)

    return fetch, issued


async def test_concurrent_callers_share_one_fetch():
    fetch, issued = issuing()
    cache = AccessTokenCache(fetch)
    tokens = await asyncio.gather(*(cache.get() for _ in range(10)))
    assert set(tokens) == {"t1"} and issued == ["t1"]


async def test_a_token_is_refreshed_shortly_before_it_expires():
    fetch, _ = issuing(7200.0)
    clock = FakeClock()
    cache = AccessTokenCache(fetch, refresh_margin=300.0, clock=clock)
    assert await cache.get() == "t1"
    clock.now = 6899.0
    assert await cache.get() == "t1"
    clock.now = 6901.0
    assert await cache.get() == "t2"


async def test_a_short_lived_token_is_refreshed_at_half_its_life():
    fetch, _ = issuing(60.0)
    clock = FakeClock()
    cache = AccessTokenCache(fetch, refresh_margin=300.0, clock=clock)
    await cache.get()
    clock.now = 31.0
    assert await cache.get() == "t2"


async def test_a_rejected_token_is_replaced_but_a_newer_one_is_kept():
    fetch, issued = issuing()
    cache = AccessTokenCache(fetch)
    await cache.get()
    cache.invalidate("t1")
    assert await cache.get() == "t2"
    cache.invalidate("t1")  # a late rejection of the old token must not drop the new one
    assert await cache.get() == "t2"
    assert issued == ["t1", "t2"]


async def test_a_call_whose_token_is_rejected_is_made_once_more_with_a_new_token():
    fetch, _ = issuing()
    cache = AccessTokenCache(fetch)
    used: list[str] = []

    async def send(token: str) -> dict[str, int]:
        used.append(token)
        return {"errcode": 42001 if token == "t1" else 0}

    answer = await cache.call(send, rejected=lambda body: errcode(body) in WECOM_TOKEN_REJECTED)
    assert (used, answer) == (["t1", "t2"], {"errcode": 0})


async def test_a_call_is_made_at_most_twice_when_the_new_token_is_rejected_too():
    fetch, _ = issuing()
    cache = AccessTokenCache(fetch)
    used: list[str] = []

    async def send(token: str) -> dict[str, int]:
        used.append(token)
        return {"errcode": 40014}

    answer = await cache.call(send, rejected=lambda body: errcode(body) in WECOM_TOKEN_REJECTED)
    assert used == ["t1", "t2"] and errcode(answer) == 40014


def test_a_token_endpoint_answer_without_a_token_is_an_error():
    assert AccessToken.from_answer({"access_token": "abc", "expires_in": 7200}) == AccessToken("abc", 7200.0)
    with pytest.raises(ValueError, match="40013"):
        AccessToken.from_answer({"errcode": 40013, "errmsg": "invalid appid"})


def test_an_unreadable_errcode_counts_as_system_busy():
    assert errcode({}) == 0 and errcode({"errcode": "x"}) == -1
