"""The raw-MIME inbound endpoint, for providers that forward mail by webhook.

``POST /v1/email/inbound`` with the message's bytes as the body, authenticated either by
``Authorization: Bearer <EMAIL_INBOUND_TOKEN>`` or by ``X-Switchboard-Signature: sha256=<hex
HMAC-SHA256(EMAIL_INBOUND_TOKEN, body)>``. The message goes through the same normaliser as IMAP mail
and is answered 202 only once Kafka acknowledged its event (503 with Retry-After otherwise, so the
provider retries; the event id is the same on every retry).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Request

from switchboard_common.intake import REJECTED, IntakePublisher, read_body_limited
from switchboard_intake_email.normalise import EmailLimits, Mailbox, normalise_email
from switchboard_intake_email.settings import EmailSettings

CHANNEL = "email"
_HEADER_LINE = re.compile(rb"^[A-Za-z0-9!#$%&'*+.^_`|~-]+[ \t]*:")


def looks_like_mime(body: bytes) -> bool:
    """Whether the body starts with an RFC 5322 header field (``Name: value``), as every message does."""
    first_line = body.lstrip(b"\r\n")[:1000].split(b"\n", 1)[0]
    return _HEADER_LINE.match(first_line) is not None


def authorised(token: bytes, body: bytes, authorization: str | None, signature: str | None) -> bool:
    """Bearer token or HMAC signature, compared in constant time."""
    if authorization and authorization.lower().startswith("bearer "):
        return hmac.compare_digest(authorization[7:].strip().encode(), token)
    if signature and signature.startswith("sha256="):
        expected = hmac.new(token, body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(signature[7:].strip().lower().encode(), expected.encode())
    return False


def inbound_router(settings: EmailSettings, publisher: IntakePublisher, limits: EmailLimits) -> APIRouter:
    assert settings.inbound_token is not None
    token = settings.inbound_token.get_secret_value().encode()
    mailbox = Mailbox(settings.inbound_account, frozenset(a.lower() for a in settings.own_addresses))
    router = APIRouter(tags=["email"])

    @router.post(
        "/v1/email/inbound",
        status_code=202,
        summary="Accept one raw MIME message (accepted once Kafka has stored its event)",
        responses={
            400: {"description": "empty body"},
            401: {"description": "missing or wrong token or signature"},
            413: {"description": "larger than EMAIL_MAX_MESSAGE_BYTES"},
            422: {"description": "not an RFC 5322 message"},
            503: {"description": "not stored; retry"},
        },
    )
    async def inbound(
        request: Request,
        authorization: Annotated[str | None, Header()] = None,
        x_switchboard_signature: Annotated[str | None, Header()] = None,
    ) -> dict[str, Any]:
        if not authorization and not x_switchboard_signature:
            REJECTED.labels(CHANNEL, "unauthenticated").inc()
            raise HTTPException(401, "send 'Authorization: Bearer <token>' or 'X-Switchboard-Signature: sha256=<hmac>'")
        body = await read_body_limited(request, settings.max_message_bytes)
        if not authorised(token, body, authorization, x_switchboard_signature):
            REJECTED.labels(CHANNEL, "unauthenticated").inc()
            raise HTTPException(401, "invalid token or signature")
        if not body.strip():
            REJECTED.labels(CHANNEL, "empty").inc()
            raise HTTPException(400, "the body is empty; send the raw message")
        if not looks_like_mime(body):
            REJECTED.labels(CHANNEL, "not_mime").inc()
            raise HTTPException(422, "the body is not an RFC 5322 message (it must start with a header field)")
        event = normalise_email(
            body,
            mailbox=mailbox,
            received_at=datetime.now(UTC),
            limits=limits,
            raw_ref=f"inbound://{settings.inbound_account}",
        )
        await publisher.publish([event])
        return {
            "event_id": event.event_id,
            "conversation_id": event.conversation_id,
            "automated": event.automated.value if event.automated else None,
        }

    return router
