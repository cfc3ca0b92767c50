"""Slack's request URLs (404 when Slack is not configured).

``POST /v1/slack/events`` (Event Subscriptions) and ``POST /v1/slack/interactivity`` (Interactivity &
Shortcuts: a rating button pressed in a satisfaction request). Both verify Slack's signature and
timestamp and take either kind of payload, so one URL may serve both.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from switchboard_common.intake import REJECTED, IntakePublisher, read_body_limited
from switchboard_intake_chat.providers.slack import (
    Malformed,
    SlackSettings,
    UrlVerification,
    normalise_slack_payload,
    parse_slack_body,
    verify_slack_request,
)
from switchboard_intake_chat.providers.webhook_intake import WebhookIntake

log = logging.getLogger(__name__)

CHANNEL = "slack"


def router(publisher: IntakePublisher, settings: SlackSettings | None) -> APIRouter:
    """The endpoint when Slack is configured; an empty router (404) when ``settings`` is None."""
    routes = APIRouter(tags=["Slack"])
    if settings is None:
        return routes
    configured: SlackSettings = settings
    intake = WebhookIntake(publisher, CHANNEL, deadline=configured.ack_deadline_seconds)
    secret = configured.signing_secret.get_secret_value()

    async def slack_request(request: Request) -> Any:
        body = await read_body_limited(request, configured.max_body_bytes)
        rejection = verify_slack_request(
            secret,
            body,
            request.headers.get("x-slack-request-timestamp"),
            request.headers.get("x-slack-signature"),
            time.time(),
        )
        if rejection is not None:
            REJECTED.labels(CHANNEL, rejection.code).inc()
            raise HTTPException(401, rejection.reason)
        payload = parse_slack_body(body, request.headers.get("content-type"))
        if isinstance(payload, Malformed):
            REJECTED.labels(CHANNEL, "malformed").inc()
            raise HTTPException(400, payload.reason)
        outcome = normalise_slack_payload(payload, received_at=datetime.now(UTC), settings=configured)
        if isinstance(outcome, UrlVerification):
            return {"challenge": outcome.challenge}
        retry = request.headers.get("x-slack-retry-num")
        if retry:
            log.info(
                "Slack redelivery",
                extra={"retry": retry, "retry_reason": request.headers.get("x-slack-retry-reason")},
            )
        await intake.accept(outcome)
        return Response(status_code=200)

    responses: dict[int | str, dict[str, Any]] = {
        400: {"description": "not a payload Slack sends"},
        401: {"description": "not signed by Slack, or too old"},
        503: {"description": "retry"},
    }
    routes.add_api_route(
        "/v1/slack/events", slack_request, methods=["POST"], summary="Slack Events API request URL", responses=responses
    )
    routes.add_api_route(
        "/v1/slack/interactivity",
        slack_request,
        methods=["POST"],
        summary="Slack interactivity request URL (block_actions: rating buttons)",
        responses=responses,
    )
    return routes
