"""WhatsApp Cloud API: the acknowledgement as a text message, a reply to the customer's message.

``WHATSAPP_ACCESS_TOKEN`` turns the channel on. The message goes out from the business number the
customer wrote to (the reply target's account: its phone-number id), or ``WHATSAPP_PHONE_NUMBER_ID``
when the message names none. ``META_GRAPH_BASE_URL`` is the Graph API's versioned base URL.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from switchboard_common.channel_settings import optional_settings
from switchboard_common.events.models import Channel
from switchboard_notifier.channels.base import Delivery, DeliveryFailed, Notification, NotificationAction
from switchboard_notifier.channels.graph_api import graph_failure
from switchboard_notifier.channels.http_delivery import ProviderApi
from switchboard_notifier.settings import NotifierSettings

GRAPH_BASE_URL = "https://graph.facebook.com/v21.0"
MAX_TEXT_CHARS = 4096
MAX_INTERACTIVE_BODY_CHARS = 1024


class WhatsAppSenderSettings(BaseSettings):
    """The WhatsApp Cloud API credentials. Environment prefix ``WHATSAPP_``."""

    model_config = SettingsConfigDict(env_prefix="WHATSAPP_", extra="ignore", env_file=".env", populate_by_name=True)

    access_token: SecretStr = Field(description="A system-user access token with whatsapp_business_messaging.")
    phone_number_id: str | None = Field(
        default=None, description="Business phone-number id to send from when a message does not name one."
    )
    graph_base_url: str = Field(
        default=GRAPH_BASE_URL,
        validation_alias=AliasChoices("META_GRAPH_BASE_URL", "WHATSAPP_GRAPH_BASE_URL"),
        description="The Graph API's versioned base URL (META_GRAPH_BASE_URL).",
    )
    timeout_seconds: float = Field(default=8.0, gt=0)


def from_settings(settings: NotifierSettings) -> WhatsAppSender | None:
    """A WhatsApp sender when ``WHATSAPP_ACCESS_TOKEN`` is set."""
    channel = optional_settings(WhatsAppSenderSettings, "whatsapp")
    return WhatsAppSender(channel) if channel is not None else None


def whatsapp_text_message(to: str, text: str, reply_to_message_id: str | None) -> dict[str, Any]:
    """The ``/messages`` body of a plain text reply."""
    body: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": {"preview_url": False, "body": text[:MAX_TEXT_CHARS]},
    }
    if reply_to_message_id:
        body["context"] = {"message_id": reply_to_message_id}
    return body


def whatsapp_list_message(
    to: str, text: str, reply_to_message_id: str | None, actions: Sequence[NotificationAction], button: str
) -> dict[str, Any]:
    """The ``/messages`` body of an interactive list: the text, and a button (``button``) that opens the
    choices (reply buttons allow three, a satisfaction request needs five). The customer's choice comes
    back as an ``interactive.list_reply`` whose id is the choice's value."""
    body: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "interactive",
        "interactive": {
            "type": "list",
            "body": {"text": text[:MAX_INTERACTIVE_BODY_CHARS]},
            "action": {
                "button": button[:20],
                "sections": [
                    {"rows": [{"id": action.value[:200], "title": action.label[:24]} for action in actions[:10]]}
                ],
            },
        },
    }
    if reply_to_message_id:
        body["context"] = {"message_id": reply_to_message_id}
    return body


class WhatsAppSender:
    """Sends notifications with the Cloud API's ``POST /{phone-number-id}/messages``."""

    channels = frozenset({Channel.WHATSAPP})

    def __init__(self, settings: WhatsAppSenderSettings) -> None:
        self._settings = settings
        self._api = ProviderApi(
            "whatsapp",
            base_url=settings.graph_base_url.rstrip("/") + "/",
            timeout_seconds=settings.timeout_seconds,
            headers={"Authorization": f"Bearer {settings.access_token.get_secret_value()}"},
        )

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        await self._api.close()

    async def deliver(self, notification: Notification) -> Delivery:
        target = notification.message.reply_to
        sender = target.account or self._settings.phone_number_id
        if not sender:
            raise DeliveryFailed("whatsapp: no business phone-number id to send from")
        if notification.actions:
            body = whatsapp_list_message(
                target.address,
                notification.text,
                target.thread,
                notification.actions,
                notification.action_prompt or "Choose",
            )
        else:
            body = whatsapp_text_message(target.address, notification.text, target.thread)
        answer = await self._api.send(f"{sender}/messages", json=body, classify=partial(graph_failure, "whatsapp"))
        messages = answer.body.get("messages") if isinstance(answer.body, dict) else None
        message_id = messages[0].get("id") if isinstance(messages, list) and messages else None
        return Delivery(provider_id=message_id if isinstance(message_id, str) else None)
