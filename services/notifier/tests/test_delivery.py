"""One delivery attempt: the send timeout for senders that wait on a provider, none for in-memory senders."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from notifier_support import Clock, message

from switchboard_common.events.models import AckKind, Language
from switchboard_notifier import delivery
from switchboard_notifier.channels import Delivery, DeliveryFailed, DeliveryRetryable, Notification
from switchboard_notifier.delivery import Deferred, Failed, Retrying, RetryPolicy, Sent, attempt_delivery

POLICY = RetryPolicy(send_timeout=timedelta(seconds=0.05), initial=timedelta(seconds=1), maximum=timedelta(minutes=1))


def notification() -> Notification:
    return Notification(
        notification_id="n1",
        kind=AckKind.ACK,
        message=message(),
        case_reference="SB-TST-REF-001",
        department=None,
        language=Language.EN,
        text="Hello",
    )


@dataclass
class InMemorySender:
    immediate = True
    log: list[str] = field(default_factory=list)
    error: Exception | None = None

    async def deliver(self, notification: Notification) -> Delivery:
        if self.error is not None:
            raise self.error
        self.log.append("delivered")
        return Delivery(provider_id=notification.notification_id)


class SlowSender:
    async def deliver(self, notification: Notification) -> Delivery:
        await asyncio.sleep(5)
        return Delivery()


async def test_a_sender_that_waits_on_a_provider_is_bounded_by_the_send_timeout():
    retry = Retrying()
    result = await attempt_delivery(SlowSender(), notification(), retry, POLICY, Clock())
    assert isinstance(result, Deferred)
    assert retry.attempts == 1 and retry.next_attempt_at is not None


async def test_an_in_memory_sender_is_called_without_a_timeout_task(monkeypatch):
    async def no_wait_for(*args, **kwargs):
        raise AssertionError("wait_for used for an in-memory sender")

    monkeypatch.setattr(delivery.asyncio, "wait_for", no_wait_for)
    clock = Clock()
    retry = Retrying(attempts=2, next_attempt_at=clock.now)
    result = await attempt_delivery(InMemorySender(), notification(), retry, POLICY, clock)
    assert isinstance(result, Sent) and result.delivery.provider_id == "n1" and result.at == clock.now
    assert (retry.attempts, retry.next_attempt_at) == (3, None)


async def test_an_in_memory_attempt_still_lets_attempts_started_with_it_run_first():
    sender = InMemorySender()

    async def other() -> None:
        sender.log.append("other attempt")

    await asyncio.gather(attempt_delivery(sender, notification(), Retrying(), POLICY, Clock()), other())
    assert sender.log == ["other attempt", "delivered"]


@pytest.mark.parametrize(
    ("error", "outcome"),
    [(DeliveryRetryable("busy", retry_after=30), Deferred), (DeliveryFailed("no such chat"), Failed)],
)
async def test_an_in_memory_sender_fails_as_any_other(error, outcome):
    retry = Retrying()
    result = await attempt_delivery(InMemorySender(error=error), notification(), retry, POLICY, Clock())
    assert isinstance(result, outcome)
    if outcome is Deferred:
        assert retry.next_attempt_at == Clock().now + timedelta(seconds=30)
