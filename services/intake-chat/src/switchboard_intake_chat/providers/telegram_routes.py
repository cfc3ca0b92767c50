"""The Telegram webhook endpoint: ``POST /v1/telegram/webhook`` (404 when Telegram is not configured).

A rating button's press (a callback query) is answered in the webhook's response with
``answerCallbackQuery``, as the Bot API allows, so that the customer's app stops its progress
indicator at once; the notifier thanks the customer in the chat.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response

from switchboard_common.events.models import IntakeMessage
from switchboard_common.intake import REJECTED, IntakePublisher, json_object, read_body_limited
from switchboard_intake_chat.providers.telegram import (
    TelegramSettings,
    normalise_telegram_update,
    verify_secret_token,
)
from switchboard_intake_chat.providers.webhook_intake import WebhookIntake

CHANNEL = "telegram"


def router(publisher: IntakePublisher, settings: TelegramSettings | None) -> APIRouter:
    """The endpoint when Telegram is configured; an empty router (404) when ``settings`` is None."""
    routes = APIRouter(tags=["Telegram"])
    if settings is None:
        return routes
    configured: TelegramSettings = settings
    intake = WebhookIntake(publisher, CHANNEL)
    secret = configured.secret_token.get_secret_value()

    @routes.post(
        "/v1/telegram/webhook",
        summary="Telegram Bot API webhook",
        responses={401: {"description": "wrong secret token"}, 503: {"description": "retry"}},
    )
    async def telegram_update(request: Request) -> Response:
        if not verify_secret_token(secret, request.headers.get("x-telegram-bot-api-secret-token")):
            REJECTED.labels(CHANNEL, "bad_secret_token").inc()
            raise HTTPException(401, "X-Telegram-Bot-Api-Secret-Token does not match the webhook's secret token")
        body = await read_body_limited(request, configured.max_body_bytes)
        outcome = normalise_telegram_update(
            json_object(body, CHANNEL),
            account=configured.account,
            received_at=datetime.now(UTC),
            max_text_chars=configured.max_text_chars,
        )
        await intake.accept([outcome])
        if isinstance(outcome, IntakeMessage) and outcome.satisfaction and "callback_query_id" in outcome.provider_ids:
            return JSONResponse(
                {"method": "answerCallbackQuery", "callback_query_id": outcome.provider_ids["callback_query_id"]}
            )
        return Response(status_code=200)

    return routes
