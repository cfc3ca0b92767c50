"""Telegram Bot API updates: the secret-token check and normalisation (pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from switchboard_common.events.models import Channel, IntakeMessage, Language
from switchboard_common.identity import conversation_key
from switchboard_devenv.chat_payloads import telegram_text_update
from switchboard_intake_chat.providers.normalised import Ignored, IgnoreReason
from switchboard_intake_chat.providers.telegram import normalise_telegram_update, verify_secret_token

RECEIVED = datetime(2024, 1, 1, tzinfo=UTC)


def normalise(update: dict):
    return normalise_telegram_update(update, account="supportbot", received_at=RECEIVED, max_text_chars=4000)


def samples(corpus_dir: Path) -> dict:
    return json.loads((corpus_dir / "webhooks" / "telegram_bot_api_aiogram" / "dataset_objects.json").read_text())


def test_the_secret_token_must_match_exactly():
    assert verify_secret_token("s3cr3t_Token-1", "s3cr3t_Token-1")
    assert not verify_secret_token("s3cr3t_Token-1", "s3cr3t_Token-2")
    assert not verify_secret_token("s3cr3t_Token-1", None)
    assert not verify_secret_token("s3cr3t_Token-1", "")


def test_a_private_message_becomes_a_message_answered_in_its_chat():
    update = telegram_text_update(
        update_id=10, chat_id=777, message_id=5, text="我的訂單還沒出貨", language_code="zh-hant"
    )
    message = normalise(update)
    assert isinstance(message, IntakeMessage)
    assert message.channel is Channel.TELEGRAM
    assert message.conversation_id == conversation_key("telegram", "supportbot", "777")
    assert (message.reply_to.address, message.reply_to.thread) == ("777", "5")
    assert message.customer.handle == "777"
    assert message.language_hint is Language.ZH_HANT
    assert message.text.plain == "我的訂單還沒出貨"


def test_a_redelivered_update_has_the_same_event_id_and_an_edit_a_new_one_marked_as_an_edit():
    first = normalise(telegram_text_update(update_id=10, chat_id=777, message_id=5, text="order 1"))
    again = normalise(telegram_text_update(update_id=10, chat_id=777, message_id=5, text="order 1"))
    edit = normalise(telegram_text_update(update_id=11, chat_id=777, message_id=5, text="order 2", edited=True))
    assert first.event_id == again.event_id
    assert edit.event_id != first.event_id
    assert edit.provider_ids["edited"] == "true" and edit.provider_ids["edit_of"] == "5"
    assert edit.conversation_id == first.conversation_id


@pytest.mark.parametrize(
    ("sample", "text", "content_types"),
    [
        ("MESSAGE", "Hi, world!", []),
        ("MESSAGE_WITH_PHOTO", "photo description", ["image/jpeg"]),
        (
            "MESSAGE_WITH_DOCUMENT",
            "Read my document",
            ["application/vnd.openxmlformats-officedocument.wordprocessingml.document"],
        ),
        ("MESSAGE_WITH_VOICE", "", ["audio/ogg"]),
        ("MESSAGE_WITH_VIDEO_NOTE", "", ["video/mp4"]),
        ("MESSAGE_WITH_STICKER", "", ["image/webp"]),
        ("MESSAGE_WITH_LOCATION", "[location] (50.693416, 30.624605)", []),
        ("MESSAGE_WITH_VENUE", "[location] Venue Name, Venue Address (50.693416, 30.624605)", []),
        ("MESSAGE_WITH_CONTACT", "[contact] John Smith 88005553535", []),
        ("REPLY_MESSAGE", "Reply to quoted message", []),
    ],
)
def test_corpus_messages_are_normalised_with_media_as_attachments(corpus_dir, sample, text, content_types):
    message = normalise({"update_id": 1, "message": samples(corpus_dir)[sample]})
    assert isinstance(message, IntakeMessage)
    assert message.text.plain == text
    assert [a.content_type for a in message.attachments] == content_types
    if content_types:
        assert message.provider_ids["file_id"]


def test_the_corpus_update_and_edited_message_are_normalised(corpus_dir):
    data = samples(corpus_dir)
    update = normalise(data["UPDATE"])
    edit = normalise({"update_id": 2, "edited_message": data["EDITED_MESSAGE"]})
    assert update.text.plain == "Hi, world!" and update.provider_ids["update_id"] == "123456789"
    assert edit.text.plain == "hi there (edited)" and edit.provider_ids["edited"] == "true"


@pytest.mark.parametrize(
    ("sample", "reason"),
    [
        ("MESSAGE_FROM_CHANNEL", IgnoreReason.NOT_CUSTOMER_CONTENT),
        ("MESSAGE_WITH_DICE", IgnoreReason.NOT_CUSTOMER_CONTENT),
        ("MESSAGE_WITH_MIGRATE_TO_CHAT_ID", IgnoreReason.NOT_CUSTOMER_CONTENT),
        ("MESSAGE_WITH_SUCCESSFUL_PAYMENT", IgnoreReason.NOT_CUSTOMER_CONTENT),
    ],
)
def test_service_messages_and_channel_posts_are_recorded_not_published(corpus_dir, sample, reason):
    outcome = normalise({"update_id": 1, "message": samples(corpus_dir)[sample]})
    assert isinstance(outcome, Ignored) and outcome.reason is reason


def test_every_corpus_message_object_is_normalised_or_recorded(corpus_dir):
    messages = {
        k: v for k, v in samples(corpus_dir).items() if isinstance(v, dict) and "message_id" in v and "chat" in v
    }
    assert len(messages) > 20
    for name, message in messages.items():
        assert isinstance(normalise({"update_id": 1, "message": message}), IntakeMessage | Ignored), name


@pytest.mark.parametrize(
    ("update", "reason"),
    [
        ({"update_id": 1, "callback_query": {"id": "1"}}, IgnoreReason.NOT_CUSTOMER_CONTENT),
        ({"update_id": 1, "message_reaction": {}}, IgnoreReason.REACTION),
        ({"update_id": 1, "my_chat_member": {}}, IgnoreReason.PLATFORM_NOTICE),
        ({"update_id": 1, "brand_new_kind": {}}, IgnoreReason.UNKNOWN_TYPE),
        ({"message": {"text": "no update id"}}, IgnoreReason.INCOMPLETE),
        (
            {
                "update_id": 1,
                "message": {"message_id": 1, "chat": {"id": 1}, "from": {"id": 9, "is_bot": True}, "text": "x"},
            },
            IgnoreReason.BOT,
        ),
    ],
)
def test_other_updates_are_recorded(update, reason):
    outcome = normalise(update)
    assert isinstance(outcome, Ignored) and outcome.reason is reason
