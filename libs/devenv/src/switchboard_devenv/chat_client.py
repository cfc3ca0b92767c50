"""A web-chat customer population that never gives up: what fault tests and benchmarks drive the gateway with.

Each message is sent on its own chat session (so each expects its own acknowledgement) and resent,
with the same client message id, until intake-chat accepts it: on a 503, a refused connection or a
timeout. A resend can never create a second message: the event id derives from the session and the
client message id.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from switchboard_devenv.http_client import HttpError, HttpResponse, KeepAliveClient


@dataclass(slots=True)
class SentMessage:
    """One customer message and what happened to it."""

    index: int
    text: str
    conversation_id: str = ""
    event_id: str = ""
    scheduled_at: float = 0.0
    accepted_at: float = 0.0
    attempts: int = 0
    retryable_errors: list[str] = field(default_factory=list)


class ChatCustomers:
    """Sends messages to intake-chat over HTTP, one session per message, resending until accepted."""

    def __init__(self, base_url: str, *, give_up_after: float = 120.0, timeout: float = 15.0) -> None:
        self._give_up_after = give_up_after
        self._client = KeepAliveClient(base_url, max_connections=256, timeout=timeout)

    async def close(self) -> None:
        await self._client.close()

    async def __aenter__(self) -> ChatCustomers:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _retrying(self, message: SentMessage, call: Callable[[], Awaitable[HttpResponse]]) -> HttpResponse:
        deadline = time.monotonic() + self._give_up_after
        delay = 0.2
        while True:
            message.attempts += 1
            try:
                response = await call()
                if response.status < 500 and response.status != 429:
                    return response
                message.retryable_errors.append(str(response.status))
            except HttpError as exc:
                message.retryable_errors.append(str(exc))
            if time.monotonic() > deadline:
                history = ", ".join(message.retryable_errors[-12:])
                raise TimeoutError(
                    f"message {message.index} not accepted within {self._give_up_after:.0f}s "
                    f"after {message.attempts} attempts (last errors: {history})"
                )
            await asyncio.sleep(random.uniform(delay / 2, delay))
            delay = min(delay * 2, 2.0)

    async def send(self, message: SentMessage) -> SentMessage:
        message.scheduled_at = message.scheduled_at or time.monotonic()
        session = await self._retrying(message, lambda: self._client.request("POST", "/v1/webchat/sessions"))
        if session.status != 201:
            raise AssertionError(f"no session for message {message.index}: {session.status} {session.body!r}")
        created = session.json()
        assert isinstance(created, dict)
        message.conversation_id = created["conversation_id"]
        body = {"type": "message", "id": f"m{message.index}", "text": message.text}
        headers = {"Authorization": f"Bearer {created['session']}"}
        response = await self._retrying(
            message, lambda: self._client.request("POST", "/v1/webchat/messages", json=body, headers=headers)
        )
        if response.status != 202:
            raise AssertionError(f"message {message.index} refused: {response.status} {response.body!r}")
        accepted = response.json()
        assert isinstance(accepted, dict)
        message.event_id = accepted["event_id"]
        message.accepted_at = time.monotonic()
        return message

    async def stream(
        self,
        texts: list[str],
        rate: float,
        on_progress: Callable[[int], None] | None = None,
    ) -> list[SentMessage]:
        """Send ``texts`` at ``rate`` per second (open loop: on schedule, whatever the answers take)."""
        started = time.monotonic()
        tasks = []
        for index, text in enumerate(texts):
            scheduled = started + index / rate
            delay = scheduled - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            message = SentMessage(index=index, text=text, scheduled_at=scheduled)
            tasks.append(asyncio.create_task(self.send(message)))
            if on_progress is not None:
                on_progress(index)
        return list(await asyncio.gather(*tasks))
