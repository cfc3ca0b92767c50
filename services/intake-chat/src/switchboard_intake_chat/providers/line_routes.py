"""The LINE webhook endpoint: a thin adapter around :mod:`.line`.

The signature is checked over the raw body before it is parsed; every message event of the body is
published in one batch, and 200 is answered only after Kafka stored them (503 otherwise: LINE
redelivers when redelivery is enabled). Answers go out asynchronously through the notifier.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Request
from prometheus_client import Counter

from switchboard_common.events.models import IntakeMessage
from switchboard_common.intake import REJECTED, IntakePublisher, read_body_limited
from switchboard_intake_chat.providers.line import (
    LinePayloadError,
    LineRecorded,
    LineSettings,
    normalise_event,
    parse_webhook,
    signature_matches,
)
from switchboard_intake_chat.providers.publish_once import PublishOnce

log = logging.getLogger(__name__)

EVENTS = Counter(
    "switchboard_line_events_total",
    "LINE webhook events by what became of them (published, duplicate, event, unknown, ...) and type.",
    ["outcome", "type"],
)


def _reject(status: int, code: str, reason: str) -> HTTPException:
    REJECTED.labels("line", code).inc()
    EVENTS.labels("rejected", code).inc()
    log.warning("LINE webhook rejected", extra={"reason": reason, "status": status})
    return HTTPException(status, reason)


def line_router(publisher: IntakePublisher, settings: LineSettings | None) -> APIRouter:
    """``POST /v1/line/webhook``; no routes (404) when LINE is not configured."""
    router = APIRouter(tags=["LINE"])
    if settings is None:
        return router
    secret = settings.channel_secret.get_secret_value()
    once = PublishOnce(publisher)

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
        messages: list[IntakeMessage] = []
        for event in events:
            outcome = normalise_event(destination, event, settings, received_at)
            if isinstance(outcome, LineRecorded):
                record(outcome)
            else:
                messages.append(outcome)
        if messages:
            result = await once.publish(messages, timeout=settings.answer_within_seconds)
            EVENTS.labels("published", "message").inc(result.published)
            if result.duplicates:
                EVENTS.labels("duplicate", "message").inc(result.duplicates)
        return {}

    return router


def record(outcome: LineRecorded) -> None:
    EVENTS.labels(outcome.kind, outcome.type[:60]).inc()
    log.info(
        "LINE event recorded, not published",
        extra={"kind": outcome.kind, "type": outcome.type, "event_id": outcome.event_id, "reason": outcome.reason},
    )
