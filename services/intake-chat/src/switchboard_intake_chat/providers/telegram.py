"""Telegram Bot API webhooks: the secret-token check and update normalisation. Pure.

``setWebhook`` is given a secret token; Telegram sends it back in ``X-Telegram-Bot-Api-Secret-Token``
on every update. Updates are redelivered until answered with a 2xx; ``update_id`` and the message's
``(chat id, message_id)`` identify them. An edited message is published as a new event (its own id,
from the update) marked as an edit, so that the team sees what the customer changed. A
``callback_query`` (an inline-keyboard button pressed) whose data is a rating is the customer's
satisfaction answer (:mod:`switchboard_intake_chat.ratings`); other callback queries are recorded.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from switchboard_common.events.models import (
    Attachment,
    Channel,
    CustomerIdentity,
    IntakeMessage,
    ReplyTarget,
    ThreadInfo,
)
from switchboard_common.identity import conversation_key, customer_key, event_id
from switchboard_common.satisfaction import parse_rating_payload
from switchboard_intake_chat.providers.normalised import (
    Ignored,
    IgnoreReason,
    Normalised,
    from_epoch,
    ids,
    items,
    language_hint,
    location_text,
    mapping,
    message_text,
    text_of,
)
from switchboard_intake_chat.ratings import rating_answer


class TelegramSettings(BaseSettings):
    """The Telegram webhook. Off unless ``TELEGRAM_SECRET_TOKEN`` is set."""

    model_config = SettingsConfigDict(env_prefix="TELEGRAM_", extra="ignore", env_file=".env")

    secret_token: SecretStr = Field(description="The secret_token given to setWebhook (1-256 of A-Z a-z 0-9 _ -).")
    account: str = Field(default="default", description="Names the bot in events (channel account).")
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_text_chars: int = Field(default=8_000, ge=100)


def verify_secret_token(expected: str, given: str | None) -> bool:
    """Whether the header carries the webhook's secret token (compared in constant time)."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


# Update fields that are not messages from customers to the bot.
NOTICE_UPDATES = ("my_chat_member", "chat_member", "chat_join_request", "chat_boost", "removed_chat_boost")
OTHER_UPDATES = (
    "channel_post",
    "edited_channel_post",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "inline_query",
    "chosen_inline_result",
    "shipping_query",
    "pre_checkout_query",
    "purchased_paid_media",
    "poll",
    "poll_answer",
)
REACTION_UPDATES = ("message_reaction", "message_reaction_count")

MEDIA_TYPES = {
    "document": "application/octet-stream",
    "audio": "audio/mpeg",
    "voice": "audio/ogg",
    "video": "video/mp4",
    "video_note": "video/mp4",
    "animation": "video/mp4",
}


def normalise_telegram_update(
    update: dict[str, Any], *, account: str, received_at: datetime, max_text_chars: int
) -> Normalised:
    """One update: a customer message (new or edited) or what it is instead."""
    update_id = update.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        return Ignored(IgnoreReason.INCOMPLETE, "update", "no update_id")
    provider = ids(update_id=update_id)
    for field in ("message", "edited_message"):
        if field in update:
            return _message(
                mapping(update.get(field)), update_id, field == "edited_message", account, received_at, max_text_chars
            )
    if "callback_query" in update:
        return _callback_query(mapping(update.get("callback_query")), update_id, account, received_at)
    for field in REACTION_UPDATES:
        if field in update:
            return Ignored(IgnoreReason.REACTION, field, provider_ids=provider)
    for field in NOTICE_UPDATES:
        if field in update:
            return Ignored(IgnoreReason.PLATFORM_NOTICE, field, provider_ids=provider)
    for field in OTHER_UPDATES:
        if field in update:
            return Ignored(IgnoreReason.NOT_CUSTOMER_CONTENT, field, provider_ids=provider)
    other = next((k for k in update if k != "update_id"), "(empty)")
    return Ignored(IgnoreReason.UNKNOWN_TYPE, other, provider_ids=provider)


def _message(
    message: dict[str, Any], update_id: int, edited: bool, account: str, received_at: datetime, max_chars: int
) -> Normalised:
    kind = "edited_message" if edited else "message"
    chat = mapping(message.get("chat"))
    sender = mapping(message.get("from"))
    chat_id = _id(chat.get("id"))
    message_id = _id(message.get("message_id"))
    provider = ids(update_id=update_id, chat_id=chat_id, message_id=message_id)
    if text_of(chat.get("type")) == "channel" or not sender:
        return Ignored(IgnoreReason.NOT_CUSTOMER_CONTENT, f"{kind}/channel", "a channel post, not a person", provider)
    if sender.get("is_bot") is True:
        return Ignored(IgnoreReason.BOT, kind, provider_ids=provider)
    user_id = _id(sender.get("id"))
    if not (chat_id and message_id and user_id):
        return Ignored(IgnoreReason.INCOMPLETE, kind, "missing chat id, message_id or sender", provider)
    content = _content(message)
    if isinstance(content, Ignored):
        return Ignored(content.reason, f"{kind}/{content.kind}", content.detail, provider)
    text, attachments, content_ids = content
    name = " ".join(p for p in (text_of(sender.get("first_name")), text_of(sender.get("last_name"))) if p).strip()
    locale = text_of(sender.get("language_code")) or None
    reply = mapping(message.get("reply_to_message"))
    thread_id = _id(message.get("message_thread_id")) if message.get("is_topic_message") is True else ""
    identity = ("update", str(update_id)) if edited else (chat_id, message_id)
    return IntakeMessage(
        event_id=event_id("telegram", account, *identity),
        channel=Channel.TELEGRAM,
        channel_account=f"telegram:{account}",
        received_at=received_at,
        sent_at=from_epoch(message.get("edit_date") if edited else message.get("date")),
        conversation_id=conversation_key("telegram", account, chat_id),
        customer=CustomerIdentity(
            key=customer_key(Channel.TELEGRAM.value, user_id),
            handle=user_id,
            display_name=name or None,
            locale=locale,
        ),
        reply_to=ReplyTarget(
            channel=Channel.TELEGRAM,
            account=account,
            address=chat_id,
            thread=message_id,
            metadata=ids(message_thread_id=thread_id or None),
        ),
        text=message_text(text, max_chars),
        language_hint=language_hint(locale),
        attachments=attachments,
        thread=ThreadInfo(in_reply_to=_id(reply.get("message_id")) or None),
        provider_ids={
            **ids(
                update_id=update_id,
                chat_id=chat_id,
                chat_type=chat.get("type"),
                message_id=message_id,
                edited="true" if edited else None,
                edit_of=message_id if edited else None,
                media_group_id=message.get("media_group_id"),
            ),
            **content_ids,
        },
        raw_ref=f"telegram://{account}/{chat_id}/{message_id}" + (f"/update/{update_id}" if edited else ""),
    )


def _callback_query(query: dict[str, Any], update_id: int, account: str, received_at: datetime) -> Normalised:
    """A pressed inline-keyboard button: a satisfaction answer when its data is a rating, else recorded.

    The press names the chat of the message that carried the keyboard, so the answer lands in the
    conversation of the customer's messages in that chat. A press on a message sent inline (no chat)
    or a button that is not a rating is not a customer message.
    """
    query_id = text_of(query.get("id"))
    message = mapping(query.get("message"))
    chat_id = _id(mapping(message.get("chat")).get("id"))
    sender = mapping(query.get("from"))
    user_id = _id(sender.get("id"))
    data = text_of(query.get("data"))
    provider = ids(update_id=update_id, callback_query_id=query_id, chat_id=chat_id)
    if not parse_rating_payload(data):
        detail = "a button that is not a satisfaction rating" if data else "no callback data (a game or inline button)"
        return Ignored(IgnoreReason.NOT_CUSTOMER_CONTENT, "callback_query", detail, provider)
    if sender.get("is_bot") is True:
        return Ignored(IgnoreReason.BOT, "callback_query", provider_ids=provider)
    if not (query_id and chat_id and user_id):
        return Ignored(IgnoreReason.INCOMPLETE, "callback_query", "missing id, sender or the message's chat", provider)
    name = " ".join(p for p in (text_of(sender.get("first_name")), text_of(sender.get("last_name"))) if p).strip()
    locale = text_of(sender.get("language_code")) or None
    keyboard_message = _id(message.get("message_id"))
    thread_id = _id(message.get("message_thread_id")) if message.get("is_topic_message") is True else ""
    press = IntakeMessage(
        event_id=event_id("telegram", account, "callback_query", query_id),
        channel=Channel.TELEGRAM,
        channel_account=f"telegram:{account}",
        received_at=received_at,
        conversation_id=conversation_key("telegram", account, chat_id),
        customer=CustomerIdentity(
            key=customer_key(Channel.TELEGRAM.value, user_id),
            handle=user_id,
            display_name=name or None,
            locale=locale,
        ),
        reply_to=ReplyTarget(
            channel=Channel.TELEGRAM,
            account=account,
            address=chat_id,
            thread=keyboard_message or None,
            metadata=ids(message_thread_id=thread_id or None),
        ),
        text=message_text("", 100),
        language_hint=language_hint(locale),
        thread=ThreadInfo(in_reply_to=keyboard_message or None),
        provider_ids=ids(
            update_id=update_id,
            callback_query_id=query_id,
            chat_id=chat_id,
            chat_type=mapping(message.get("chat")).get("type"),
            message_id=keyboard_message,
        ),
        raw_ref=f"telegram://{account}/{chat_id}/callback_query/{query_id}",
    )
    return rating_answer(press, data) or Ignored(IgnoreReason.NOT_CUSTOMER_CONTENT, "callback_query", data, provider)


def _content(message: dict[str, Any]) -> tuple[str, list[Attachment], dict[str, str]] | Ignored:
    texts = [text_of(message.get("text")) or text_of(message.get("caption"))]
    attachments: list[Attachment] = []
    content_ids: dict[str, str] = {}
    photos = items(message.get("photo"))
    if photos:
        largest = max(photos, key=lambda p: (_int(p.get("width")) or 0) * (_int(p.get("height")) or 0))
        attachments.append(
            Attachment(content_type="image/jpeg", size_bytes=_int(largest.get("file_size")), disposition="inline")
        )
        content_ids = ids(file_id=largest.get("file_id"), media_kind="photo")
    for field, default_type in MEDIA_TYPES.items():
        media = mapping(message.get(field))
        if media:
            duration = _int(media.get("duration"))
            attachments.append(
                Attachment(
                    filename=text_of(media.get("file_name")) or None,
                    content_type=text_of(media.get("mime_type")) or default_type,
                    size_bytes=_int(media.get("file_size")),
                    duration_seconds=float(duration) if duration is not None else None,
                )
            )
            content_ids = ids(file_id=media.get("file_id"), media_kind=field)
    sticker = mapping(message.get("sticker"))
    if sticker:
        sticker_type = (
            "video/webm"
            if sticker.get("is_video")
            else "application/x-tgsticker"
            if sticker.get("is_animated")
            else "image/webp"
        )
        attachments.append(
            Attachment(content_type=sticker_type, size_bytes=_int(sticker.get("file_size")), disposition="inline")
        )
        content_ids = ids(file_id=sticker.get("file_id"), media_kind="sticker", sticker_emoji=sticker.get("emoji"))
    venue = mapping(message.get("venue"))
    location = mapping(message.get("location"))
    if venue:
        place = mapping(venue.get("location"))
        texts.append(
            location_text(place.get("latitude"), place.get("longitude"), venue.get("title"), venue.get("address"))
        )
    elif location:
        texts.append(location_text(location.get("latitude"), location.get("longitude")))
    contact = mapping(message.get("contact"))
    if contact:
        parts = (
            text_of(contact.get("first_name")),
            text_of(contact.get("last_name")),
            text_of(contact.get("phone_number")),
        )
        texts.append("[contact] " + " ".join(p for p in parts if p))
    poll = mapping(message.get("poll"))
    if poll:
        texts.append(f"[poll] {text_of(poll.get('question'))}")
    text = "\n".join(t for t in texts if t)
    if not text and not attachments:
        other = next((k for k in message if k not in _ENVELOPE and message.get(k) not in (None, False)), "(empty)")
        return Ignored(IgnoreReason.NOT_CUSTOMER_CONTENT, other, "no text, media, location or contact")
    return text, attachments, content_ids


# Message fields that describe the message rather than carry its content.
_ENVELOPE = frozenset(
    {
        "message_id",
        "message_thread_id",
        "from",
        "sender_chat",
        "date",
        "edit_date",
        "chat",
        "forward_from",
        "forward_from_chat",
        "forward_from_message_id",
        "forward_signature",
        "forward_sender_name",
        "forward_date",
        "forward_origin",
        "is_topic_message",
        "is_automatic_forward",
        "reply_to_message",
        "via_bot",
        "has_protected_content",
        "media_group_id",
        "author_signature",
        "entities",
        "caption_entities",
        "text",
        "caption",
    }
)


def _id(value: Any) -> str:
    if isinstance(value, bool):
        return ""
    if isinstance(value, int):
        return str(value)
    return text_of(value)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
