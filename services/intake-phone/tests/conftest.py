"""Fixtures: intake-phone running on a real port against the session's Kafka broker."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest
from phone_support import PhoneApp, TwilioWebhooks, phone_settings, wait_ready

from switchboard_common.settings import KafkaSettings
from switchboard_common.topics import TopicNames
from switchboard_devenv.asgi import running_app
from switchboard_intake_phone.app import create_app
from switchboard_intake_phone.settings import (
    IntakePhoneSettings,
)

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
