"""Telegram: the acknowledgement with the Bot API's ``sendMessage``, as a reply to the customer's message.

``TELEGRAM_BOT_TOKEN`` turns the channel on; ``TELEGRAM_API_BASE_URL`` points the client elsewhere
(tests use a local stand-in). The Bot API carries the token in the URL path, so request URLs are
never logged (httpx logs every request URL at INFO; its logger is raised to WARNING here) and error
reasons never include them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from switchboard_common.channel_settings import optional_settings
from switchboard_common.events.models import Channel
from switchboard_notifier.channels.base import (
    Delivery,
    DeliveryFailed,
    DeliveryRetryable,
    Notification,
    NotificationAction,
)
from switchboard_notifier.channels.http_delivery import ProviderApi
from switchboard_notifier.channels.provider_answer import ProviderAnswer, status_failure
from switchboard_notifier.settings import NotifierSettings

MAX_TEXT_CHARS = 4096


class TelegramSenderSettings(BaseSettings):
    """The bot's token and where the Bot API is. Environment prefix ``TELEGRAM_``."""

    model_config = SettingsConfigDict(env_prefix="TELEGRAM_", extra="ignore", env_file=".env")

    bot_token: SecretStr = Field(description="The bot's token from @BotFather.")
    api_base_url: str = Field(default="https://api.telegram.org", description="The Bot API's base URL.")
    timeout_seconds: float = Field(default=8.0, gt=0)


def from_settings(settings: NotifierSettings) -> TelegramSender | None:
    """A Telegram sender when ``TELEGRAM_BOT_TOKEN`` is set."""
    channel = optional_settings(TelegramSenderSettings, "telegram")
    return TelegramSender(channel) if channel is not None else None


def telegram_send_message(
    chat_id: str,
    text: str,
    reply_to: str | None,
    thread_id: str | None,
    actions: Sequence[NotificationAction] = (),
) -> dict[str, Any]:
    """The ``sendMessage`` body: plain text (no parse mode), replying to the customer's message if it still
    exists; choices as an inline keyboard in one row (a press comes back as a ``callback_query``)."""
    body: dict[str, Any] = {"chat_id": _number_or_text(chat_id), "text": text[:MAX_TEXT_CHARS]}
    if actions:
        body["reply_markup"] = {
            "inline_keyboard": [[{"text": a.label, "callback_data": a.value[:64]} for a in actions]]
        }
    if reply_to and reply_to.lstrip("-").isdigit():
        body["reply_parameters"] = {"message_id": int(reply_to), "allow_sending_without_reply": True}
    if thread_id and thread_id.isdigit():
        body["message_thread_id"] = int(thread_id)
    return body


def telegram_failure(answer: ProviderAnswer) -> DeliveryRetryable | DeliveryFailed | None:
    """What a Bot API answer means: None when it is ``ok``; 429 waits as long as the Bot API says; a blocked
    bot or an unknown chat is final."""
    document = answer.body if isinstance(answer.body, dict) else {}
    if answer.ok and document.get("ok") is True:
        return None
    description = str(document.get("description") or f"HTTP {answer.status}")[:200]
    code = document.get("error_code") if isinstance(document.get("error_code"), int) else answer.status
    if code == 429:
        parameters = document.get("parameters")
        given = parameters.get("retry_after") if isinstance(parameters, dict) else None
        wait = float(given) if isinstance(given, int | float) else answer.retry_after
        return DeliveryRetryable(f"telegram: {description} (rate limited)", retry_after=wait)
    return status_failure(answer, f"telegram: {code} {description}")


class TelegramSender:
    """Sends notifications with ``POST /bot<token>/sendMessage``."""

    channels = frozenset({Channel.TELEGRAM})

    def __init__(self, settings: TelegramSenderSettings) -> None:
        self._settings = settings
        token = settings.bot_token.get_secret_value()
        self._api = ProviderApi(
            "telegram",
            base_url=f"{settings.api_base_url.rstrip('/')}/bot{token}/",
            timeout_seconds=settings.timeout_seconds,
        )
        logging.getLogger("httpx").setLevel(max(logging.getLogger("httpx").getEffectiveLevel(), logging.WARNING))

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        await self._api.close()

    async def deliver(self, notification: Notification) -> Delivery:
        target = notification.message.reply_to
        body = telegram_send_message(
            target.address,
            notification.text,
            target.thread,
            target.metadata.get("message_thread_id"),
            notification.actions,
        )
        answer = await self._api.send("sendMessage", json=body, classify=telegram_failure)
        result = answer.body.get("result") if isinstance(answer.body, dict) else None
        message_id = result.get("message_id") if isinstance(result, dict) else None
        return Delivery(provider_id=str(message_id) if message_id is not None else None)


def _number_or_text(chat_id: str) -> int | str:
    return int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id
