"""At most ``recipient_limit`` acknowledgements per address per window: no loop or flood is possible."""

from __future__ import annotations

from datetime import timedelta

import pytest
from notifier_support import (
    T0,
    Clock,
    RecordingSender,
    acks,
    intake_event,
    message,
    notifier_with,
    routed,
    routed_event,
)

from switchboard_common.events.models import AckOutcome, Channel, ReplyTarget
from switchboard_notifier.ack_state import PartitionState, SuppressReason
from switchboard_notifier.processor import NotifierProcessor

INTAKE, ROUTED = "p.intake.messages.v1", "p.intake.routed.v1"


def from_address(n: int, address: str = "loop@example.com", partition: int = 0):
    msg = message(n, conversation=f"email_conv{n}", channel=Channel.EMAIL)
    msg = msg.model_copy(update={"reply_to": ReplyTarget(channel=Channel.EMAIL, account="t", address=address)})
    return msg, partition


def make(clock: Clock, sender: RecordingSender, **overrides) -> NotifierProcessor:
    return notifier_with(clock, sender, **{"recipient_limit": 3, **overrides})


async def send(notifier: NotifierProcessor, n: int, offset: int, partition: int = 0, address: str = "loop@example.com"):
    msg, _ = from_address(n, address)
    outputs = list(await notifier.process(*intake_event(msg, INTAKE, offset, partition)))
    outputs += await notifier.process(*routed_event(routed(msg), ROUTED, offset, partition))
    return acks(outputs)


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


async def test_an_address_gets_no_more_than_the_limit_within_the_window_across_partitions(clock):
    sender = RecordingSender()
    notifier = make(clock, sender)
    outcomes = []
    for n in range(6):
        clock.advance(1)
        [ack] = await send(notifier, n, offset=n, partition=n % 3)
        outcomes.append((ack.outcome, ack.reason))
    assert [o for o, _ in outcomes[:3]] == [AckOutcome.SENT] * 3
    assert outcomes[3:] == [(AckOutcome.SUPPRESSED, SuppressReason.RECIPIENT_LIMIT.value)] * 3
    assert len(sender.sent) == 3


async def test_other_addresses_are_not_limited_by_one_noisy_address(clock):
    sender = RecordingSender()
    notifier = make(clock, sender)
    for n in range(4):
        await send(notifier, n, offset=n)
    [ack] = await send(notifier, 10, offset=10, address="someone.else@example.com")
    assert ack.outcome is AckOutcome.SENT


async def test_after_the_window_the_address_is_acknowledged_again(clock):
    sender = RecordingSender()
    notifier = make(clock, sender, recipient_window=timedelta(minutes=30))
    for n in range(4):
        await send(notifier, n, offset=n)
    clock.advance(31 * 60)
    [ack] = await send(notifier, 20, offset=20)
    assert ack.outcome is AckOutcome.SENT


async def test_the_limit_survives_a_restart_through_the_ack_records(clock):
    sender = RecordingSender()
    first = make(clock, sender)
    records = []
    for n in range(3):
        records.extend(await send(first, n, offset=n))
    restarted = make(clock, RecordingSender())
    state = PartitionState()
    for record in records:  # what on_assigned reads back from notify.acks.v1
        state.remember(record)
    restarted._states[0] = state
    [ack] = await send(restarted, 9, offset=9)
    assert ack.outcome is AckOutcome.SUPPRESSED and ack.reason == SuppressReason.RECIPIENT_LIMIT.value
    assert all(r.recipient_key and "@" not in r.recipient_key for r in records)
