"""What every provider API stand-in shares: the log of the calls it received, scripted failures, acknowledgements.

Each stand-in (Slack, Meta's Graph API, Telegram, WeChat/WeCom, LINE, Twilio) answers its send
endpoints through :meth:`StandInLog.handle`: the call is recorded (tests assert on it and wait for
it), answered with a failure a test scripted first (:meth:`StandInLog.fail_next`) or else by the
provider's own logic, and a message the provider accepted is handed to ``on_delivery`` (the local
gateway prints it: :func:`describe`).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.responses import JSONResponse, Response


class Refused(JSONResponse):
    """An answer refusing the message (an error document, or WeChat's errcode in a 200): logged, not delivered."""


@dataclass(frozen=True, slots=True)
class ProviderCall:
    """One request a stand-in's send endpoint received, and how it was answered."""

    provider: str
    """slack, whatsapp, messenger, telegram, wechat (WeChat and WeCom), line or twilio"""
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    """The JSON body, or the form of a form-encoded one."""
    query: dict[str, str] = field(default_factory=dict)
    status: int = 0
    delivered: bool = False
    """The provider accepted the message (not refused, not a scripted failure)."""
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def text(self) -> str:
        """The message text, wherever the provider's API puts it."""
        body = self.body
        if self.provider == "whatsapp":
            return str(body.get("text", {}).get("body", ""))
        if self.provider == "messenger":
            return str(body.get("message", {}).get("text", ""))
        if self.provider == "wechat":
            return str(body.get("text", {}).get("content", ""))
        if self.provider == "line":
            return " ".join(str(m.get("text", "")) for m in body.get("messages", []) if isinstance(m, dict))
        if self.provider == "twilio":
            return str(body.get("Body", ""))
        return str(body.get("text", ""))

    @property
    def recipient(self) -> str:
        body = self.body
        if self.provider == "slack":
            return str(body.get("channel", ""))
        if self.provider == "whatsapp":
            return str(body.get("to", ""))
        if self.provider == "messenger":
            return str(body.get("recipient", {}).get("id", ""))
        if self.provider == "wechat":
            return str(body.get("touser", ""))
        if self.provider == "line":
            return str(body.get("to") or f"reply token {str(body.get('replyToken', ''))[:8]}…")
        if self.provider == "twilio":
            return str(body.get("To", ""))
        return str(body.get("chat_id", ""))


def describe(call: ProviderCall) -> str:
    """The console lines for an acknowledgement a stand-in received (the local gateway prints them)."""
    body = call.body
    label = call.provider
    where = f"to {call.recipient}"
    if call.provider == "slack":
        where = f"channel {call.recipient}, thread {body.get('thread_ts')}"
    elif call.provider == "whatsapp":
        where = f"to {call.recipient}, replying to {body.get('context', {}).get('message_id')}"
    elif call.provider == "messenger":
        where = f"to PSID {call.recipient}"
    elif call.provider == "telegram":
        where = f"chat {call.recipient}, replying to {body.get('reply_parameters', {}).get('message_id')}"
    elif call.provider == "wechat":
        api = call.path.split("/cgi-bin/", 1)[-1]
        label = f"{'WeChat' if api == 'message/custom/send' else 'WeCom'} {api}"
    elif call.provider == "line":
        label = f"LINE {call.path.rsplit('/', 1)[-1]}"
    elif call.provider == "twilio":
        label = "twilio SMS"
        where = f"to {call.recipient} from {body.get('From') or body.get('MessagingServiceSid')}"
    return f"[{label} API] acknowledgement ({where}):\n    {call.text}"


@dataclass(frozen=True, slots=True)
class ScriptedAnswer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class StandInLog:
    """The calls the stand-ins received, the failures scripted for their next calls, and who hears of deliveries."""

    def __init__(self, on_delivery: Callable[[ProviderCall], None] | None = None) -> None:
        self.calls: list[ProviderCall] = []
        self.on_delivery = on_delivery
        self._scripted: dict[str, deque[ScriptedAnswer]] = defaultdict(deque)
        self._changed: asyncio.Condition | None = None

    def fail_next(
        self, provider: str, status: int, body: dict[str, Any], headers: dict[str, str] | None = None, times: int = 1
    ) -> None:
        """Answer the next ``times`` calls to ``provider`` with this failure instead of the provider's answer."""
        for _ in range(times):
            self._scripted[provider].append(ScriptedAnswer(status, body, headers or {}))

    def calls_to(self, provider: str) -> list[ProviderCall]:
        return [call for call in self.calls if call.provider == provider]

    async def wait_for_calls(self, provider: str, count: int, timeout: float = 30.0) -> list[ProviderCall]:
        """Until ``provider`` received ``count`` calls (raises TimeoutError otherwise)."""
        changed = self._condition()
        async with asyncio.timeout(timeout), changed:
            await changed.wait_for(lambda: len(self.calls_to(provider)) >= count)
        return self.calls_to(provider)

    async def handle(
        self, provider: str, request: Request, answer: Callable[[ProviderCall], Awaitable[Response]]
    ) -> Response:
        """Record the call; answer it with the next scripted failure, else with ``answer(call)``."""
        call = ProviderCall(
            provider=provider,
            path=request.url.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=await _body(request),
            query=dict(request.query_params),
        )
        queue = self._scripted[provider]
        if queue:
            scripted = queue.popleft()
            response: Response = Refused(scripted.body, status_code=scripted.status, headers=scripted.headers)
        else:
            response = await answer(call)
        delivered = response.status_code < 300 and not isinstance(response, Refused)
        call = replace(call, status=response.status_code, delivered=delivered)
        self.calls.append(call)
        changed = self._condition()
        async with changed:
            changed.notify_all()
        if delivered and self.on_delivery is not None:
            self.on_delivery(call)
        return response

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
