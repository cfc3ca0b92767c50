"""Slack, WhatsApp, Messenger and Telegram webhooks on the running intake-chat, against the real broker.

Requests are signed exactly as each provider signs them and posted over HTTP; what reaches
intake.messages.v1 is read back from Kafka.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import jsonschema
import orjson
import pytest
from pydantic import SecretStr

from switchboard_common.events import MESSAGE_RECEIVED
from switchboard_common.events.models import Channel
from switchboard_common.schema_catalog import schema_root
from switchboard_common.settings import KafkaSettings
from switchboard_common.topics import TopicNames
from switchboard_devenv.asgi import running_app
from switchboard_devenv.chat_payloads import (
    messenger_text,
    meta_request,
    slack_message_event,
    slack_request,
    telegram_request,
    telegram_text_update,
    whatsapp_text,
)
from switchboard_devenv.chat_sim import load_secrets
from switchboard_devenv.chat_sim import main as chat_sim_main
from switchboard_devenv.kafka_testing import decode_all, read_topic
from switchboard_devenv.processes import free_port
from switchboard_intake_chat.app import create_app
from switchboard_intake_chat.settings import IntakeChatSettings, WebChatSettings

pytestmark = pytest.mark.kafka

SLACK_SECRET = "slack-signing-secret-for-tests"
META_SECRET = "meta-app-secret-for-tests"
VERIFY_TOKEN = "meta-verify-token"
TELEGRAM_SECRET = "telegram_secret-Token1"
SCHEMA = Path(schema_root()) / "json" / "switchboard.message.received.v1.json"


def settings_for(kafka: KafkaSettings) -> IntakeChatSettings:
    return IntakeChatSettings(kafka=kafka, webchat=WebChatSettings(session_secret=SecretStr("webchat-secret")))


@pytest.fixture
def provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SLACK_SECRET)
    monkeypatch.setenv("META_APP_SECRET", META_SECRET)
    monkeypatch.setenv("META_VERIFY_TOKEN", VERIFY_TOKEN)
    monkeypatch.setenv("TELEGRAM_SECRET_TOKEN", TELEGRAM_SECRET)
    monkeypatch.setenv("TELEGRAM_ACCOUNT", "supportbot")


async def ready(url: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            if (await client.get(f"{url}/readyz")).status_code == 200:
                return
            await asyncio.sleep(0.1)
    raise AssertionError("intake-chat never became ready")


@pytest.fixture
async def chat_url(provider_env, kafka_settings: KafkaSettings, kafka_topics: TopicNames) -> AsyncIterator[str]:
    async with running_app(create_app(settings_for(kafka_settings))) as url:
        await ready(url)
        yield url


async def post(url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(url, content=body, headers=headers)


async def intake_records(kafka: KafkaSettings, names: TopicNames, *, expect: int, settle: float = 2.0):
    """What intake.messages.v1 holds once ``expect`` records arrived and nothing more came for ``settle`` s."""
    return await read_topic(
        kafka, names("intake.messages.v1"), count=max(expect, 1), timeout=20 if expect else settle, settle=settle
    )


async def metric(url: str, channel: str, outcome: str) -> float:
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{url}/metrics")).text
    pattern = rf'switchboard_intake_webhook_events_total\{{channel="{channel}",outcome="{outcome}"\}} ([0-9.e+]+)'
    found = re.search(pattern, text)
    return float(found.group(1)) if found else 0.0


def slack_dm(text: str, ts: str = "1700000000.000100") -> dict:
    return slack_message_event(team="T0CUSTOMER", channel="D024BE91L", user="U2147483697", text=text, ts=ts)


# -- Slack -------------------------------------------------------------------------------------


async def test_a_signed_slack_message_is_on_the_intake_topic_once_even_when_slack_retries(
    chat_url, kafka_settings, kafka_topics
):
    payload = slack_dm("I was charged twice for order A123-4567")
    body, headers = slack_request(SLACK_SECRET, payload)
    first = await post(f"{chat_url}/v1/slack/events", body, headers)
    body, headers = slack_request(SLACK_SECRET, payload)  # Slack signs each retry afresh
    retry = await post(
        f"{chat_url}/v1/slack/events",
        body,
        {**headers, "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
    )
    assert first.status_code == 200 and retry.status_code == 200
    records = await intake_records(kafka_settings, kafka_topics, expect=1)
    [event] = decode_all(records, MESSAGE_RECEIVED)
    assert len(records) == 1
    assert event.channel is Channel.SLACK
    assert event.text.plain == "I was charged twice for order A123-4567"
    assert event.reply_to.thread == "1700000000.000100"
    assert records[0].key.decode() == event.conversation_id
    jsonschema.Draft202012Validator(orjson.loads(SCHEMA.read_bytes())).validate(orjson.loads(records[0].value))


async def test_slack_url_verification_is_answered_with_the_challenge(chat_url):
    body, headers = slack_request(SLACK_SECRET, {"token": "x", "challenge": "c-123", "type": "url_verification"})
    response = await post(f"{chat_url}/v1/slack/events", body, headers)
    assert response.status_code == 200 and response.json() == {"challenge": "c-123"}


@pytest.mark.parametrize("forgery", ["wrong_secret", "stale", "unsigned"])
async def test_a_slack_request_with_a_wrong_or_old_signature_gets_401_and_records_nothing(
    chat_url, kafka_settings, kafka_topics, forgery
):
    secret = "not-the-secret" if forgery == "wrong_secret" else SLACK_SECRET
    timestamp = int(time.time()) - 600 if forgery == "stale" else None
    body, headers = slack_request(secret, slack_dm("hello"), timestamp=timestamp)
    if forgery == "unsigned":
        headers.pop("X-Slack-Signature")
    response = await post(f"{chat_url}/v1/slack/events", body, headers)
    assert response.status_code == 401
    assert response.json()["detail"]
    assert await intake_records(kafka_settings, kafka_topics, expect=0) == []


async def test_slack_events_that_are_not_customer_messages_are_answered_200_and_counted_not_published(
    chat_url, kafka_settings, kafka_topics
):
    unknown_before = await metric(chat_url, "slack", "unknown_type")
    bots_before = await metric(chat_url, "slack", "bot")
    bot = slack_dm("automated notice")
    bot["event"]["bot_id"] = "B0OTHERBOT"
    for payload in ({"type": "brand_new_envelope", "team_id": "T0CUSTOMER"}, bot):
        body, headers = slack_request(SLACK_SECRET, payload)
        assert (await post(f"{chat_url}/v1/slack/events", body, headers)).status_code == 200
    assert await metric(chat_url, "slack", "unknown_type") == unknown_before + 1
    assert await metric(chat_url, "slack", "bot") == bots_before + 1
    assert await intake_records(kafka_settings, kafka_topics, expect=0) == []


async def test_every_corpus_slack_payload_posted_as_slack_sends_it_is_answered_200(chat_url, corpus_dir):
    folder = corpus_dir / "webhooks" / "slack_events_java-slack-sdk"
    samples = sorted(folder.rglob("*.json"))
    assert samples
    for path in samples:
        body, headers = slack_request(SLACK_SECRET, json.loads(path.read_text()))
        response = await post(f"{chat_url}/v1/slack/events", body, headers)
        assert response.status_code == 200, (path.name, response.text)


# -- WhatsApp and Messenger -------------------------------------------------------------------


async def test_the_meta_handshake_echoes_the_challenge_for_our_token_only(chat_url):
    async with httpx.AsyncClient() as client:
        ok = await client.get(
            f"{chat_url}/v1/whatsapp/webhook",
            params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"},
        )
        wrong = await client.get(
            f"{chat_url}/v1/messenger/webhook",
            params={"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1158201444"},
        )
    assert ok.status_code == 200 and ok.text == "1158201444"
    assert wrong.status_code == 403


async def test_a_signed_whatsapp_message_is_on_the_intake_topic_once_even_when_meta_redelivers(
    chat_url, kafka_settings, kafka_topics
):
    payload = whatsapp_text(
        phone_number_id="1122334455667", wa_id="8613800138000", text="我的快递三天没更新了", message_id="wamid.X1"
    )
    body, headers = meta_request(META_SECRET, payload)
    statuses = [(await post(f"{chat_url}/v1/whatsapp/webhook", body, headers)).status_code for _ in range(2)]
    assert statuses == [200, 200]
    records = await intake_records(kafka_settings, kafka_topics, expect=1)
    [event] = decode_all(records, MESSAGE_RECEIVED)
    assert len(records) == 1
    assert event.channel is Channel.WHATSAPP and event.text.plain == "我的快递三天没更新了"
    assert b"8613800138000" not in records[0].key


async def test_a_whatsapp_post_with_a_wrong_signature_gets_401_and_records_nothing(
    chat_url, kafka_settings, kafka_topics
):
    payload = whatsapp_text(phone_number_id="1", wa_id="8613800138000", text="hi", message_id="wamid.X2")
    body, headers = meta_request("not-the-app-secret", payload)
    response = await post(f"{chat_url}/v1/whatsapp/webhook", body, headers)
    assert response.status_code == 401
    assert await intake_records(kafka_settings, kafka_topics, expect=0) == []


async def test_whatsapp_delivery_statuses_are_answered_200_and_recorded_not_published(
    chat_url, kafka_settings, kafka_topics, corpus_dir
):
    sample = json.loads((corpus_dir / "webhooks/whatsapp_cloud_api_pywa/updates/message_status.json").read_text())
    before = await metric(chat_url, "whatsapp", "delivery_status")
    body, headers = meta_request(META_SECRET, sample["failed"])
    assert (await post(f"{chat_url}/v1/whatsapp/webhook", body, headers)).status_code == 200
    assert await metric(chat_url, "whatsapp", "delivery_status") == before + 1
    assert await intake_records(kafka_settings, kafka_topics, expect=0) == []


async def test_corpus_whatsapp_payloads_posted_as_meta_sends_them_are_all_answered_200(chat_url, corpus_dir):
    folder = corpus_dir / "webhooks/whatsapp_cloud_api_pywa/updates"
    for path in sorted(folder.glob("*.json")):
        for case, payload in json.loads(path.read_text()).items():
            body, headers = meta_request(META_SECRET, payload)
            response = await post(f"{chat_url}/v1/whatsapp/webhook", body, headers)
            assert response.status_code == 200, (path.name, case, response.text)


async def test_a_signed_messenger_message_is_on_the_intake_topic(chat_url, kafka_settings, kafka_topics):
    body, headers = meta_request(
        META_SECRET, messenger_text(page_id="PAGE1", psid="PSID9", text="Where is my refund?", mid="m_1")
    )
    assert (await post(f"{chat_url}/v1/messenger/webhook", body, headers)).status_code == 200
    [event] = decode_all(await intake_records(kafka_settings, kafka_topics, expect=1), MESSAGE_RECEIVED)
    assert event.channel is Channel.MESSENGER and event.reply_to.address == "PSID9"


# -- Telegram ----------------------------------------------------------------------------------


async def test_a_telegram_update_is_on_the_intake_topic_once_even_when_redelivered(
    chat_url, kafka_settings, kafka_topics
):
    update = telegram_text_update(update_id=501, chat_id=777, message_id=9, text="Where is my parcel?")
    body, headers = telegram_request(TELEGRAM_SECRET, update)
    statuses = [(await post(f"{chat_url}/v1/telegram/webhook", body, headers)).status_code for _ in range(2)]
    assert statuses == [200, 200]
    records = await intake_records(kafka_settings, kafka_topics, expect=1)
    [event] = decode_all(records, MESSAGE_RECEIVED)
    assert len(records) == 1
    assert event.channel is Channel.TELEGRAM and event.channel_account == "telegram:supportbot"


async def test_every_corpus_telegram_message_posted_as_an_update_is_answered_200(chat_url, corpus_dir):
    objects = json.loads((corpus_dir / "webhooks/telegram_bot_api_aiogram/dataset_objects.json").read_text())
    messages = [v for v in objects.values() if isinstance(v, dict) and "message_id" in v and "chat" in v]
    assert messages
    for n, message in enumerate(messages, start=1000):
        body, headers = telegram_request(TELEGRAM_SECRET, {"update_id": n, "message": message})
        response = await post(f"{chat_url}/v1/telegram/webhook", body, headers)
        assert response.status_code == 200, (message.get("message_id"), response.text)


async def test_a_telegram_update_with_a_wrong_secret_token_gets_401_and_records_nothing(
    chat_url, kafka_settings, kafka_topics
):
    body, headers = telegram_request(
        "wrong-token", telegram_text_update(update_id=1, chat_id=7, message_id=1, text="hi")
    )
    assert (await post(f"{chat_url}/v1/telegram/webhook", body, headers)).status_code == 401
    assert await intake_records(kafka_settings, kafka_topics, expect=0) == []


async def test_an_unknown_telegram_update_is_answered_200_and_recorded(chat_url, kafka_settings, kafka_topics):
    before = await metric(chat_url, "telegram", "unknown_type")
    body, headers = telegram_request(TELEGRAM_SECRET, {"update_id": 9, "something_added_in_2030": {"x": 1}})
    assert (await post(f"{chat_url}/v1/telegram/webhook", body, headers)).status_code == 200
    assert await metric(chat_url, "telegram", "unknown_type") == before + 1
    assert await intake_records(kafka_settings, kafka_topics, expect=0) == []


# -- configuration and Kafka outages ----------------------------------------------------------


async def test_providers_without_secrets_are_off_and_their_routes_are_404(monkeypatch, kafka_settings, kafka_topics):
    for name in ("SLACK_SIGNING_SECRET", "META_APP_SECRET", "META_VERIFY_TOKEN", "TELEGRAM_SECRET_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    async with running_app(create_app(settings_for(kafka_settings))) as url, httpx.AsyncClient() as client:
        statuses = [
            (await client.post(f"{url}{path}", content=b"{}")).status_code
            for path in ("/v1/slack/events", "/v1/whatsapp/webhook", "/v1/messenger/webhook", "/v1/telegram/webhook")
        ]
    assert statuses == [404, 404, 404, 404]


async def test_when_kafka_does_not_acknowledge_the_provider_is_told_to_retry(provider_env):
    unreachable = KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}", topic_prefix="down.", send_timeout_s=1.0)
    async with running_app(create_app(settings_for(unreachable))) as url:
        body, headers = slack_request(SLACK_SECRET, slack_dm("hello"))
        slack = await post(f"{url}/v1/slack/events", body, headers)
        body, headers = telegram_request(
            TELEGRAM_SECRET, telegram_text_update(update_id=1, chat_id=7, message_id=1, text="hi")
        )
        telegram = await post(f"{url}/v1/telegram/webhook", body, headers)
    for response in (slack, telegram):
        assert response.status_code == 503
        assert int(response.headers["Retry-After"]) >= 1


# -- the local simulator (switchboard-chat-sim) -------------------------------------------------


@pytest.mark.parametrize("provider", ["slack", "whatsapp", "messenger", "telegram"])
async def test_the_chat_simulator_sends_requests_intake_chat_accepts(
    provider, tmp_path, monkeypatch, kafka_settings, kafka_topics
):
    keys = load_secrets(tmp_path, create=True)
    for name, value in keys.items():
        monkeypatch.setenv(name, value)
    async with running_app(create_app(settings_for(kafka_settings))) as url:
        await ready(url)
        status = await asyncio.to_thread(
            chat_sim_main, [provider, "Where is my parcel?", "--url", url, "--data", str(tmp_path)]
        )
    assert status == 0
    [event] = decode_all(await intake_records(kafka_settings, kafka_topics, expect=1, settle=0), MESSAGE_RECEIVED)
    assert event.channel.value == provider and event.text.plain == "Where is my parcel?"
