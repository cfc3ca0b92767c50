"""Messenger: the acknowledgement through the Send API, as a RESPONSE to the customer's message.

``MESSENGER_PAGE_ACCESS_TOKEN`` turns the channel on (the token names the page); ``META_GRAPH_BASE_URL``
is the Graph API's versioned base URL. The token travels in the Authorization header, never in a URL.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from switchboard_common.channel_settings import optional_settings
from switchboard_common.events.models import Channel
from switchboard_notifier.channels.base import Delivery, Notification, NotificationAction
from switchboard_notifier.channels.graph_api import graph_failure
from switchboard_notifier.channels.http_delivery import ProviderApi
from switchboard_notifier.channels.whatsapp import GRAPH_BASE_URL
from switchboard_notifier.settings import NotifierSettings

MAX_TEXT_CHARS = 2000


class MessengerSenderSettings(BaseSettings):
    """The page's token. Environment prefix ``MESSENGER_``."""

    model_config = SettingsConfigDict(env_prefix="MESSENGER_", extra="ignore", env_file=".env", populate_by_name=True)

    page_access_token: SecretStr = Field(description="The page access token (pages_messaging).")
    graph_base_url: str = Field(
        default=GRAPH_BASE_URL,
        validation_alias=AliasChoices("META_GRAPH_BASE_URL", "MESSENGER_GRAPH_BASE_URL"),
        description="The Graph API's versioned base URL (META_GRAPH_BASE_URL).",
    )
    timeout_seconds: float = Field(default=8.0, gt=0)


def from_settings(settings: NotifierSettings) -> MessengerSender | None:
    """A Messenger sender when ``MESSENGER_PAGE_ACCESS_TOKEN`` is set."""
    channel = optional_settings(MessengerSenderSettings, "messenger")
    return MessengerSender(channel) if channel is not None else None


def messenger_text_message(psid: str, text: str, actions: Sequence[NotificationAction] = ()) -> dict[str, Any]:
    """The Send API body of a text answering a message the person sent (messaging type RESPONSE); choices
    as quick replies (a tap comes back as a message with ``quick_reply.payload``)."""
    message: dict[str, Any] = {"text": text[:MAX_TEXT_CHARS]}
    if actions:
        message["quick_replies"] = [
            {"content_type": "text", "title": action.label[:20], "payload": action.value[:1000]}
            for action in actions[:13]
        ]
    return {"recipient": {"id": psid}, "messaging_type": "RESPONSE", "message": message}


class MessengerSender:
    """Sends notifications with ``POST /me/messages``."""

    channels = frozenset({Channel.MESSENGER})

    def __init__(self, settings: MessengerSenderSettings) -> None:
        self._settings = settings
        self._api = ProviderApi(
            "messenger",
            base_url=settings.graph_base_url.rstrip("/") + "/",
            timeout_seconds=settings.timeout_seconds,
            headers={"Authorization": f"Bearer {settings.page_access_token.get_secret_value()}"},
        )

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        await self._api.close()

    async def deliver(self, notification: Notification) -> Delivery:
        body = messenger_text_message(notification.message.reply_to.address, notification.text, notification.actions)
        answer = await self._api.send("me/messages", json=body, classify=partial(graph_failure, "messenger"))
        message_id = answer.body.get("message_id") if isinstance(answer.body, dict) else None
        return Delivery(provider_id=message_id if isinstance(message_id, str) else None)
