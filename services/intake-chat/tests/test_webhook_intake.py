"""Publishing a webhook's messages once: redeliveries on this replica never reach Kafka twice.

The publisher here is a stand-in whose acknowledgement the test controls (Kafka cannot be made slow
on demand); the real broker is used in test_social_webhooks_kafka.py.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from switchboard_common.events.models import Channel, CustomerIdentity, IntakeMessage, MessageText, ReplyTarget
from switchboard_common.producer import KafkaUnavailable
from switchboard_intake_chat.providers.normalised import Ignored, IgnoreReason
from switchboard_intake_chat.providers.webhook_intake import WebhookIntake


class ControlledPublisher:
    """Records what it was asked to publish; each publish waits for ``release`` (or fails with ``error``)."""

    def __init__(self) -> None:
        self.published: list[list[str]] = []
        self.release = asyncio.Event()
        self.release.set()
        self.error: Exception | None = None

    async def publish(self, messages):
        self.published.append([m.event_id for m in messages])
        await self.release.wait()
        if self.error is not None:
            raise self.error


def message(n: int) -> IntakeMessage:
    return IntakeMessage(
        event_id=f"event-{n}",
        channel=Channel.TELEGRAM,
        channel_account="telegram:test",
        received_at=datetime.now(UTC),
        conversation_id="telegram_c",
        customer=CustomerIdentity(key="cust_1", handle="1"),
        reply_to=ReplyTarget(channel=Channel.TELEGRAM, account="test", address="1"),
        text=MessageText(original="hi", plain="hi", new_content="hi"),
    )


async def test_a_message_published_once_is_not_published_again_when_redelivered():
    publisher = ControlledPublisher()
    intake = WebhookIntake(publisher, "telegram")  # type: ignore[arg-type]
    first = await intake.accept([message(1)])
    again = await intake.accept([message(1), message(2)])
    assert publisher.published == [["event-1"], ["event-2"]]
    assert (first.published, again.published, again.duplicates) == (1, 1, 1)


async def test_a_redelivery_while_the_first_is_still_waiting_for_kafka_joins_it():
    publisher = ControlledPublisher()
    publisher.release.clear()
    intake = WebhookIntake(publisher, "slack")  # type: ignore[arg-type]
    first = asyncio.create_task(intake.accept([message(1)]))
    await asyncio.sleep(0.05)
    retry = asyncio.create_task(intake.accept([message(1)]))
    await asyncio.sleep(0.05)
    publisher.release.set()
    await asyncio.gather(first, retry)
    assert publisher.published == [["event-1"]]


async def test_past_the_deadline_the_delivery_fails_retryably_and_the_retry_finds_it_published():
    publisher = ControlledPublisher()
    publisher.release.clear()
    intake = WebhookIntake(publisher, "slack", deadline=0.1)  # type: ignore[arg-type]
    with pytest.raises(KafkaUnavailable):
        await intake.accept([message(1)])
    publisher.release.set()
    await asyncio.sleep(0.05)
    retried = await intake.accept([message(1)])
    assert retried.duplicates == 1
    assert publisher.published == [["event-1"]]


async def test_a_failed_publish_is_forgotten_so_that_the_retry_publishes_again():
    publisher = ControlledPublisher()
    publisher.error = KafkaUnavailable("down")
    intake = WebhookIntake(publisher, "whatsapp")  # type: ignore[arg-type]
    with pytest.raises(KafkaUnavailable):
        await intake.accept([message(1)])
    publisher.error = None
    await intake.accept([message(1)])
    assert publisher.published == [["event-1"], ["event-1"]]


async def test_ignored_events_are_counted_and_never_published():
    publisher = ControlledPublisher()
    intake = WebhookIntake(publisher, "whatsapp")  # type: ignore[arg-type]
    accepted = await intake.accept([Ignored(IgnoreReason.DELIVERY_STATUS, "whatsapp/status/read")])
    assert accepted.recorded == 1 and publisher.published == []


async def test_memory_expires():
    now = [0.0]
    publisher = ControlledPublisher()
    intake = WebhookIntake(publisher, "telegram", remember_seconds=60, clock=lambda: now[0])  # type: ignore[arg-type]
    await intake.accept([message(1)])
    now[0] = 61
    await intake.accept([message(1)])
    assert publisher.published == [["event-1"], ["event-1"]]
