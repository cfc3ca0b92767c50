"""Local stand-ins for the providers' send APIs, as one app on one port: for tests and for ``make run``.

The notifier's real clients (slack-sdk's AsyncWebClient, httpx) are pointed here through their
``*_API_BASE_URL`` settings. Every call goes through one :class:`~switchboard_devenv.standin_log.StandInLog`
(recorded, answered with a failure a test scripted first or as the provider answers, acknowledgements
handed to ``on_delivery``):

    /slack/api/chat.postMessage              SLACK_API_BASE_URL    = <root>/slack/api/
    /graph/v21.0/<phone-number-id>/messages  META_GRAPH_BASE_URL   = <root>/graph/v21.0
    /graph/v21.0/me/messages
    /telegram/bot<token>/sendMessage         TELEGRAM_API_BASE_URL = <root>/telegram
    /wechat/cgi-bin/...                      WECHAT_API_BASE_URL, WECOM_API_BASE_URL = <root>/wechat
    /line/v2/bot/message/{reply,push}        LINE_API_BASE_URL     = <root>/line
    /twilio/2010-04-01/Accounts/.../Messages.json   TWILIO_API_BASE_URL = <root>/twilio

Slack, Meta and Telegram are always there; WeChat/WeCom, LINE and Twilio when their state is given
(their stand-ins check credentials: :mod:`.wechat_standin`, :mod:`.line_standin`, :mod:`.twilio_api`).
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from switchboard_devenv.asgi import running_app
from switchboard_devenv.line_standin import LineApiState, line_api
from switchboard_devenv.standin_log import ProviderCall, Refused, StandInLog
from switchboard_devenv.twilio_api import TwilioApiState, create_app
from switchboard_devenv.wechat_standin import WeChatApiState, wechat_api

GRAPH_VERSION = "v21.0"

__all__ = ["GRAPH_VERSION", "ProviderCall", "ProviderStandIns", "base_urls", "serving"]


class ProviderStandIns:
    """The stand-in APIs as one ASGI app (``app``), with the calls they received (``calls``)."""

    def __init__(
        self,
        on_delivery: Callable[[ProviderCall], None] | None = None,
        *,
        wechat: WeChatApiState | None = None,
        wechat_secrets: tuple[str | None, str | None] = (None, None),
        line: LineApiState | None = None,
        twilio: TwilioApiState | None = None,
    ) -> None:
        self.log = StandInLog(on_delivery)
        self.wechat, self.line, self.twilio = wechat, line, twilio
        self._ids = itertools.count(1)
        self.app = self._build()
        # The providers' own stand-ins record into this app's log (one log, one on_delivery).
        if wechat is not None:
            wechat.log = self.log
            app_secret, corp_secret = wechat_secrets
            self.app.mount("/wechat", wechat_api(wechat, app_secret=app_secret, corp_secret=corp_secret))
        if line is not None:
            line.log = self.log
            self.app.mount("/line", line_api(line))
        if twilio is not None:
            twilio.log = self.log
            self.app.mount("/twilio", create_app(twilio))

    @property
    def calls(self) -> list[ProviderCall]:
        return self.log.calls

    def fail_next(
        self, provider: str, status: int, body: dict[str, Any], headers: dict[str, str] | None = None, times: int = 1
    ) -> None:
        """Answer the next ``times`` calls to ``provider`` with this failure instead of a success."""
        self.log.fail_next(provider, status, body, headers, times)

    def calls_to(self, provider: str) -> list[ProviderCall]:
        return self.log.calls_to(provider)

    async def wait_for_calls(self, provider: str, count: int, timeout: float = 30.0) -> list[ProviderCall]:
        """Until ``provider`` received ``count`` calls (raises TimeoutError otherwise)."""
        return await self.log.wait_for_calls(provider, count, timeout)

    def _build(self) -> FastAPI:
        app = FastAPI(title="Switchboard provider stand-ins", docs_url=None, redoc_url=None)

        @app.get("/readyz")
        async def ready() -> dict[str, str]:
            return {"status": "ready"}

        @app.post("/slack/api/chat.postMessage")
        async def slack_post_message(request: Request) -> Response:
            async def answer(call: ProviderCall) -> Response:
                return JSONResponse({"ok": True, "channel": call.body.get("channel"), "ts": f"{time.time():.6f}"})

            return await self.log.handle("slack", request, answer)

        @app.post("/graph/{version}/me/messages")
        async def messenger_send(request: Request, version: str) -> Response:
            async def answer(call: ProviderCall) -> Response:
                recipient = call.body.get("recipient", {}).get("id")
                return JSONResponse({"recipient_id": recipient, "message_id": f"m_standin_{next(self._ids)}"})

            return await self.log.handle("messenger", request, answer)

        @app.post("/graph/{version}/{phone_number_id}/messages")
        async def whatsapp_send(request: Request, version: str, phone_number_id: str) -> Response:
            async def answer(call: ProviderCall) -> Response:
                to = call.body.get("to")
                return JSONResponse(
                    {
                        "messaging_product": "whatsapp",
                        "contacts": [{"input": to, "wa_id": to}],
                        "messages": [{"id": f"wamid.standin{next(self._ids)}"}],
                    }
                )

            return await self.log.handle("whatsapp", request, answer)

        @app.post("/telegram/{bot}/sendMessage")
        async def telegram_send(request: Request, bot: str) -> Response:
            async def answer(call: ProviderCall) -> Response:
                if not bot.startswith("bot"):
                    return Refused({"ok": False, "error_code": 404, "description": "Not Found"}, status_code=404)
                result = {
                    "message_id": next(self._ids),
                    "date": int(time.time()),
                    "chat": {"id": call.body.get("chat_id")},
                    "text": call.body.get("text"),
                }
                return JSONResponse({"ok": True, "result": result})

            return await self.log.handle("telegram", request, answer)

        return app


def base_urls(root: str) -> dict[str, str]:
    """The notifier's environment that points every sender at stand-ins served at ``root``."""
    return {
        "SLACK_API_BASE_URL": f"{root}/slack/api/",
        "META_GRAPH_BASE_URL": f"{root}/graph/{GRAPH_VERSION}",
        "TELEGRAM_API_BASE_URL": f"{root}/telegram",
        "WECHAT_API_BASE_URL": f"{root}/wechat",
        "WECOM_API_BASE_URL": f"{root}/wechat",
        "LINE_API_BASE_URL": f"{root}/line",
        "TWILIO_API_BASE_URL": f"{root}/twilio",
    }


@contextlib.asynccontextmanager
async def serving(standins: ProviderStandIns) -> AsyncIterator[str]:
    """Serve the stand-ins on a loopback port inside the running event loop; yields the root URL."""
    async with running_app(standins.app) as url:
        yield url
