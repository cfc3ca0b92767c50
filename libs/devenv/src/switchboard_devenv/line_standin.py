"""LINE's side, for tests, the simulator and the local gateway: signed webhooks and a stand-in Messaging API.

A webhook body is signed as LINE signs it: ``X-Line-Signature`` = base64 HMAC-SHA256 of the raw body
under the channel secret. :func:`line_api` stands in for ``api.line.me``: the reply API accepts each
reply token it issued once, the push API honours ``X-Line-Retry-Key`` (409 for a key seen before),
and both record what they received; a test can make the next calls answer 429.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse


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


def webhook_body(events: list[dict[str, Any]], destination: str = "Uswitchboardbot") -> bytes:
    return orjson.dumps({"destination": destination, "events": events})


@dataclass
class LineApiState:
    access_token: str
    issued_reply_tokens: set[str] = field(default_factory=set)
    replies: list[dict[str, Any]] = field(default_factory=list)
    pushes: list[dict[str, Any]] = field(default_factory=list)
    retry_keys: set[str] = field(default_factory=set)
    rate_limited: int = 0
    """The next this many calls answer 429 with Retry-After: 1."""
    on_send: Callable[[dict[str, Any]], None] | None = None

    def new_reply_token(self) -> str:
        token = secrets.token_hex(16)
        self.issued_reply_tokens.add(token)
        return token

    @property
    def sent(self) -> list[dict[str, Any]]:
        return self.replies + self.pushes


def line_api(state: LineApiState) -> FastAPI:
    """The stand-in for LINE's Messaging API (reply and push)."""
    app = FastAPI(title="LINE Messaging API stand-in")

    def refused(authorization: str | None) -> JSONResponse | None:
        if authorization != f"Bearer {state.access_token}":
            return JSONResponse({"message": "Authentication failed"}, status_code=401)
        if state.rate_limited > 0:
            state.rate_limited -= 1
            return JSONResponse({"message": "The API rate limit has been exceeded"}, 429, {"Retry-After": "1"})
        return None

    @app.post("/_standin/reply_token", include_in_schema=False)
    async def reply_token() -> dict[str, str]:
        """Not LINE's: a reply token for the simulator's next webhook, as LINE would issue one."""
        return {"replyToken": state.new_reply_token()}

    @app.post("/v2/bot/message/reply")
    async def reply(request: Request, authorization: str | None = Header(default=None)) -> JSONResponse:
        if (answer := refused(authorization)) is not None:
            return answer
        body = await request.json()
        token = body.get("replyToken")
        if token not in state.issued_reply_tokens:
            return JSONResponse({"message": "Invalid reply token"}, status_code=400)
        state.issued_reply_tokens.discard(token)
        record = {"api": "reply", "body": body}
        state.replies.append(record)
        if state.on_send is not None:
            state.on_send(record)
        return JSONResponse({"sentMessages": [{"id": secrets.token_hex(8)}]})

    @app.post("/v2/bot/message/push")
    async def push(
        request: Request,
        authorization: str | None = Header(default=None),
        x_line_retry_key: str | None = Header(default=None),
    ) -> JSONResponse:
        if (answer := refused(authorization)) is not None:
            return answer
        body = await request.json()
        if not str(body.get("to", "")).startswith(("U", "C", "R")):
            return JSONResponse({"message": "The property, 'to', in the request body is invalid"}, status_code=400)
        if x_line_retry_key is not None:
            if x_line_retry_key in state.retry_keys:
                return JSONResponse({"message": "The retry key is already accepted"}, status_code=409)
            state.retry_keys.add(x_line_retry_key)
        record = {"api": "push", "body": body, "retry_key": x_line_retry_key}
        state.pushes.append(record)
        if state.on_send is not None:
            state.on_send(record)
        return JSONResponse({"sentMessages": [{"id": secrets.token_hex(8)}]})

    return app
