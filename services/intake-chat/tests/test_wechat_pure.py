"""WeChat and WeCom callbacks without I/O: the crypto scheme, safe XML, normalisation of every corpus sample."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import pytest

from switchboard_common.events.models import Channel, IntakeMessage, Language
from switchboard_devenv.wechat_standin import encrypt, new_encoding_aes_key, push_xml, sign
from switchboard_intake_chat.providers.normalised import Ignored, IgnoreReason
from switchboard_intake_chat.providers.wechat import (
    Account,
    KfNotification,
    WeChatPayloadError,
    normalise_kf_message,
    normalise_push,
    parse_xml,
)
from switchboard_intake_chat.providers.wechat_crypto import (
    WeChatCryptoError,
    aes_key,
    decrypt,
    signature,
    signature_matches,
)

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
OA = Account(channel=Channel.WECHAT, account="wx-app", language=Language.ZH_HANS)
WECOM = Account(channel=Channel.WECOM, account="ww-corp", language=Language.ZH_HANS)

# The URL-verification example WeCom publishes with its callback documentation and sample code.
DOC_TOKEN = "QDG6eK"
DOC_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
DOC_CORP_ID = "wx5823bf96d3bd56c7"
DOC_SIGNATURE = "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3"
DOC_TIMESTAMP, DOC_NONCE = "1409659589", "263014780"
DOC_ECHOSTR = "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="


def test_the_documentation_example_verifies_and_decrypts_to_its_echostr():
    assert signature_matches(DOC_SIGNATURE, DOC_TOKEN, DOC_TIMESTAMP, DOC_NONCE, DOC_ECHOSTR)
    assert decrypt(aes_key(DOC_KEY), DOC_ECHOSTR, DOC_CORP_ID) == b"1616140317555161061"


def test_the_documentation_example_is_refused_for_another_corp():
    with pytest.raises(WeChatCryptoError, match="another AppID"):
        decrypt(aes_key(DOC_KEY), DOC_ECHOSTR, "wx0000000000000000")


def test_a_signature_with_another_token_or_timestamp_does_not_match():
    assert not signature_matches(DOC_SIGNATURE, "other", DOC_TIMESTAMP, DOC_NONCE, DOC_ECHOSTR)
    assert not signature_matches(DOC_SIGNATURE, DOC_TOKEN, "1409659590", DOC_NONCE, DOC_ECHOSTR)
    assert not signature_matches(None, DOC_TOKEN, DOC_TIMESTAMP, DOC_NONCE)


def test_the_plain_signature_is_sha1_of_the_sorted_values():
    assert signature("token", "1", "2") == sign("token", "1", "2")
    assert signature("b", "a", "c") == signature("c", "b", "a")


def test_a_message_encrypted_as_wechat_does_decrypts_to_the_xml():
    key = new_encoding_aes_key()
    xml = "<xml><Content><![CDATA[你好，我的订单没到]]></Content></xml>".encode()
    for size in (0, 11, 12, 31, 32, 100):  # every padding length, including a whole block of padding
        message = xml + b" " * size
        assert decrypt(aes_key(key), encrypt(key, message, "wx-app"), "wx-app") == message


def test_a_ciphertext_under_another_key_is_refused():
    ciphertext = encrypt(new_encoding_aes_key(), b"<xml/>", "wx-app", random16=b"\x00" * 16)
    with pytest.raises(WeChatCryptoError):
        decrypt(aes_key(new_encoding_aes_key()), ciphertext, "wx-app")


@pytest.mark.parametrize(
    ("ciphertext", "reason"),
    [("not base64!", "base64"), (base64.b64encode(b"short").decode(), "AES blocks"), ("", "base64|AES blocks")],
)
def test_malformed_ciphertexts_are_refused_with_a_reason(ciphertext, reason):
    with pytest.raises(WeChatCryptoError, match=reason):
        decrypt(aes_key(DOC_KEY), ciphertext, None)


def test_an_encoding_aes_key_must_have_43_base64_characters():
    with pytest.raises(WeChatCryptoError):
        aes_key(DOC_KEY[:-1])


def test_xml_with_a_dtd_or_entities_is_refused():
    bomb = b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><xml><C>&b;</C></xml>'
    with pytest.raises(WeChatPayloadError, match="forbidden"):
        parse_xml(bomb)


def test_xml_that_is_not_a_push_is_refused():
    with pytest.raises(WeChatPayloadError, match="not well-formed"):
        parse_xml(b"<xml><unclosed></xml>")
    with pytest.raises(WeChatPayloadError, match="root element"):
        parse_xml(b"<html></html>")


def test_a_text_message_becomes_an_intake_message_keyed_by_msgid():
    fields = parse_xml(
        push_xml(
            {
                "ToUserName": "gh_1",
                "FromUserName": "o-user",
                "CreateTime": 1348831860,
                "MsgType": "text",
                "Content": "我的快递还没到",
                "MsgId": 1234567890123456,
            }
        )
    )
    message = normalise_push(fields, OA, NOW)
    assert isinstance(message, IntakeMessage)
    assert message.text.plain == "我的快递还没到"
    assert message.channel is Channel.WECHAT and message.channel_account == "wx-app"
    assert message.reply_to.address == "o-user" and message.customer.handle == "o-user"
    assert "o-user" not in message.conversation_id and message.conversation_id.startswith("wechat_")
    assert message.sent_at == datetime.fromtimestamp(1348831860, UTC)
    assert message.language_hint is Language.ZH_HANS
    again = normalise_push(fields, OA, NOW.replace(minute=1))
    assert isinstance(again, IntakeMessage) and again.event_id == message.event_id


def test_a_voice_message_carries_the_speech_recognition_as_its_text():
    fields = parse_xml(
        push_xml(
            {
                "FromUserName": "o-user",
                "CreateTime": 1,
                "MsgType": "voice",
                "MediaId": "m1",
                "Format": "amr",
                "Recognition": "我要退货",
                "MsgId": 7,
            }
        )
    )
    message = normalise_push(fields, OA, NOW)
    assert isinstance(message, IntakeMessage)
    assert message.text.plain == "我要退货"
    assert [a.content_type for a in message.attachments] == ["audio/amr"]


def test_events_without_msgid_are_identified_by_sender_time_and_event():
    subscribe = {"FromUserName": "o-user", "CreateTime": "1", "MsgType": "event", "Event": "subscribe"}
    first = normalise_push(subscribe, OA, NOW)
    second = normalise_push({**subscribe, "Event": "unsubscribe"}, OA, NOW)
    assert isinstance(first, Ignored) and isinstance(second, Ignored)
    assert first.reason is IgnoreReason.PLATFORM_NOTICE and first.kind == "event:subscribe"
    assert first.provider_ids["event_id"] != second.provider_ids["event_id"]
    assert normalise_push(subscribe, OA, NOW) == first


def test_a_wecom_kf_notification_asks_for_a_pull():
    fields = {"MsgType": "event", "Event": "kf_msg_or_event", "Token": "tok", "OpenKfId": "wk1", "CreateTime": "1"}
    assert normalise_push(fields, WECOM, NOW) == KfNotification(token="tok", open_kfid="wk1")


def test_every_wechat_corpus_sample_is_normalised_or_recorded(corpus_dir: Path):
    samples = sorted((corpus_dir / "webhooks" / "wechat_official_account_wechatpy" / "xml").glob("*.xml"))
    assert len(samples) >= 60
    published: dict[str, str] = {}
    for path in samples:
        account = WECOM if path.name.startswith("work_") else OA
        outcome = normalise_push(parse_xml(path.read_bytes()), account, NOW)
        msg_type = path.name.split("_")[1].split("__")[0]
        if isinstance(outcome, IntakeMessage):
            published[path.name] = msg_type
        else:
            assert isinstance(outcome, Ignored), path.name
            assert outcome.reason in (IgnoreReason.PLATFORM_NOTICE, IgnoreReason.UNKNOWN_TYPE), (path.name, outcome)
    assert set(published.values()) == {"text", "image", "voice", "video", "location", "link"}
    assert all(not name.startswith(("mp_event", "work_event")) for name in published)


def test_the_corpus_location_and_link_samples_read_as_text(corpus_dir: Path):
    xml = corpus_dir / "webhooks" / "wechat_official_account_wechatpy" / "xml"
    location = normalise_push(parse_xml((xml / "mp_location__test_parse_location_message_0.xml").read_bytes()), OA, NOW)
    link = normalise_push(parse_xml((xml / "mp_link__test_parse_link_message_0.xml").read_bytes()), OA, NOW)
    assert isinstance(location, IntakeMessage) and location.text.plain == "位置信息 (23.134521, 113.358803)"
    assert isinstance(link, IntakeMessage) and link.text.plain.startswith("公众平台官网链接")


def kf(origin: int = 3, msgtype: str = "text", **extra) -> dict:
    body = {"text": {"content": "订单什么时候发货？"}} if msgtype == "text" else {}
    return {
        "msgid": "m1",
        "open_kfid": "wk1",
        "external_userid": "wm-customer",
        "send_time": 1700000000,
        "origin": origin,
        "msgtype": msgtype,
        **body,
        **extra,
    }


def test_a_kf_text_from_the_customer_is_published_with_its_service_account_for_the_reply():
    message = normalise_kf_message(kf(), "ww-corp", Language.ZH_HANS, 4000, NOW)
    assert isinstance(message, IntakeMessage)
    assert message.channel is Channel.WECOM and message.text.plain == "订单什么时候发货？"
    assert message.reply_to.address == "wm-customer"
    assert message.reply_to.metadata == {"open_kfid": "wk1"}


def test_kf_system_events_and_our_own_servicers_messages_are_recorded_only():
    event = normalise_kf_message(kf(4, "event", event={"event_type": "enter_session"}), "c", Language.ZH_HANS, 9, NOW)
    own = normalise_kf_message(kf(5), "c", Language.ZH_HANS, 9, NOW)
    assert isinstance(event, Ignored) and event.kind == "kf:event:enter_session"
    assert isinstance(own, Ignored) and own.reason is IgnoreReason.STAFF


def test_an_unknown_kf_message_type_is_recorded_as_unknown():
    outcome = normalise_kf_message(kf(msgtype="channels_shop_product"), "c", Language.ZH_HANS, 9, NOW)
    assert isinstance(outcome, Ignored) and outcome.reason is IgnoreReason.UNKNOWN_TYPE
