"""LINE acknowledgements through the Messaging API.

The reply API (free of charge, needs the event's reply token) while the token is fresh; otherwise, or
if LINE refuses the token, the push API to the user, group or room, with ``X-Line-Retry-Key`` set to
the notification id so that a resent push is not delivered twice (LINE answers 409 to a key it
already accepted). 429 and 5xx are retryable (after ``Retry-After`` when LINE sends it); other 4xx
(an invalid recipient, a blocked account) are final failures.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from switchboard_common.channel_settings import optional_settings
from switchboard_common.events.models import Channel
from switchboard_notifier.channels.base import Delivery, DeliveryFailed, Notification
from switchboard_notifier.channels.http_delivery import ProviderApi
from switchboard_notifier.settings import NotifierSettings

MAX_TEXT = 5000


class LineChannelSettings(BaseSettings):
    """The LINE channel that answers (environment prefix ``LINE_``)."""

    model_config = SettingsConfigDict(env_prefix="LINE_", extra="ignore", env_file=".env")

    channel_access_token: SecretStr
    api_base_url: str = Field(default="https://api.line.me", description="Tests point it at a stand-in.")
    timeout_seconds: float = Field(default=5.0, gt=0)
    reply_token_max_age_seconds: float = Field(
        default=50.0, ge=0, description="Use the reply API only this long after the event; push afterwards."
    )


def from_settings(settings: NotifierSettings) -> LineSender | None:
    """A LINE sender, or None without ``LINE_CHANNEL_ACCESS_TOKEN``."""
    channel = optional_settings(LineChannelSettings, "line")
    return LineSender(channel) if channel is not None else None


def reply_token_usable(metadata: dict[str, str], now_ms: float, max_age_seconds: float) -> str | None:
    """The reply token, if the event carried one and it is still young enough to use."""
    token = metadata.get("reply_token")
    issued = metadata.get("reply_token_issued_ms")
    if not token or not issued or not issued.isdigit():
        return None
    return token if now_ms - int(issued) <= max_age_seconds * 1000 else None


def line_text_message(notification: Notification) -> dict[str, Any]:
    """A text message; choices as quick-reply postback buttons (a tap comes back as a ``postback`` event
    carrying the choice's value, and shows the label in the chat)."""
    message: dict[str, Any] = {"type": "text", "text": notification.text[:MAX_TEXT]}
    if notification.actions:
        message["quickReply"] = {
            "items": [
                {
                    "type": "action",
                    "action": {
                        "type": "postback",
                        "label": action.label[:20],
                        "data": action.value[:300],
                        "displayText": action.label[:300],
                    },
                }
                for action in notification.actions[:13]
            ]
        }
    return message


class LineSender:
    """Sends text acknowledgements to LINE users, groups and rooms."""

    channels = frozenset({Channel.LINE})

    def __init__(self, settings: LineChannelSettings, clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._clock = clock
        self._api = ProviderApi(
            "LINE",
            base_url=settings.api_base_url.rstrip("/"),
            timeout_seconds=settings.timeout_seconds,
            headers={"Authorization": f"Bearer {settings.channel_access_token.get_secret_value()}"},
        )
        self.replies = 0
        self.pushes = 0

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        await self._api.close()

    async def deliver(self, notification: Notification) -> Delivery:
        target = notification.message.reply_to
        messages = [line_text_message(notification)]
        token = reply_token_usable(target.metadata, self._clock() * 1000, self._settings.reply_token_max_age_seconds)
        if token is not None:
            try:
                await self._api.send("/v2/bot/message/reply", json={"replyToken": token, "messages": messages})
            except DeliveryFailed:
                pass  # the token expired or was used already; the push API still reaches the customer
            else:
                self.replies += 1
                return Delivery(provider_id=notification.notification_id, details={"api": "reply"})
        await self._api.send(
            "/v2/bot/message/push",
            json={"to": target.address, "messages": messages},
            headers={"X-Line-Retry-Key": notification.notification_id},
            also_accepted={409},  # this retry key was accepted before
        )
        self.pushes += 1
        return Delivery(provider_id=notification.notification_id, details={"api": "push"})
