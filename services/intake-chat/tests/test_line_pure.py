"""LINE webhooks without I/O: the signature, normalisation of every corpus event, redelivery ids."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from pydantic import SecretStr

from switchboard_common.events.models import Channel, IntakeMessage, Language
from switchboard_devenv.line_standin import line_signature, text_event, webhook_body
from switchboard_intake_chat.providers.line import (
    LinePayloadError,
    LineSettings,
    normalise_event,
    parse_webhook,
    signature_matches,
)
from switchboard_intake_chat.providers.normalised import Ignored, IgnoreReason

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
SETTINGS = LineSettings(channel_secret=SecretStr("line-secret"))


def test_the_signature_is_the_base64_hmac_sha256_of_the_raw_body():
    body = webhook_body([text_event("你好", user_id="U1")])
    assert signature_matches("line-secret", body, line_signature("line-secret", body))
    assert not signature_matches("other-secret", body, line_signature("line-secret", body))
    assert not signature_matches("line-secret", body + b" ", line_signature("line-secret", body))
    assert not signature_matches("line-secret", body, None)


def test_a_text_message_carries_the_reply_token_and_assumes_traditional_chinese():
    event = text_event("請問我的訂單什麼時候出貨？", user_id="Uabc", reply_token="rt1", timestamp_ms=1_700_000_000_000)
    message = normalise_event("Ubot", event, SETTINGS, NOW)
    assert isinstance(message, IntakeMessage)
    assert message.channel is Channel.LINE and message.channel_account == "Ubot"
    assert message.text.plain == "請問我的訂單什麼時候出貨？"
    assert message.language_hint is Language.ZH_HANT
    assert message.reply_to.address == "Uabc"
    assert message.reply_to.metadata["reply_token"] == "rt1"
    assert message.reply_to.metadata["reply_token_issued_ms"] == "1700000000000"
    assert "Uabc" not in message.conversation_id


def test_a_redelivered_event_has_the_same_event_id_and_no_stale_reply_token():
    first = text_event("hi", user_id="U1", reply_token="rt", webhook_event_id="01HXYZ")
    again = {**first, "deliveryContext": {"isRedelivery": True}}
    one, two = (normalise_event("Ubot", e, SETTINGS, NOW) for e in (first, again))
    assert isinstance(one, IntakeMessage) and isinstance(two, IntakeMessage)
    assert one.event_id == two.event_id
    assert "reply_token" not in two.reply_to.metadata


def test_group_messages_answer_the_group_and_name_the_writer():
    event = text_event("hello", user_id="U1")
    event["source"] = {"type": "group", "groupId": "Cgroup", "userId": "U1"}
    message = normalise_event("Ubot", event, SETTINGS, NOW)
    assert isinstance(message, IntakeMessage)
    assert message.reply_to.address == "Cgroup" and message.customer.handle == "U1"


def test_events_in_standby_mode_are_left_to_the_active_module():
    event = {**text_event("hi", user_id="U1"), "mode": "standby"}
    outcome = normalise_event("Ubot", event, SETTINGS, NOW)
    assert isinstance(outcome, Ignored) and outcome.reason is IgnoreReason.STANDBY


def test_a_body_that_is_not_a_webhook_is_refused():
    with pytest.raises(LinePayloadError):
        parse_webhook(b"[1, 2]")
    with pytest.raises(LinePayloadError):
        parse_webhook(b"{not json")


@pytest.mark.parametrize("sample", ["webhook_v3.json", "webhook_legacy.json"])
def test_every_corpus_event_is_normalised_or_recorded(corpus_dir: Path, sample: str):
    destination, events = parse_webhook((corpus_dir / "webhooks" / "line_messaging_api" / sample).read_bytes())
    outcomes = [normalise_event(destination, event, SETTINGS, NOW) for event in events]
    published = [o for o in outcomes if isinstance(o, IntakeMessage)]
    recorded = [o for o in outcomes if isinstance(o, Ignored)]
    assert len(published) + len(recorded) == len(events)
    assert {m.provider_ids["message_type"] for m in published} >= {
        "text",
        "image",
        "video",
        "audio",
        "location",
        "sticker",
        "file",
    }
    assert {r.kind for r in recorded} >= {"follow", "unfollow", "postback", "join", "leave", "beacon"}
    assert [r.reason for r in recorded if r.kind == "undefined"] == [IgnoreReason.UNKNOWN_TYPE]


def test_the_corpus_media_messages_become_attachments(corpus_dir: Path):
    _, events = parse_webhook((corpus_dir / "webhooks" / "line_messaging_api" / "webhook_v3.json").read_bytes())
    by_type = {}
    for event in events:
        outcome = normalise_event("U123", event, SETTINGS, NOW)
        if isinstance(outcome, IntakeMessage):
            by_type.setdefault(outcome.provider_ids["message_type"], outcome)
    assert by_type["video"].attachments[0].duration_seconds == 60.0
    assert by_type["image"].attachments[0].url == "https://example.com"
    assert by_type["file"].attachments[0].filename == "file.txt"
    assert by_type["file"].attachments[0].size_bytes == 2138
    assert by_type["location"].text.plain == "my location Tokyo (35.65910807942215, 139.70372892916203)"


def test_an_unknown_event_type_is_recorded_as_unknown():
    event = orjson.loads(b'{"type": "undefined", "source": {"type": "user", "userId": "U1"}, "webhookEventId": "x"}')
    outcome = normalise_event("Ubot", event, SETTINGS, NOW)
    assert isinstance(outcome, Ignored) and outcome.reason is IgnoreReason.UNKNOWN_TYPE
