"""Web chat endpoints: a WebSocket, an HTTP API for sending and catching up, and the chat page."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ValidationError

from switchboard_common.events.models import IntakeMessage
from switchboard_common.intake import REJECTED, UNAVAILABLE, IntakePublisher, read_body_limited
from switchboard_common.producer import KafkaUnavailable
from switchboard_common.rate_limit import KeyedRateLimiter
from switchboard_intake_chat.outbound import Cursor, OutboundItem, OutboundRelay
from switchboard_intake_chat.settings import WebChatSettings
from switchboard_intake_chat.webchat.normalise import normalise_webchat, normalise_webchat_action
from switchboard_intake_chat.webchat.protocol import CLIENT_ID, ChatActionIn, ChatMessageIn, ErrorCode, Ping
from switchboard_intake_chat.webchat.session import ChatSession, new_session, verify_session

log = logging.getLogger(__name__)

CHANNEL = "webchat"


class ChatRejected(Exception):
    """A message the gateway will not accept, with a code the client can act on."""

    def __init__(
        self, code: str, reason: str, status: int, retry_after: float | None = None, client_id: str | None = None
    ) -> None:
        super().__init__(reason)
        self.code, self.reason, self.status, self.retry_after = code, reason, status, retry_after
        self.client_id = client_id

    def body(self, client_id: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": "error", "code": self.code, "reason": self.reason, "retryable": self.retryable}
        if client_id or self.client_id:
            body["id"] = client_id or self.client_id
        if self.retry_after is not None:
            body["retry_after"] = round(self.retry_after, 3)
        return body

    @property
    def retryable(self) -> bool:
        return self.code in (ErrorCode.RATE_LIMITED, ErrorCode.UNAVAILABLE)


def _validation_reason(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "(frame)"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


class WebChat:
    """Accepts chat messages: validates, limits, normalises, publishes (and only then confirms)."""

    def __init__(
        self,
        settings: WebChatSettings,
        publisher: IntakePublisher,
        relay: OutboundRelay,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.publisher = publisher
        self.relay = relay
        self._clock = clock
        self._secret = settings.session_secret.get_secret_value().encode()
        self._limiter = KeyedRateLimiter(settings.rate_per_second, settings.rate_burst)

    def new_session(self) -> ChatSession:
        return new_session(self._secret, int(self._clock()))

    def verify(self, token: str) -> ChatSession | None:
        return verify_session(self._secret, token, int(self._clock()), self.settings.session_ttl_days * 86400)

    def parse(
        self, raw: bytes | str, *, allow_ping: bool = False, default_type: str = "message"
    ) -> ChatMessageIn | ChatActionIn | Ping:
        size = len(raw.encode() if isinstance(raw, str) else raw)
        if size > self.settings.max_frame_bytes:
            raise ChatRejected(
                ErrorCode.FRAME_TOO_LARGE, f"{size} bytes exceeds the limit of {self.settings.max_frame_bytes}", 413
            )
        try:
            document = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ChatRejected(ErrorCode.INVALID_JSON, f"not valid JSON: {exc}", 400) from None
        if not isinstance(document, dict):
            raise ChatRejected(ErrorCode.INVALID_FRAME, "a frame is a JSON object", 422)
        kind = document.get("type", default_type)
        given_id = document.get("id")
        client_id = given_id if isinstance(given_id, str) and CLIENT_ID.match(given_id) else None
        if kind == "ping" and allow_ping:
            try:
                return Ping.model_validate(document)
            except ValidationError as exc:
                raise ChatRejected(ErrorCode.INVALID_FRAME, _validation_reason(exc), 422) from None
        if kind == "action":
            try:
                return ChatActionIn.model_validate(document)
            except ValidationError as exc:
                raise ChatRejected(ErrorCode.INVALID_FRAME, _validation_reason(exc), 422, client_id=client_id) from None
        if kind != "message":
            raise ChatRejected(ErrorCode.UNKNOWN_TYPE, f"unknown frame type {kind!r}", 422)
        try:
            message = ChatMessageIn.model_validate(document)
        except ValidationError as exc:
            raise ChatRejected(ErrorCode.INVALID_FRAME, _validation_reason(exc), 422, client_id=client_id) from None
        if not message.text.strip():
            raise ChatRejected(ErrorCode.EMPTY_TEXT, "text is empty", 422, client_id=client_id)
        if len(message.text) > self.settings.max_text_chars:
            raise ChatRejected(
                ErrorCode.TEXT_TOO_LONG,
                f"text has {len(message.text)} characters, the limit is {self.settings.max_text_chars}",
                413,
                client_id=client_id,
            )
        return message

    async def accept(
        self, session: ChatSession, message: ChatMessageIn | ChatActionIn, locale: str | None
    ) -> IntakeMessage:
        """Publish a message, or a pressed button's answer (raises ChatRejected for a button that is none)."""
        if isinstance(message, ChatActionIn):
            answer = normalise_webchat_action(
                message,
                conversation_id=session.conversation_id,
                channel_account=self.settings.channel_account,
                received_at=datetime.now(UTC),
                locale=locale,
            )
            if answer is None:
                raise ChatRejected(
                    ErrorCode.INVALID_ACTION,
                    "the value is not a button this chat offers (expected sb-rating:<case reference>:<1-5>)",
                    422,
                    client_id=message.id,
                )
            event = answer
        else:
            event = normalise_webchat(
                message,
                conversation_id=session.conversation_id,
                channel_account=self.settings.channel_account,
                received_at=datetime.now(UTC),
                max_text_chars=self.settings.max_text_chars,
                locale=locale,
            )
        wait = self._limiter.acquire(session.conversation_id, time.monotonic())
        if wait > 0:
            raise ChatRejected(ErrorCode.RATE_LIMITED, "too many messages; slow down", 429, retry_after=wait)
        await self.publisher.publish([event])
        return event

    def replay_since_ms(self, session: ChatSession) -> int:
        window_start = self._clock() - self.settings.replay_window_seconds
        return int(max(session.issued_at - 5, window_start) * 1000)

    def origin_allowed(self, origin: str | None, host: str | None) -> bool:
        if origin is None:
            return True  # not a browser: nothing to protect against
        if origin in self.settings.allowed_origins or "*" in self.settings.allowed_origins:
            return True
        return host is not None and origin.split("://", 1)[-1] == host


SESSION_BEARER = HTTPBearer(auto_error=False, description="The chat session token from POST /v1/webchat/sessions.")
Session = Annotated[HTTPAuthorizationCredentials | None, Depends(SESSION_BEARER)]


def _bearer(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise HTTPException(401, "send the chat session as 'Authorization: Bearer <session>'")
    return credentials.credentials.strip()


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A model's JSON Schema with its $defs inlined, for an OpenAPI requestBody."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(definitions[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(value) for value in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


def _rejection_response(exc: ChatRejected, client_id: str | None = None) -> JSONResponse:
    REJECTED.labels(CHANNEL, exc.code).inc()
    headers = {"Retry-After": str(max(1, round(exc.retry_after)))} if exc.retry_after is not None else None
    return JSONResponse(exc.body(client_id), status_code=exc.status, headers=headers)


def webchat_router(chat: WebChat) -> APIRouter:
    router = APIRouter(tags=["web chat"])

    @router.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def chat_page() -> HTMLResponse:
        page = resources.files("switchboard_intake_chat.static").joinpath("chat.html").read_text("utf-8")
        return HTMLResponse(page)

    async def accept_posted(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None,
        accept_language: str | None,
        expected: type[ChatMessageIn] | type[ChatActionIn],
        default_type: str,
        elsewhere: str,
    ) -> Any:
        """One posted message or button press: the session, the size limit, the frame, Kafka's acceptance."""
        session = chat.verify(_bearer(credentials))
        if session is None:
            raise HTTPException(401, "invalid or expired chat session")
        body = await read_body_limited(request, chat.settings.max_frame_bytes)
        try:
            item = chat.parse(body, default_type=default_type)
            if not isinstance(item, expected):
                raise ChatRejected(ErrorCode.UNKNOWN_TYPE, elsewhere, 422)
            event = await chat.accept(session, item, accept_language)
        except ChatRejected as exc:
            return _rejection_response(exc)
        accepted: dict[str, Any] = {
            "type": "accepted",
            "id": item.id,
            "event_id": event.event_id,
            "conversation_id": event.conversation_id,
        }
        if isinstance(item, ChatActionIn):
            accepted["satisfaction"] = event.satisfaction.model_dump() if event.satisfaction else None
        return accepted

    @router.post("/v1/webchat/sessions", status_code=201, summary="Start a chat session")
    async def create_session() -> dict[str, str]:
        session = chat.new_session()
        return {"conversation_id": session.conversation_id, "session": session.token}

    @router.post(
        "/v1/webchat/messages",
        status_code=202,
        summary="Send a chat message (accepted once Kafka has stored it)",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": inline_schema(ChatMessageIn)}},
            }
        },
        responses={
            401: {"description": "missing or invalid session"},
            413: {"description": "too large"},
            422: {"description": "invalid message"},
            429: {"description": "rate limited"},
            503: {"description": "not stored; retry"},
        },
    )
    async def send_message(
        request: Request,
        credentials: Session,
        accept_language: Annotated[str | None, Header()] = None,
    ) -> Any:
        return await accept_posted(
            request,
            credentials,
            accept_language,
            ChatMessageIn,
            "message",
            "send button presses to /v1/webchat/actions",
        )

    @router.post(
        "/v1/webchat/actions",
        status_code=202,
        summary="Press a button of a message (a satisfaction rating); accepted once Kafka has stored it",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": inline_schema(ChatActionIn)}},
            }
        },
        responses={
            401: {"description": "missing or invalid session"},
            413: {"description": "too large"},
            422: {"description": "invalid frame, or a value that is not a button's (invalid_action)"},
            429: {"description": "rate limited"},
            503: {"description": "not stored; retry"},
        },
    )
    async def press_button(
        request: Request,
        credentials: Session,
        accept_language: Annotated[str | None, Header()] = None,
    ) -> Any:
        return await accept_posted(
            request, credentials, accept_language, ChatActionIn, "action", "send messages to /v1/webchat/messages"
        )

    @router.get("/v1/webchat/messages", summary="Messages for this chat since a cursor")
    async def missed_messages(
        credentials: Session,
        after: Annotated[str | None, Query(max_length=40)] = None,
    ) -> dict[str, Any]:
        session = chat.verify(_bearer(credentials))
        if session is None:
            raise HTTPException(401, "invalid or expired chat session")
        items = await chat.relay.replay(session.conversation_id, Cursor.parse(after), chat.replay_since_ms(session))
        return {
            "messages": [item.frame() for item in items],
            "cursor": str(items[-1].cursor) if items else after,
        }

    @router.websocket("/v1/webchat/ws")
    async def chat_socket(websocket: WebSocket, session: str | None = None, after: str | None = None) -> None:
        await ChatSocket(chat, websocket).run(session, after)

    return router


class ChatSocket:
    """One customer's WebSocket: replay what was missed, then live messages both ways."""

    def __init__(self, chat: WebChat, websocket: WebSocket) -> None:
        self.chat = chat
        self.ws = websocket
        self._send_lock = asyncio.Lock()
        self._sent: dict[int, int] = {}

    async def send(self, frame: dict[str, Any]) -> None:
        async with self._send_lock:
            await self.ws.send_text(orjson.dumps(frame).decode())

    async def run(self, token: str | None, after: str | None) -> None:
        headers = self.ws.headers
        if not self.chat.origin_allowed(headers.get("origin"), headers.get("host")):
            await self.ws.close(code=4403, reason="origin not allowed")
            return
        await self.ws.accept()
        if token:
            session = self.chat.verify(token)
            if session is None:
                await self.send(
                    {
                        "type": "error",
                        "code": "invalid_session",
                        "reason": "invalid or expired session",
                        "retryable": False,
                    }
                )
                await self.ws.close(code=4401, reason="invalid session")
                return
        else:
            session = self.chat.new_session()
        subscription = self.chat.relay.subscribe(session.conversation_id)
        writer: asyncio.Task[None] | None = None
        try:
            await self.send(
                {
                    "type": "welcome",
                    "conversation_id": session.conversation_id,
                    "session": session.token,
                    "limits": {
                        "max_frame_bytes": self.chat.settings.max_frame_bytes,
                        "max_text_chars": self.chat.settings.max_text_chars,
                        "rate_per_second": self.chat.settings.rate_per_second,
                        "rate_burst": self.chat.settings.rate_burst,
                    },
                }
            )
            # A resumed session first gets what it missed; a new one has nothing to catch up on. The replay
            # runs beside the reader, so the customer's messages are accepted while it reads Kafka.
            resumed = token is not None
            writer = asyncio.create_task(self._forward(subscription, session if resumed else None, after))
            await self._read(session, headers.get("accept-language"))
        except WebSocketDisconnect:
            pass
        finally:
            self.chat.relay.unsubscribe(subscription)
            if writer is not None:
                writer.cancel()
                await asyncio.gather(writer, return_exceptions=True)

    async def _deliver(self, item: OutboundItem) -> None:
        seen = self._sent.get(item.cursor.partition)
        if seen is not None and item.cursor.offset <= seen:
            return  # already sent during the replay
        self._sent[item.cursor.partition] = item.cursor.offset
        await self.send(item.frame())

    async def _forward(self, subscription: Any, resumed: ChatSession | None, after: str | None) -> None:
        try:
            if resumed is not None:
                try:
                    missed = await self.chat.relay.replay(
                        resumed.conversation_id, Cursor.parse(after), self.chat.replay_since_ms(resumed)
                    )
                except Exception as exc:  # Kafka unreachable or slow: the client reconnects and catches up then
                    log.warning("could not replay missed messages; asking the client to reconnect", exc_info=exc)
                    with contextlib.suppress(Exception):
                        await self.ws.close(code=1013, reason="try again later")
                    return
                for item in missed:
                    await self._deliver(item)
            while True:
                # The inbox overflows only while it is full, so this writer is never left waiting on an empty
                # one then: looking at the flag before each delivery is enough (no watcher task per message).
                item = await subscription.queue.get()
                if subscription.overflowed.is_set():
                    with contextlib.suppress(Exception):
                        await self.ws.close(code=4408, reason="too slow: reconnect to catch up")
                    return
                await self._deliver(item)
        except (WebSocketDisconnect, RuntimeError):
            return

    async def _read(self, session: ChatSession, locale: str | None) -> None:
        while True:
            frame = await self.ws.receive()
            if frame["type"] == "websocket.disconnect":
                return
            raw = frame.get("text")
            if raw is None:
                await self.send(ChatRejected(ErrorCode.BINARY_NOT_SUPPORTED, "send JSON text frames", 415).body())
                continue
            client_id: str | None = None
            try:
                message = self.chat.parse(raw, allow_ping=True)
                if isinstance(message, Ping):
                    await self.send({"type": "pong"})
                    continue
                client_id = message.id
                event = await self.chat.accept(session, message, locale)
            except ChatRejected as exc:
                REJECTED.labels(CHANNEL, exc.code).inc()
                await self.send(exc.body(client_id))
                continue
            except KafkaUnavailable:
                UNAVAILABLE.inc()
                await self.send(
                    ChatRejected(ErrorCode.UNAVAILABLE, "the message could not be stored; resend it", 503, 2.0).body(
                        client_id
                    )
                )
                continue
            await self.send({"type": "accepted", "id": message.id, "event_id": event.event_id})
