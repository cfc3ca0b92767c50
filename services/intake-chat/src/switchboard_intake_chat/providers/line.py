"""LINE Messaging API webhooks: settings, signature, normalisation. Pure.

``X-Line-Signature`` is the base64 HMAC-SHA256 of the raw body under the channel secret. A webhook
body holds several events. Message events (and ``messageEdited``: the customer's corrected text) from
users, groups and rooms become intake events, and so does a postback whose data is a rating (a rating
button pressed: :mod:`switchboard_intake_chat.ratings`); follow/unfollow, join/leave, member changes,
other postbacks, beacons, account links, unsends, video-play completions, events in standby mode and
event types this gateway does not know are recorded (an :class:`Ignored`: a log line and
``switchboard_intake_webhook_events_total``) and answered with success.

Event ids derive from ``webhookEventId`` (the same on a redelivery, ``deliveryContext.isRedelivery``),
so a redelivered event is one event. The reply token and the time LINE issued it travel in the reply
target's metadata: the notifier replies with it while it is fresh and pushes otherwise.
LINE customers of this company mostly write traditional Chinese: it is the language assumed where the
text does not tell (``LINE_LANGUAGE``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from switchboard_common.events.models import (
    Attachment,
    Channel,
    CustomerIdentity,
    IntakeMessage,
    Language,
    ReplyTarget,
)
from switchboard_common.identity import conversation_key, customer_key, event_id
from switchboard_common.satisfaction import parse_rating_payload
from switchboard_intake_chat.providers.normalised import (
    Ignored,
    IgnoreReason,
    Normalised,
    from_epoch,
    ids,
    mapping,
    message_text,
)
from switchboard_intake_chat.providers.wechat import location_text
from switchboard_intake_chat.ratings import rating_answer

MESSAGE_EVENTS = frozenset({"message", "messageEdited"})


class LineSettings(BaseSettings):
    """A LINE Messaging API channel's webhook (environment prefix ``LINE_``). Off without ``LINE_CHANNEL_SECRET``."""

    model_config = SettingsConfigDict(env_prefix="LINE_", extra="ignore", env_file=".env")

    channel_secret: SecretStr = Field(description="The channel secret (Basic settings): signs every webhook.")
    language: Language = Field(
        default=Language.ZH_HANT, description="Language assumed where a message's text does not tell."
    )
    max_body_bytes: int = Field(default=1 << 20, ge=1024)
    max_text_chars: int = Field(default=5_000, ge=1)
    answer_within_seconds: float = Field(default=5.0, gt=0)


class LinePayloadError(ValueError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def line_signature(channel_secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(channel_secret.encode(), body, hashlib.sha256).digest()).decode()


def signature_matches(channel_secret: str, body: bytes, given: str | None) -> bool:
    if not given:
        return False
    return hmac.compare_digest(line_signature(channel_secret, body).encode(), given.strip().encode())


def parse_webhook(body: bytes) -> tuple[str, list[dict[str, Any]]]:
    """(destination, events) of a webhook body."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise LinePayloadError(f"not JSON: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("events", []), list):
        raise LinePayloadError("a webhook body is an object with an events list")
    events = [e for e in document.get("events", []) if isinstance(e, dict)]
    return str(document.get("destination") or ""), events


def line_event_id(destination: str, event: Mapping[str, Any]) -> str:
    """From webhookEventId; for payloads without one, from the message id or the event's type, source and time."""
    webhook_event_id = event.get("webhookEventId")
    if webhook_event_id:
        return event_id(Channel.LINE.value, destination, str(webhook_event_id))
    message = mapping(event.get("message"))
    if message.get("id"):
        return event_id(Channel.LINE.value, destination, "message", str(message["id"]), str(event.get("type")))
    source = mapping(event.get("source"))
    return event_id(
        Channel.LINE.value,
        destination,
        str(event.get("type")),
        str(event.get("timestamp")),
        *(str(source.get(k, "")) for k in ("userId", "groupId", "roomId")),
    )


def normalise_event(
    destination: str, event: Mapping[str, Any], settings: LineSettings, received_at: datetime
) -> Normalised:
    kind = str(event.get("type") or "?")
    ident = line_event_id(destination, event)
    recorded_ids = ids(event_id=ident, webhook_event_id=event.get("webhookEventId"))
    message = event.get("message")
    postback = mapping(event.get("postback"))
    rating = kind == "postback" and parse_rating_payload(str(postback.get("data") or "")) is not None
    if not rating and (kind not in MESSAGE_EVENTS or not isinstance(message, dict)):
        reason = IgnoreReason.PLATFORM_NOTICE if kind in RECORDED_EVENTS else IgnoreReason.UNKNOWN_TYPE
        return Ignored(reason, kind, "not a customer message", recorded_ids)
    if event.get("mode") == "standby":
        return Ignored(IgnoreReason.STANDBY, kind, "the channel is in standby: another module answers", recorded_ids)
    source = mapping(event.get("source"))
    source_type = str(source.get("type") or "")
    chat_id = {"user": source.get("userId"), "group": source.get("groupId"), "room": source.get("roomId")}.get(
        source_type
    )
    if not chat_id:
        return Ignored(IgnoreReason.INCOMPLETE, kind, f"no sender in source {source_type!r}", recorded_ids)
    if rating:
        # A rating button (a postback action): the customer's answer, in the conversation of their messages.
        data = str(postback.get("data"))
        press = _intake_message(
            destination, event, ident, str(chat_id), ("", []), {"event_type": kind}, settings, received_at
        )
        return rating_answer(press, data) or Ignored(IgnoreReason.PLATFORM_NOTICE, kind, data, recorded_ids)
    assert isinstance(message, dict)
    msg_type = str(message.get("type") or "")
    content = _content(msg_type, message)
    if content is None:
        return Ignored(
            IgnoreReason.UNKNOWN_TYPE, f"{kind}:{msg_type}", f"message type {msg_type!r} is not handled", recorded_ids
        )
    provider_ids = {"message_id": str(message.get("id", "")), "message_type": msg_type, "event_type": kind}
    if msg_type == "sticker":
        provider_ids["sticker"] = f"{message.get('packageId', '')}/{message.get('stickerId', '')}"
    return _intake_message(destination, event, ident, str(chat_id), content, provider_ids, settings, received_at)


def _intake_message(
    destination: str,
    event: Mapping[str, Any],
    ident: str,
    chat_id: str,
    content: tuple[str, list[Attachment]],
    provider_ids: dict[str, str],
    settings: LineSettings,
    received_at: datetime,
) -> IntakeMessage:
    """The intake event of a message or postback event from ``chat_id`` (a user, group or room)."""
    text, attachments = content
    source = mapping(event.get("source"))
    source_type = str(source.get("type") or "")
    user = str(source.get("userId") or chat_id)
    timestamp = event.get("timestamp")
    account = destination or "line"
    metadata = {"source_type": source_type}
    reply_token = event.get("replyToken")
    if reply_token and not mapping(event.get("deliveryContext")).get("isRedelivery"):
        metadata["reply_token"] = str(reply_token)
        if isinstance(timestamp, int | float):
            metadata["reply_token_issued_ms"] = str(int(timestamp))
    if event.get("webhookEventId"):
        provider_ids = {**provider_ids, "webhook_event_id": str(event["webhookEventId"])}
    message = mapping(event.get("message"))
    return IntakeMessage(
        event_id=ident,
        channel=Channel.LINE,
        channel_account=account,
        received_at=received_at,
        sent_at=from_epoch(timestamp) if isinstance(timestamp, int | float) else None,
        conversation_id=conversation_key(Channel.LINE.value, account, source_type, chat_id),
        customer=CustomerIdentity(key=customer_key(Channel.LINE.value, user), handle=user),
        reply_to=ReplyTarget(channel=Channel.LINE, account=account, address=chat_id, metadata=metadata),
        text=message_text(text, settings.max_text_chars),
        language_hint=settings.language,
        attachments=attachments,
        provider_ids=provider_ids,
        raw_ref=f"line://{account}/{message.get('id') or ident}",
    )


RECORDED_EVENTS = frozenset(
    {
        "follow",
        "unfollow",
        "join",
        "leave",
        "memberJoined",
        "memberLeft",
        "postback",
        "beacon",
        "accountLink",
        "things",
        "unsend",
        "videoPlayComplete",
        "activated",
        "deactivated",
        "botSuspended",
        "botResumed",
        "membership",
        "module",
    }
)
"""Event types LINE documents that carry no customer message."""

_MEDIA = {"image": "image/jpeg", "video": "video/mp4", "audio": "audio/m4a", "file": "application/octet-stream"}


def _content(msg_type: str, message: Mapping[str, Any]) -> tuple[str, list[Attachment]] | None:
    if msg_type == "text":
        return str(message.get("text", "")), []
    if msg_type in _MEDIA:
        provider = mapping(message.get("contentProvider"))
        url = provider.get("originalContentUrl") if provider.get("type") == "external" else None
        duration = message.get("duration")
        size = message.get("fileSize")
        return "", [
            Attachment(
                filename=str(message["fileName"]) if message.get("fileName") else f"{msg_type}-{message.get('id', '')}",
                content_type=_MEDIA[msg_type],
                size_bytes=int(size) if isinstance(size, int) else None,
                url=str(url) if url else None,
                duration_seconds=duration / 1000 if isinstance(duration, int | float) else None,
                disposition="attachment" if msg_type == "file" else "inline",
            )
        ]
    if msg_type == "location":
        label = " ".join(str(message.get(k, "")).strip() for k in ("title", "address") if message.get(k))
        return location_text(label, message.get("latitude"), message.get("longitude")), []
    if msg_type == "sticker":
        # A sticker says little a team can act on; it is kept (with no text) so the conversation is complete.
        return "", [
            Attachment(
                filename=f"sticker-{message.get('packageId', '')}-{message.get('stickerId', '')}",
                content_type="image/png",
                disposition="inline",
            )
        ]
    return None
