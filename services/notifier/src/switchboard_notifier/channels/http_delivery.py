"""One HTTP call to a provider's send API: the part every HTTP sender shares.

A sender (WhatsApp, Messenger, Telegram, LINE, WeChat/WeCom, SMS) names its provider's API once
(:class:`ProviderApi`: base URL, credentials, timeout) and posts JSON or a form with its provider's
error classifier. What comes back is an answer the provider accepted, or one of the two exceptions
the notifier acts on: :class:`DeliveryRetryable` for a network error or a timeout, and otherwise
what the answer means (:mod:`.provider_answer`: the provider's codes first, then the HTTP status).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import httpx

from switchboard_notifier.channels.base import DeliveryRetryable
from switchboard_notifier.channels.provider_answer import (
    ErrorClassifier,
    ProviderAnswer,
    no_provider_codes,
    status_failure,
)


class ProviderApi:
    """One provider API's HTTP client: its base URL, credentials and timeout, and the shared classification.

    The client is created on the first call and closed by :meth:`close`; a client passed in is the
    caller's to close (``base_url`` and ``timeout_seconds`` are then the client's own; ``headers`` and
    ``auth`` go with every request either way).
    """

    def __init__(
        self,
        name: str,
        *,
        timeout_seconds: float,
        base_url: str = "",
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.name = name
        self._base_url = base_url
        self._timeout = timeout_seconds
        self._headers = dict(headers or {})
        self._auth = auth
        self._client = client
        self._owns_client = client is None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(base_url=self._base_url, timeout=httpx.Timeout(self._timeout))
        return self._client

    async def close(self) -> None:
        if self._client is not None and self._owns_client:
            await self._client.aclose()
            self._client = None

    async def send(
        self,
        path: str,
        *,
        method: str = "POST",
        classify: ErrorClassifier = no_provider_codes,
        also_accepted: Collection[int] = (),
        json: Any = None,
        data: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> ProviderAnswer:
        """POST JSON (``json``) or a form (``data``); the provider's answer when it took the request, else
        DeliveryRetryable or DeliveryFailed.

        ``also_accepted``: statuses besides 2xx that mean the provider has the message (LINE answers
        409 to a retry key it accepted before). Reasons never include the URL: some APIs carry a
        credential in it (Telegram's bot token) or in its query (WeChat's access token).
        """
        try:
            response = await self._http().request(
                method,
                path,
                json=json,
                data=data,
                params=params,
                headers={**self._headers, **(headers or {})},
                auth=self._auth or httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.HTTPError as exc:
            raise DeliveryRetryable(f"{self.name} unreachable: {type(exc).__name__}") from None
        answer = _answer(response)
        if answer.status in also_accepted:
            return answer
        failure = classify(answer)
        if failure is not None:
            raise failure
        if not answer.ok:
            raise status_failure(answer, f"{self.name}: HTTP {answer.status} {answer.text[:200]}".rstrip())
        return answer


def _answer(response: httpx.Response) -> ProviderAnswer:
    try:
        body = response.json()
    except ValueError:
        body = None
    return ProviderAnswer(response.status_code, body, response.text, response.headers)
