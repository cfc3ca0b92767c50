"""The LINE webhook endpoint: a thin adapter around :mod:`.line`.

The signature is checked over the raw body before it is parsed; every message event of the body is
published in one batch, and 200 is answered only after Kafka stored them (503 otherwise: LINE
redelivers when redelivery is enabled, and a redelivery joins a publish still in flight). Answers go
out asynchronously through the notifier.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Request

from switchboard_common.events.models import Channel
from switchboard_common.intake import REJECTED, IntakePublisher, read_body_limited
from switchboard_intake_chat.providers.line import (
    LinePayloadError,
    LineSettings,
    normalise_event,
    parse_webhook,
    signature_matches,
)
from switchboard_intake_chat.providers.webhook_intake import WebhookIntake

log = logging.getLogger(__name__)

CHANNEL = Channel.LINE.value


def _reject(status: int, code: str, reason: str) -> HTTPException:
    REJECTED.labels(CHANNEL, code).inc()
    log.warning("LINE webhook rejected", extra={"reason": reason, "status": status})
    return HTTPException(status, reason)


def line_router(publisher: IntakePublisher, settings: LineSettings | None) -> APIRouter:
    """``POST /v1/line/webhook``; no routes (404) when LINE is not configured."""
    router = APIRouter(tags=["LINE"])
    if settings is None:
        return router
    secret = settings.channel_secret.get_secret_value()
    intake = WebhookIntake(publisher, CHANNEL, deadline=settings.answer_within_seconds)

    @router.post("/v1/line/webhook", summary="LINE webhook events")
    async def webhook(request: Request, x_line_signature: Annotated[str | None, Header()] = None) -> dict[str, str]:
        received_at = datetime.now(UTC)
        body = await read_body_limited(request, settings.max_body_bytes)
        if not x_line_signature:
            raise _reject(401, "missing_signature", "X-Line-Signature is missing")
        if not signature_matches(secret, body, x_line_signature):
            raise _reject(403, "bad_signature", "X-Line-Signature does not match")
        try:
            destination, events = parse_webhook(body)
        except LinePayloadError as exc:
            raise _reject(400, "invalid_body", exc.reason) from None
        await intake.accept([normalise_event(destination, event, settings, received_at) for event in events])
        return {}

    return router
