"""Meta webhook endpoints: ``/v1/whatsapp/webhook`` and ``/v1/messenger/webhook`` (GET handshake, POST events).

Both are 404 when Meta is not configured. Each endpoint takes its own product's payloads; anything
else posted to it is recorded and answered 200, as Meta expects.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import PlainTextResponse, Response

from switchboard_common.intake import REJECTED, IntakePublisher, json_object, read_body_limited
from switchboard_intake_chat.providers.meta import (
    MetaSettings,
    normalise_meta_payload,
    verify_handshake,
    verify_meta_signature,
)
from switchboard_intake_chat.providers.webhook_intake import WebhookIntake

# endpoint path -> (channel, the payload's "object")
ENDPOINTS = {
    "/v1/whatsapp/webhook": ("whatsapp", "whatsapp_business_account"),
    "/v1/messenger/webhook": ("messenger", "page"),
}


def router(publisher: IntakePublisher, settings: MetaSettings | None) -> APIRouter:
    """Both endpoints when Meta is configured; an empty router (404) when ``settings`` is None."""
    routes = APIRouter(tags=["WhatsApp and Messenger"])
    if settings is None:
        return routes
    for path, (channel, expected_object) in ENDPOINTS.items():
        _add_endpoint(routes, path, channel, expected_object, settings, WebhookIntake(publisher, channel))
    return routes


def _add_endpoint(
    routes: APIRouter, path: str, channel: str, expected_object: str, settings: MetaSettings, intake: WebhookIntake
) -> None:
    app_secret = settings.app_secret.get_secret_value()
    verify_token = settings.verify_token.get_secret_value()

    async def handshake(
        mode: Annotated[str | None, Query(alias="hub.mode")] = None,
        token: Annotated[str | None, Query(alias="hub.verify_token")] = None,
        challenge: Annotated[str | None, Query(alias="hub.challenge", max_length=512)] = None,
    ) -> PlainTextResponse:
        echoed = verify_handshake(verify_token, mode, token, challenge)
        if echoed is None:
            REJECTED.labels(channel, "bad_verify_token").inc()
            raise HTTPException(403, "hub.mode must be subscribe and hub.verify_token must match")
        return PlainTextResponse(echoed)

    async def events(request: Request) -> Response:
        body = await read_body_limited(request, settings.max_body_bytes)
        problem = verify_meta_signature(app_secret, body, request.headers.get("x-hub-signature-256"))
        if problem is not None:
            REJECTED.labels(channel, "bad_signature").inc()
            raise HTTPException(401, problem)
        outcomes = normalise_meta_payload(
            json_object(body, channel),
            expected_object=expected_object,
            received_at=datetime.now(UTC),
            max_text_chars=settings.max_text_chars,
        )
        await intake.accept(outcomes)
        return Response(status_code=200)

    routes.add_api_route(path, handshake, methods=["GET"], summary=f"{channel} webhook verification (hub.challenge)")
    routes.add_api_route(
        path,
        events,
        methods=["POST"],
        summary=f"{channel} webhook events",
        responses={401: {"description": "not signed by Meta"}, 503: {"description": "retry"}},
    )
