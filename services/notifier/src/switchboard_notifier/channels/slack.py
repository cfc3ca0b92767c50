"""Slack: the acknowledgement as a reply in the customer's thread, through slack-sdk's async Web API client.

``SLACK_BOT_TOKEN`` turns the channel on; ``SLACK_API_BASE_URL`` points the client elsewhere (tests
point it at a local stand-in of the Web API). The client's own retry handlers are off: a rate limit
(HTTP 429 with ``Retry-After``) becomes :class:`DeliveryRetryable` with that delay, and the notifier's
loop schedules the retry, so one slow channel never holds the others.
"""

from __future__ import annotations

import math
from typing import Any

import aiohttp
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from switchboard_common.channel_settings import optional_settings
from switchboard_common.events.models import Channel
from switchboard_notifier.channels.base import Delivery, DeliveryFailed, DeliveryRetryable, Notification
from switchboard_notifier.channels.provider_answer import retry_after_seconds
from switchboard_notifier.settings import NotifierSettings

# Slack API errors worth retrying: Slack's side, not the request's.
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout", "team_added_to_org"}
)


class SlackSenderSettings(BaseSettings):
    """The Slack app's bot token and where the Web API is. Environment prefix ``SLACK_``."""

    model_config = SettingsConfigDict(env_prefix="SLACK_", extra="ignore", env_file=".env")

    bot_token: SecretStr = Field(description="The app's bot token (xoxb-...), with the chat:write scope.")
    api_base_url: str = Field(default="https://slack.com/api/", description="The Web API's base URL.")
    timeout_seconds: float = Field(default=8.0, gt=0, description="Upper bound on one Web API call.")


def from_settings(settings: NotifierSettings) -> SlackSender | None:
    """A Slack sender when ``SLACK_BOT_TOKEN`` is set."""
    channel = optional_settings(SlackSenderSettings, "slack")
    return SlackSender(channel) if channel is not None else None


def slack_blocks(notification: Notification) -> list[dict[str, Any]] | None:
    """Block Kit for a notification with choices: the text, then one button per choice (their values come
    back through the interactivity endpoint as ``block_actions``); None for a plain text message."""
    if not notification.actions:
        return None
    buttons = [
        {
            "type": "button",
            "action_id": f"sb_action_{index}",
            "text": {"type": "plain_text", "text": action.label[:75], "emoji": True},
            "value": action.value,
        }
        for index, action in enumerate(notification.actions[:25], start=1)
    ]
    return [
        {"type": "section", "text": {"type": "plain_text", "text": notification.text[:3000], "emoji": True}},
        {"type": "actions", "block_id": f"sb_{notification.notification_id}"[:255], "elements": buttons},
    ]


def slack_escape(text: str) -> str:
    """Text as Slack shows it literally: ``&``, ``<`` and ``>`` are markup in Slack messages."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SlackSender:
    """Posts notifications with ``chat.postMessage`` into the thread the customer wrote in."""

    channels = frozenset({Channel.SLACK})

    def __init__(self, settings: SlackSenderSettings) -> None:
        self._settings = settings
        self._session: aiohttp.ClientSession | None = None
        self._client: AsyncWebClient | None = None

    async def start(self) -> None:
        timeout = self._settings.timeout_seconds
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout))
        self._client = AsyncWebClient(
            token=self._settings.bot_token.get_secret_value(),
            base_url=self._settings.api_base_url,
            timeout=math.ceil(timeout),
            session=self._session,
            retry_handlers=[],
        )

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        self._session = self._client = None

    async def deliver(self, notification: Notification) -> Delivery:
        if self._client is None:
            raise DeliveryRetryable("the Slack sender is not started")
        target = notification.message.reply_to
        try:
            response = await self._client.chat_postMessage(
                channel=target.address,
                thread_ts=target.thread,
                text=slack_escape(notification.text),
                blocks=slack_blocks(notification),
                unfurl_links=False,
                unfurl_media=False,
            )
        except SlackApiError as exc:
            raise slack_failure(exc) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryRetryable(f"slack: {type(exc).__name__}: {exc}"[:300]) from None
        ts = response.get("ts")
        return Delivery(provider_id=ts if isinstance(ts, str) else None, details={"channel": target.address})


def slack_failure(exc: SlackApiError) -> DeliveryRetryable | DeliveryFailed:
    """What a failed Web API call means for the notification."""
    response = exc.response
    status = response.status_code
    data = response.data if isinstance(response.data, dict) else {}
    error = str(data.get("error") or f"HTTP {status}")
    if status == 429 or error == "ratelimited":
        headers = response.headers
        given = headers.get("Retry-After") or headers.get("retry-after") if hasattr(headers, "get") else None
        wait = retry_after_seconds(given)
        return DeliveryRetryable(f"slack: rate limited ({error})", retry_after=wait)
    if status >= 500 or error in TRANSIENT_ERRORS:
        return DeliveryRetryable(f"slack: {error}")
    return DeliveryFailed(f"slack: {error}")
