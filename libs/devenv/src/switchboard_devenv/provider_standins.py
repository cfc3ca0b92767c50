"""Local stand-ins for the chat providers' send APIs: Slack's Web API, Meta's Graph API, Telegram's Bot API.

The notifier's real clients (slack-sdk's AsyncWebClient, httpx) are pointed here through their
``*_API_BASE_URL`` settings. Every call is recorded (tests assert on it; the local gateway prints
it), answered as the provider answers a success, or with a failure a test scripted first.

    /slack/api/chat.postMessage              SLACK_API_BASE_URL    = <root>/slack/api/
    /graph/v21.0/<phone-number-id>/messages  META_GRAPH_BASE_URL   = <root>/graph/v21.0
    /graph/v21.0/me/messages
    /telegram/bot<token>/sendMessage         TELEGRAM_API_BASE_URL = <root>/telegram
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from switchboard_devenv.asgi import running_app
from switchboard_devenv.kafka_broker import free_port

GRAPH_VERSION = "v21.0"


@dataclass(frozen=True, slots=True)
class ProviderCall:
    """One request a stand-in received."""

    provider: str
    """slack, whatsapp, messenger or telegram"""
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def text(self) -> str:
        """The message text, wherever the provider's API puts it."""
        body = self.body
        if self.provider == "whatsapp":
            return str(body.get("text", {}).get("body", ""))
        if self.provider == "messenger":
            return str(body.get("message", {}).get("text", ""))
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
        return str(body.get("chat_id", ""))


@dataclass(frozen=True, slots=True)
class ScriptedAnswer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class ProviderStandIns:
    """The stand-in APIs as one ASGI app, with what they received."""

    def __init__(self, on_call: Callable[[ProviderCall], None] | None = None) -> None:
        self.calls: list[ProviderCall] = []
        self._scripted: dict[str, deque[ScriptedAnswer]] = defaultdict(deque)
        self._on_call = on_call
        self._changed: asyncio.Condition | None = None
        self._ids = itertools.count(1)
        self.app = self._build()

    # -- scripting and inspecting ----------------------------------------------------------------

    def fail_next(
        self, provider: str, status: int, body: dict[str, Any], headers: dict[str, str] | None = None, times: int = 1
    ) -> None:
        """Answer the next ``times`` calls to ``provider`` with this failure instead of a success."""
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

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    # -- the app ---------------------------------------------------------------------------------

    def _build(self) -> FastAPI:
        app = FastAPI(title="Switchboard provider stand-ins", docs_url=None, redoc_url=None)

        @app.get("/readyz")
        async def ready() -> dict[str, str]:
            return {"status": "ready"}

        @app.post("/slack/api/chat.postMessage")
        async def slack_post_message(request: Request) -> JSONResponse:
            call = await self._record("slack", request)
            answer = self._answer("slack")
            if answer is not None:
                return answer
            ts = f"{time.time():.6f}"
            return JSONResponse({"ok": True, "channel": call.body.get("channel"), "ts": ts})

        @app.post("/graph/{version}/me/messages")
        async def messenger_send(request: Request, version: str) -> JSONResponse:
            call = await self._record("messenger", request)
            answer = self._answer("messenger")
            if answer is not None:
                return answer
            recipient = call.body.get("recipient", {}).get("id")
            return JSONResponse({"recipient_id": recipient, "message_id": f"m_standin_{next(self._ids)}"})

        @app.post("/graph/{version}/{phone_number_id}/messages")
        async def whatsapp_send(request: Request, version: str, phone_number_id: str) -> JSONResponse:
            call = await self._record("whatsapp", request)
            answer = self._answer("whatsapp")
            if answer is not None:
                return answer
            to = call.body.get("to")
            return JSONResponse(
                {
                    "messaging_product": "whatsapp",
                    "contacts": [{"input": to, "wa_id": to}],
                    "messages": [{"id": f"wamid.standin{next(self._ids)}"}],
                }
            )

        @app.post("/telegram/{bot}/sendMessage")
        async def telegram_send(request: Request, bot: str) -> JSONResponse:
            call = await self._record("telegram", request)
            if not bot.startswith("bot"):
                return JSONResponse({"ok": False, "error_code": 404, "description": "Not Found"}, status_code=404)
            answer = self._answer("telegram")
            if answer is not None:
                return answer
            chat = call.body.get("chat_id")
            return JSONResponse(
                {
                    "ok": True,
                    "result": {
                        "message_id": next(self._ids),
                        "date": int(time.time()),
                        "chat": {"id": chat},
                        "text": call.body.get("text"),
                    },
                }
            )

        return app

    async def _record(self, provider: str, request: Request) -> ProviderCall:
        try:
            body = await request.json()
        except ValueError:
            body = {}
        call = ProviderCall(
            provider=provider,
            path=request.url.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body if isinstance(body, dict) else {},
        )
        self.calls.append(call)
        if self._on_call is not None:
            self._on_call(call)
        changed = self._condition()
        async with changed:
            changed.notify_all()
        return call

    def _answer(self, provider: str) -> JSONResponse | None:
        queue = self._scripted[provider]
        if not queue:
            return None
        answer = queue.popleft()
        return JSONResponse(answer.body, status_code=answer.status, headers=answer.headers)


def base_urls(root: str) -> dict[str, str]:
    """The notifier's environment that points every sender at stand-ins served at ``root``."""
    return {
        "SLACK_API_BASE_URL": f"{root}/slack/api/",
        "META_GRAPH_BASE_URL": f"{root}/graph/{GRAPH_VERSION}",
        "TELEGRAM_API_BASE_URL": f"{root}/telegram",
    }


@contextlib.asynccontextmanager
async def serving(standins: ProviderStandIns) -> AsyncIterator[str]:
    """Serve the stand-ins on a loopback port inside the running event loop; yields the root URL."""
    async with running_app(standins.app) as url:
        yield url


class StandInThread:
    """The stand-ins served from a background thread (for the local gateway runner)."""

    def __init__(self, standins: ProviderStandIns, port: int | None = None) -> None:
        self.port = port or free_port()
        self.root = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(standins.app, host="127.0.0.1", port=self.port, log_config=None, access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="provider-standins", daemon=True)

    def start(self, timeout: float = 15.0) -> StandInThread:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the provider stand-ins did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
