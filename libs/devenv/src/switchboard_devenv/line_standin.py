"""LINE's side, for tests, the simulator and the local gateway: signed webhooks and a stand-in Messaging API.

A webhook body is signed as LINE signs it: ``X-Line-Signature`` = base64 HMAC-SHA256 of the raw body
under the channel secret. :func:`line_api` stands in for ``api.line.me``: the reply API accepts each
reply token it issued once, the push API honours ``X-Line-Retry-Key`` (409 for a key seen before),
and both record what they received in a :class:`~switchboard_devenv.standin_log.StandInLog`; a test
can make the next calls answer 429 (:meth:`LineApiState.fail_next`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from switchboard_devenv.standin_log import ProviderCall, Refused, StandInLog

PROVIDER = "line"


def line_signature(channel_secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(channel_secret.encode(), body, hashlib.sha256).digest()).decode()


def text_event(
    text: str,
    *,
    user_id: str,
    reply_token: str | None = None,
    webhook_event_id: str | None = None,
    redelivery: bool = False,
    timestamp_ms: int | None = None,
) -> dict[str, Any]:
    """One ``message`` event of type text from a user, shaped as LINE sends it."""
    event: dict[str, Any] = {
        "type": "message",
        "mode": "active",
        "timestamp": timestamp_ms if timestamp_ms is not None else int(time.time() * 1000),
        "source": {"type": "user", "userId": user_id},
        "webhookEventId": webhook_event_id or "01" + secrets.token_hex(12).upper(),
        "deliveryContext": {"isRedelivery": redelivery},
        "message": {"id": str(secrets.randbelow(10**17)), "type": "text", "text": text, "quoteToken": "q"},
    }
    if reply_token:
        event["replyToken"] = reply_token
    return event


def postback_event(
    data: str,
    *,
    user_id: str,
    reply_token: str | None = None,
    webhook_event_id: str | None = None,
    timestamp_ms: int | None = None,
) -> dict[str, Any]:
    """One ``postback`` event (a postback action pressed: a button, a quick reply), shaped as LINE sends it."""
    event: dict[str, Any] = {
        "type": "postback",
        "mode": "active",
        "timestamp": timestamp_ms if timestamp_ms is not None else int(time.time() * 1000),
        "source": {"type": "user", "userId": user_id},
        "webhookEventId": webhook_event_id or "01" + secrets.token_hex(12).upper(),
        "deliveryContext": {"isRedelivery": False},
        "postback": {"data": data},
    }
    if reply_token:
        event["replyToken"] = reply_token
    return event


def webhook_body(events: list[dict[str, Any]], destination: str = "Uswitchboardbot") -> bytes:
    return orjson.dumps({"destination": destination, "events": events})


@dataclass
class LineApiState:
    """What the stand-in issued (reply tokens, accepted retry keys); its calls are recorded in ``log``."""

    access_token: str
    issued_reply_tokens: set[str] = field(default_factory=set)
    retry_keys: set[str] = field(default_factory=set)
    log: StandInLog = field(default_factory=StandInLog)

    def new_reply_token(self) -> str:
        token = secrets.token_hex(16)
        self.issued_reply_tokens.add(token)
        return token

    def fail_next(self, status: int = 429, *, retry_after: float | None = 1, times: int = 1) -> None:
        """The next ``times`` calls answer ``status`` (429: the rate limit, with ``Retry-After``)."""
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        message = "The API rate limit has been exceeded" if status == 429 else f"stand-in error {status}"
        self.log.fail_next(PROVIDER, status, {"message": message}, headers, times)

    def _delivered(self, api: str) -> list[dict[str, Any]]:
        return [
            {"api": api, "body": call.body, "retry_key": call.headers.get("x-line-retry-key")}
            for call in self.log.calls_to(PROVIDER)
            if call.delivered and call.path.endswith(f"/message/{api}")
        ]

    @property
    def replies(self) -> list[dict[str, Any]]:
        return self._delivered("reply")

    @property
    def pushes(self) -> list[dict[str, Any]]:
        return self._delivered("push")

    @property
    def sent(self) -> list[dict[str, Any]]:
        return self.replies + self.pushes


def line_api(state: LineApiState) -> FastAPI:
    """The stand-in for LINE's Messaging API (reply and push)."""
    app = FastAPI(title="LINE Messaging API stand-in")

    def unauthorised(call: ProviderCall) -> Response | None:
        if call.headers.get("authorization") != f"Bearer {state.access_token}":
            return Refused({"message": "Authentication failed"}, status_code=401)
        return None

    @app.post("/_standin/reply_token", include_in_schema=False)
    async def reply_token() -> dict[str, str]:
        """Not LINE's: a reply token for the simulator's next webhook, as LINE would issue one."""
        return {"replyToken": state.new_reply_token()}

    @app.post("/v2/bot/message/reply")
    async def reply(request: Request) -> Response:
        async def answer(call: ProviderCall) -> Response:
            if (refused := unauthorised(call)) is not None:
                return refused
            token = call.body.get("replyToken")
            if token not in state.issued_reply_tokens:
                return Refused({"message": "Invalid reply token"}, status_code=400)
            state.issued_reply_tokens.discard(token)
            return JSONResponse({"sentMessages": [{"id": secrets.token_hex(8)}]})

        return await state.log.handle(PROVIDER, request, answer)

    @app.post("/v2/bot/message/push")
    async def push(request: Request) -> Response:
        async def answer(call: ProviderCall) -> Response:
            if (refused := unauthorised(call)) is not None:
                return refused
            if not str(call.body.get("to", "")).startswith(("U", "C", "R")):
                return Refused({"message": "The property, 'to', in the request body is invalid"}, status_code=400)
            retry_key = call.headers.get("x-line-retry-key")
            if retry_key is not None:
                if retry_key in state.retry_keys:
                    return Refused({"message": "The retry key is already accepted"}, status_code=409)
                state.retry_keys.add(retry_key)
            return JSONResponse({"sentMessages": [{"id": secrets.token_hex(8)}]})

        return await state.log.handle(PROVIDER, request, answer)

    return app
