"""The raw-MIME inbound endpoint: authenticated, size-limited, answered only once Kafka stored the event."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator

import httpx
import pytest
from intake_email_samples import gbk_mail, out_of_office_mail

from switchboard_common.events import MESSAGE_RECEIVED
from switchboard_common.events.models import AutomatedReason
from switchboard_common.settings import HttpSettings, KafkaSettings
from switchboard_common.topics import TopicNames
from switchboard_devenv.asgi import running_app
from switchboard_devenv.kafka_testing import decode_all, read_topic
from switchboard_intake_email.app import create_app
from switchboard_intake_email.settings import EmailSettings, IntakeEmailSettings

pytestmark = [pytest.mark.kafka]

TOKEN = "inbound-test-token"


def settings(kafka: KafkaSettings, **email: object) -> IntakeEmailSettings:
    return IntakeEmailSettings(
        kafka=kafka,
        http=HttpSettings(),
        email=EmailSettings.model_validate({"inbound_token": TOKEN, "max_message_bytes": 64 * 1024, **email}),
    )


@pytest.fixture
async def inbound(kafka_settings: KafkaSettings, kafka_topics: TopicNames) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        running_app(create_app(settings(kafka_settings))) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        for _ in range(100):  # until the producer is connected
            if (await client.get("/readyz")).status_code == 200:
                break
            await asyncio.sleep(0.2)
        yield client


async def test_a_message_with_the_bearer_token_is_published_and_accepted(
    inbound: httpx.AsyncClient, kafka_settings: KafkaSettings, kafka_topics: TopicNames
):
    response = await inbound.post("/v1/email/inbound", content=gbk_mail(), headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 202, response.text
    [event] = decode_all(
        await read_topic(kafka_settings, kafka_topics("intake.messages.v1"), count=1), MESSAGE_RECEIVED
    )
    assert response.json()["event_id"] == event.event_id
    assert event.subject == "订单还没有发货" and event.channel_account == "email:inbound"


async def test_a_message_signed_with_hmac_is_accepted_and_its_automated_kind_reported(inbound: httpx.AsyncClient):
    body = out_of_office_mail()
    signature = hmac.new(TOKEN.encode(), body, hashlib.sha256).hexdigest()
    response = await inbound.post(
        "/v1/email/inbound", content=body, headers={"X-Switchboard-Signature": f"sha256={signature}"}
    )
    assert response.status_code == 202
    assert response.json()["automated"] == AutomatedReason.AUTO_REPLY.value


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"X-Switchboard-Signature": "sha256=00ff"}, {"Authorization": "Basic x"}],
)
async def test_without_valid_credentials_the_answer_is_401(inbound: httpx.AsyncClient, headers: dict[str, str]):
    response = await inbound.post("/v1/email/inbound", content=gbk_mail(), headers=headers)
    assert response.status_code == 401


async def test_a_message_over_the_size_limit_is_413(inbound: httpx.AsyncClient):
    body = b"From: a@example.com\r\nSubject: big\r\n\r\n" + b"x" * (65 * 1024)
    response = await inbound.post("/v1/email/inbound", content=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 413


async def test_a_body_that_is_not_a_message_is_422_and_an_empty_one_400(inbound: httpx.AsyncClient):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert (await inbound.post("/v1/email/inbound", content=b'{"json": true}', headers=auth)).status_code == 422
    assert (await inbound.post("/v1/email/inbound", content=b"  \r\n", headers=auth)).status_code == 400


async def test_when_kafka_does_not_acknowledge_the_answer_is_503_with_retry_after(kafka_settings: KafkaSettings):
    # No topics exist under this prefix (none are auto-created): the send cannot be acknowledged.
    kafka = kafka_settings.model_copy(update={"send_timeout_s": 2.0})
    async with (
        running_app(create_app(settings(kafka))) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        for _ in range(100):
            if (await client.get("/readyz")).status_code == 200:
                break
            await asyncio.sleep(0.2)
        response = await client.post(
            "/v1/email/inbound", content=gbk_mail(), headers={"Authorization": f"Bearer {TOKEN}"}
        )
    assert response.status_code == 503
    assert response.headers["Retry-After"]


async def test_without_a_token_the_endpoint_is_off(kafka_settings: KafkaSettings):
    app = create_app(IntakeEmailSettings(kafka=kafka_settings, email=EmailSettings(inbound_token=None)))
    async with running_app(app) as url, httpx.AsyncClient(base_url=url) as client:
        response = await client.post("/v1/email/inbound", content=gbk_mail(), headers={"Authorization": "Bearer x"})
    assert response.status_code == 404
