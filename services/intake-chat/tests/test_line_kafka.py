"""LINE webhooks signed as LINE signs them, posted to intake-chat on a real port and broker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from switchboard_common.events import MESSAGE_RECEIVED
from switchboard_common.events.models import Channel, IntakeMessage, Language
from switchboard_common.settings import KafkaSettings
from switchboard_common.topics import TopicNames
from switchboard_devenv.asgi import running_app
from switchboard_devenv.kafka_testing import decode_all, read_topic
from switchboard_devenv.line_standin import line_signature, text_event, webhook_body
from switchboard_intake_chat.app import create_app
from switchboard_intake_chat.providers.line import LineSettings
from switchboard_intake_chat.settings import IntakeChatSettings, WebChatSettings

pytestmark = pytest.mark.kafka

SECRET = "line-channel-secret"


@pytest.fixture
async def line_url(kafka_settings: KafkaSettings, kafka_topics: TopicNames) -> AsyncIterator[str]:
    settings = IntakeChatSettings(
        kafka=kafka_settings,
        webchat=WebChatSettings(session_secret=SecretStr("s")),
        wechat=None,
        wecom=None,
        line=LineSettings(channel_secret=SecretStr(SECRET)),
    )
    async with running_app(create_app(settings)) as url:
        async with httpx.AsyncClient() as client:
            for _ in range(150):
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    break
                await asyncio.sleep(0.1)
        yield url


async def post(url: str, body: bytes, signature: str | None = None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if signature != "":
        headers["X-Line-Signature"] = signature or line_signature(SECRET, body)
    async with httpx.AsyncClient() as client:
        return await client.post(f"{url}/v1/line/webhook", content=body, headers=headers)


async def intake(kafka: KafkaSettings, names: TopicNames, **kwargs) -> list[IntakeMessage]:
    return decode_all(await read_topic(kafka, names("intake.messages.v1"), **kwargs), MESSAGE_RECEIVED)


async def test_a_signed_text_message_is_published_once_kafka_stored_it(line_url, kafka_settings, kafka_topics):
    body = webhook_body([text_event("我的包裹還沒到，請幫忙查詢", user_id="Ucust1", reply_token="rt-1")])
    response = await post(line_url, body)
    assert response.status_code == 200
    [message] = await intake(kafka_settings, kafka_topics, count=1)
    assert message.channel is Channel.LINE
    assert message.text.plain == "我的包裹還沒到，請幫忙查詢"
    assert message.language_hint is Language.ZH_HANT
    assert message.reply_to.metadata["reply_token"] == "rt-1"


async def test_a_redelivered_event_gives_one_event(line_url, kafka_settings, kafka_topics):
    event = text_event("退貨要怎麼申請？", user_id="Ucust2", webhook_event_id="01REDELIVERY")
    redelivered = {**event, "deliveryContext": {"isRedelivery": True}}
    for body in (webhook_body([event]), webhook_body([redelivered]), webhook_body([redelivered])):
        assert (await post(line_url, body)).status_code == 200
    assert len(await intake(kafka_settings, kafka_topics, count=1, settle=3.0)) == 1


async def test_a_wrong_or_missing_signature_is_refused_and_nothing_is_recorded(line_url, kafka_settings, kafka_topics):
    body = webhook_body([text_event("hello", user_id="Ucust3")])
    assert (await post(line_url, body, signature=line_signature("another-secret", body))).status_code == 403
    assert (await post(line_url, body, signature="")).status_code == 401
    assert await intake(kafka_settings, kafka_topics, timeout=3.0) == []


async def test_the_console_verification_request_without_events_is_answered(line_url):
    assert (await post(line_url, webhook_body([]))).status_code == 200


async def test_the_corpus_webhooks_are_answered_and_unknown_events_counted(
    line_url, corpus_dir: Path, kafka_settings, kafka_topics
):
    for sample in ("webhook_v3.json", "webhook_legacy.json"):
        body = (corpus_dir / "webhooks" / "line_messaging_api" / sample).read_bytes()
        assert (await post(line_url, body)).status_code == 200
    messages = await intake(kafka_settings, kafka_topics, until=lambda r: len(r) >= 1, settle=2.0)
    # The samples reuse one webhookEventId for every event, so they are one event to the gateway.
    assert len({m.event_id for m in messages}) == 1
    async with httpx.AsyncClient() as client:
        metrics = (await client.get(f"{line_url}/metrics")).text
    assert 'switchboard_intake_webhook_events_total{channel="line",outcome="unknown_type"}' in metrics
    assert 'switchboard_intake_webhook_events_total{channel="line",outcome="platform_notice"}' in metrics
