"""WhatsApp Cloud API and Messenger webhooks: verification and normalisation (pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from switchboard_common.events.models import Channel, IntakeMessage
from switchboard_common.identity import conversation_key
from switchboard_devenv.chat_payloads import messenger_text, meta_request, whatsapp_text
from switchboard_intake_chat.providers.meta import (
    normalise_meta_payload,
    verify_handshake,
    verify_meta_signature,
)
from switchboard_intake_chat.providers.normalised import Ignored, IgnoreReason

APP_SECRET = "0123456789abcdef0123456789abcdef"
RECEIVED = datetime(2024, 1, 1, tzinfo=UTC)
WHATSAPP = "whatsapp_business_account"


def normalise(payload: dict, expected: str | None = None) -> list:
    return normalise_meta_payload(payload, expected_object=expected, received_at=RECEIVED, max_text_chars=4000)


def whatsapp_samples(corpus_dir: Path, name: str) -> dict[str, dict]:
    return json.loads((corpus_dir / "webhooks" / "whatsapp_cloud_api_pywa" / "updates" / f"{name}.json").read_text())


# -- verification ------------------------------------------------------------------------------


def test_the_handshake_echoes_the_challenge_only_for_our_verify_token():
    assert verify_handshake("our-token", "subscribe", "our-token", "1158201444") == "1158201444"
    assert verify_handshake("our-token", "subscribe", "guess", "1158201444") is None
    assert verify_handshake("our-token", "unsubscribe", "our-token", "1158201444") is None
    assert verify_handshake("our-token", "subscribe", None, "1158201444") is None


def test_a_body_signed_with_the_app_secret_verifies_and_any_change_does_not():
    body, headers = meta_request(APP_SECRET, whatsapp_text(phone_number_id="1", wa_id="2", text="hi", message_id="m"))
    signature = headers["X-Hub-Signature-256"]
    assert verify_meta_signature(APP_SECRET, body, signature) is None
    assert verify_meta_signature(APP_SECRET, body + b" ", signature)
    assert verify_meta_signature("another-secret", body, signature)
    assert verify_meta_signature(APP_SECRET, body, None)
    assert verify_meta_signature(APP_SECRET, body, signature.replace("sha256=", "sha1="))


# -- WhatsApp ----------------------------------------------------------------------------------


def test_a_whatsapp_text_becomes_a_message_with_an_opaque_conversation_and_the_number_only_in_the_reply_address():
    payload = whatsapp_text(
        phone_number_id="1122334455667",
        wa_id="8613800138000",
        text="我的快递还没到",
        message_id="wamid.A1",
        name="李雷",
    )
    [message] = normalise(payload, WHATSAPP)
    assert isinstance(message, IntakeMessage)
    assert message.channel is Channel.WHATSAPP
    assert message.text.plain == "我的快递还没到"
    assert message.conversation_id == conversation_key("whatsapp", "1122334455667", "8613800138000")
    assert "8613800138000" not in message.conversation_id and "8613800138000" not in (message.raw_ref or "")
    assert message.reply_to.address == "8613800138000"
    assert message.reply_to.account == "1122334455667"
    assert message.reply_to.thread == "wamid.A1"
    assert message.customer.display_name == "李雷"


def test_a_redelivered_whatsapp_message_has_the_same_event_id():
    payload = whatsapp_text(phone_number_id="1", wa_id="2", text="hi", message_id="wamid.A1")
    assert normalise(payload)[0].event_id == normalise(json.loads(json.dumps(payload)))[0].event_id


@pytest.mark.parametrize(
    ("case", "text", "content_types"),
    [
        ("text", "Body Text", []),
        ("image", "", ["image/jpeg"]),
        ("video", "caption", ["video/mp4"]),
        ("document", "caption", ["application/pdf"]),
        ("voice", "", ["audio/ogg; codecs=opus"]),
        ("static_sticker", "", ["image/webp"]),
        (
            "chosen_location",
            "[location] Facebook HQ, 1 Hacker Way, Menlo Park, CA 94025 (37.4611978, -122.2164385)",
            [],
        ),
        ("reply", "replied text", []),
    ],
)
def test_corpus_whatsapp_messages_are_normalised(corpus_dir, case, text, content_types):
    [message] = normalise(whatsapp_samples(corpus_dir, "message")[case], WHATSAPP)
    assert isinstance(message, IntakeMessage)
    assert message.text.plain == text
    assert [a.content_type for a in message.attachments] == content_types


def test_media_keep_the_provider_media_id_and_url(corpus_dir):
    [message] = normalise(whatsapp_samples(corpus_dir, "message")["media_with_url"])
    assert message.provider_ids["media_id"] == "65463453"
    assert message.attachments[0].url.startswith("https://lookaside.fbsbx.com/")
    [document] = normalise(whatsapp_samples(corpus_dir, "message")["document"])
    assert document.attachments[0].filename == "filename.pdf"


def test_button_and_list_replies_become_their_titles_with_the_reply_id(corpus_dir):
    [button] = normalise(whatsapp_samples(corpus_dir, "callback_button")["button"])
    [listed] = normalise(whatsapp_samples(corpus_dir, "callback_selection")["description"])
    assert (button.text.plain, button.provider_ids["reply_id"]) == ("title", "callback_data")
    assert listed.text.plain == "title — description"


def test_an_edited_whatsapp_message_is_a_new_event_marked_as_an_edit(corpus_dir):
    [edit] = normalise(whatsapp_samples(corpus_dir, "edited_message")["image"])
    assert edit.text.plain == "Updated image caption"
    assert edit.provider_ids["edited"] == "true"
    assert edit.provider_ids["edit_of"].startswith("wamid.")


@pytest.mark.parametrize(
    ("name", "case", "reason"),
    [
        ("message_status", "delivered", IgnoreReason.DELIVERY_STATUS),
        ("message_status", "failed", IgnoreReason.DELIVERY_STATUS),
        ("message", "reaction", IgnoreReason.REACTION),
        ("message", "unsupported", IgnoreReason.UNSUPPORTED_CONTENT),
        ("deleted_message", "revoke", IgnoreReason.DELETION),
        ("system", "phone_number_change", IgnoreReason.PLATFORM_NOTICE),
        ("outgoing_message", "text", IgnoreReason.OWN_MESSAGE),
        ("template_status_update", "approved", IgnoreReason.PLATFORM_NOTICE),
        ("call_connect", "user_initiated", IgnoreReason.NOT_CUSTOMER_CONTENT),
    ],
)
def test_statuses_reactions_and_notices_are_recorded_not_published(corpus_dir, name, case, reason):
    outcomes = normalise(whatsapp_samples(corpus_dir, name)[case])
    assert outcomes and all(isinstance(o, Ignored) for o in outcomes)
    assert outcomes[0].reason is reason


def test_every_whatsapp_corpus_payload_is_normalised_or_recorded(corpus_dir):
    folder = corpus_dir / "webhooks" / "whatsapp_cloud_api_pywa" / "updates"
    cases = [
        (path.name, case, body)
        for path in sorted(folder.glob("*.json"))
        for case, body in json.loads(path.read_text()).items()
    ]
    assert len(cases) > 60
    published = 0
    for name, case, body in cases:
        outcomes = normalise(body, WHATSAPP)
        assert outcomes, (name, case)
        published += sum(isinstance(o, IntakeMessage) for o in outcomes)
        for outcome in outcomes:
            if isinstance(outcome, IntakeMessage):
                assert outcome.customer.handle not in outcome.conversation_id, (name, case)
    assert published >= 20


# -- Messenger ---------------------------------------------------------------------------------


def test_a_messenger_text_becomes_a_message_answered_to_the_psid():
    [message] = normalise(messenger_text(page_id="PAGE1", psid="PSID9", text="Where is my refund?", mid="m_1"), "page")
    assert isinstance(message, IntakeMessage)
    assert message.channel is Channel.MESSENGER
    assert (message.reply_to.account, message.reply_to.address) == ("PAGE1", "PSID9")
    assert message.text.plain == "Where is my refund?"
    assert message.conversation_id == conversation_key("messenger", "PAGE1", "PSID9")


def test_messenger_attachments_postbacks_and_quick_replies():
    payload = messenger_text(page_id="PAGE1", psid="PSID9", text="", mid="m_2")
    event = payload["entry"][0]["messaging"][0]
    event["message"] = {
        "mid": "m_2",
        "attachments": [
            {"type": "image", "payload": {"url": "https://scontent.example/1.jpg"}},
            {"type": "location", "title": "Home", "payload": {"coordinates": {"lat": 22.3, "long": 114.2}}},
        ],
        "quick_reply": {"payload": "TRACK_ORDER"},
    }
    postback = {
        "sender": {"id": "PSID9"},
        "recipient": {"id": "PAGE1"},
        "timestamp": 1700000000000,
        "postback": {"mid": "m_3", "title": "Track my order", "payload": "TRACK"},
    }
    payload["entry"][0]["messaging"].append(postback)
    media, button = normalise(payload, "page")
    assert media.attachments[0].url == "https://scontent.example/1.jpg"
    assert media.text.plain == "[location] Home (22.3, 114.2)"
    assert media.provider_ids["reply_id"] == "TRACK_ORDER"
    assert (button.text.plain, button.provider_ids["reply_id"]) == ("Track my order", "TRACK")


def test_echoes_deliveries_reads_and_reactions_are_recorded_not_published():
    payload = messenger_text(page_id="PAGE1", psid="PSID9", text="hi", mid="m_1")
    base = {"sender": {"id": "PSID9"}, "recipient": {"id": "PAGE1"}, "timestamp": 1700000000000}
    payload["entry"][0]["messaging"] = [
        {**base, "message": {"mid": "m_9", "is_echo": True, "app_id": 1, "text": "our ack"}},
        {**base, "delivery": {"mids": ["m_9"], "watermark": 1700000000000}},
        {**base, "read": {"watermark": 1700000000000}},
        {**base, "reaction": {"mid": "m_9", "action": "react", "emoji": "👍", "reaction": "like"}},
        {**base, "optin": {"ref": "x"}},
        {**base, "something_new": {}},
    ]
    reasons = [o.reason for o in normalise(payload, "page")]
    assert reasons == [
        IgnoreReason.OWN_MESSAGE,
        IgnoreReason.DELIVERY_STATUS,
        IgnoreReason.DELIVERY_STATUS,
        IgnoreReason.REACTION,
        IgnoreReason.PLATFORM_NOTICE,
        IgnoreReason.UNKNOWN_TYPE,
    ]


def test_a_payload_for_another_product_or_of_unknown_shape_is_recorded_as_unknown():
    [other] = normalise({"object": "instagram", "entry": []}, "page")
    [nothing] = normalise({"entry": "not a list"})
    assert other.reason is IgnoreReason.UNKNOWN_TYPE and nothing.reason is IgnoreReason.UNKNOWN_TYPE
    assert normalise({"object": "page", "entry": [{"id": 5, "messaging": [None, 3, {"sender": {}}]}]})[0].reason in (
        IgnoreReason.UNKNOWN_TYPE,
        IgnoreReason.INCOMPLETE,
    )
