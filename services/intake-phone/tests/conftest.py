"""Fixtures: intake-phone running on a real port against the session's Kafka broker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
from phone_support import ACCOUNT_SID, AUTH_TOKEN, TwilioWebhooks
from pydantic import SecretStr

from switchboard_common.events import MESSAGE_RECEIVED
from switchboard_common.events.models import IntakeMessage
from switchboard_common.settings import ConsumerSettings, KafkaSettings
from switchboard_common.topics import TopicNames
from switchboard_devenv.asgi import running_app
from switchboard_devenv.kafka_testing import decode_all, read_topic
from switchboard_intake_phone.app import create_app
from switchboard_intake_phone.settings import (
    IntakePhoneSettings,
    PbxWebhookSettings,
    PhoneSettings,
    TwilioWebhookSettings,
)

PBX_SECRET = "pbx-test-secret"


@dataclass
class PhoneApp:
    url: str
    twilio: TwilioWebhooks
    client: httpx.AsyncClient
    settings: IntakePhoneSettings
    names: TopicNames

    async def messages(self, count: int, *, timeout: float = 60, settle: float = 0) -> list[IntakeMessage]:
        records = await read_topic(
            self.settings.kafka, self.names("intake.messages.v1"), count=count, timeout=timeout, settle=settle
        )
        return decode_all(records, MESSAGE_RECEIVED)


def phone_settings(kafka: KafkaSettings, group_instance: str, **phone: object) -> IntakePhoneSettings:
    timing: dict[str, object] = {
        "transcript_timeout": "3s",
        "recording_wait": "2s",
        "call_end_grace": "2s",
        "voicemail_window": "20s",
    }
    return IntakePhoneSettings(
        kafka=kafka,
        consumer=ConsumerSettings(instance_id=group_instance, poll_timeout_ms=100),
        phone=PhoneSettings(**(timing | phone)),
        twilio=TwilioWebhookSettings(auth_token=SecretStr(AUTH_TOKEN), account_sid=ACCOUNT_SID),
        pbx=PbxWebhookSettings(webhook_secret=SecretStr(PBX_SECRET)),
    )


async def wait_ready(client: httpx.AsyncClient, url: str, timeout: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if (await client.get(f"{url}/readyz")).status_code == 200:
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"intake-phone at {url} not ready")


PhoneAppFactory = Callable[..., AbstractAsyncContextManager[PhoneApp]]


@pytest.fixture
def start_phone_app(kafka_settings: KafkaSettings, kafka_topics: TopicNames) -> PhoneAppFactory:
    """Starts intake-phone (``settings`` overridable); several may run at once, or one after another."""
    instance = f"test-{uuid.uuid4().hex[:8]}"

    @asynccontextmanager
    async def start(settings: IntakePhoneSettings | None = None, **phone: object) -> AsyncIterator[PhoneApp]:
        chosen = settings or phone_settings(kafka_settings, instance, **phone)
        async with running_app(create_app(chosen)) as url, httpx.AsyncClient(timeout=30) as client:
            await wait_ready(client, url)
            yield PhoneApp(url, TwilioWebhooks(client, url), client, chosen, kafka_topics)

    return start


@pytest.fixture
async def phone_app(start_phone_app: PhoneAppFactory) -> AsyncIterator[PhoneApp]:
    async with start_phone_app() as app:
        yield app
