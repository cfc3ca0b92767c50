"""The partition's timers: pending acknowledgements come up when due (in deadline order over time, in the
order they were added within one tick), SLA deadlines come up once, and the per-address history is
counted by time however the records arrive."""

from __future__ import annotations

import random
from datetime import timedelta

from aiokafka import TopicPartition
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

from switchboard_common.events.models import AckKind, AckOutcome, AckRecord, Channel, ReplyTarget
from switchboard_notifier.ack_state import PartitionState, PendingAck, SuppressReason
from switchboard_notifier.metrics import SLA_BREACHES
from switchboard_notifier.processor import recipient_key

INTAKE, ROUTED = "p.intake.messages.v1", "p.intake.routed.v1"


def entry(n: int, fallback_in: float, **extra) -> PendingAck:
    msg = message(n, conversation=f"wc_conv{n}")
    return PendingAck(message=msg, case_reference=f"REF-{n}", fallback_at=T0 + timedelta(seconds=fallback_in), **extra)


def ids(entries: list[PendingAck]) -> list[str]:
    return [e.case_reference for e in entries]


# -- PartitionState's timers ---------------------------------------------------------------------


def test_entries_come_up_in_deadline_order_as_time_passes_and_once():
    state = PartitionState()
    for n, due_in in [(1, 30), (2, 10), (3, 20), (4, 10), (5, 40)]:
        state.add_pending(entry(n, due_in))
    assert state.take_due(T0 + timedelta(seconds=9)) == []
    assert ids(state.take_due(T0 + timedelta(seconds=10))) == ["REF-2", "REF-4"]
    assert state.take_due(T0 + timedelta(seconds=15)) == []  # taken: not offered again
    assert ids(state.take_due(T0 + timedelta(seconds=30))) == ["REF-1", "REF-3"]  # within a tick: order added
    assert ids(state.take_due(T0 + timedelta(hours=1))) == ["REF-5"]


def test_an_entry_still_pending_after_its_attempt_comes_up_again_only_when_scheduled():
    state = PartitionState()
    pending = entry(1, 10)
    state.add_pending(pending)
    [taken] = state.take_due(T0 + timedelta(seconds=10))
    assert state.take_due(T0 + timedelta(seconds=11)) == []
    pending.retry.next_attempt_at = T0 + timedelta(seconds=14)  # the attempt was deferred
    state.schedule(taken)
    assert state.take_due(T0 + timedelta(seconds=13)) == []
    assert state.take_due(T0 + timedelta(seconds=14)) == [pending]


def test_a_routed_entry_is_due_at_once_and_a_backoff_wins_over_the_fallback():
    state = PartitionState()
    pending = entry(1, 3600)
    state.add_pending(pending)
    pending.routed = routed(pending.message)
    state.schedule(pending)
    assert state.take_due(T0) == [pending]
    pending.retry.next_attempt_at = T0 + timedelta(seconds=5)
    state.schedule(pending)
    assert state.take_due(T0 + timedelta(seconds=4)) == []
    assert state.take_due(T0 + timedelta(seconds=5)) == [pending]


def test_a_later_due_time_set_without_scheduling_is_still_respected():
    state = PartitionState()
    pending = entry(1, 10)
    state.add_pending(pending)
    pending.retry.next_attempt_at = T0 + timedelta(seconds=20)  # no schedule(): the queue is out of date
    assert state.take_due(T0 + timedelta(seconds=10)) == []
    assert state.take_due(T0 + timedelta(seconds=20)) == [pending]


def test_handled_entries_never_come_up_and_a_new_entry_for_the_same_message_does():
    state = PartitionState()
    first = entry(1, 10)
    state.add_pending(first, sla_deadline=T0 + timedelta(seconds=30))
    state.drop_pending(first.message.event_id)
    assert state.take_due(T0 + timedelta(hours=1)) == []
    assert state.take_breaching(T0 + timedelta(hours=1)) == []
    second = entry(1, 50)
    state.add_pending(second)
    assert state.take_due(T0 + timedelta(hours=1)) == [second]


def test_sla_deadlines_come_up_strictly_after_the_deadline_once_in_the_order_added():
    state = PartitionState()
    late, later, answered = entry(1, 10), entry(2, 10), entry(3, 10)
    state.add_pending(later, sla_deadline=T0 + timedelta(seconds=20))
    state.add_pending(late, sla_deadline=T0 + timedelta(seconds=30))
    state.add_pending(answered, sla_deadline=T0 + timedelta(seconds=5))
    state.drop_pending(answered.message.event_id)
    assert state.take_breaching(T0 + timedelta(seconds=20)) == []
    assert state.take_breaching(T0 + timedelta(seconds=31)) == [later, late]
    assert state.take_breaching(T0 + timedelta(seconds=60)) == []


def test_what_the_timers_hold_stays_bounded_by_what_is_pending():
    state = PartitionState()
    for n in range(20_000):
        pending = entry(n, 10)
        state.add_pending(pending, sla_deadline=T0 + timedelta(seconds=30))
        pending.routed = routed(pending.message)
        state.schedule(pending)
        if n % 100:
            state.drop_pending(pending.message.event_id)
    assert len(state.pending) == 200
    assert len(state.timers) + len(state.sla_timers) <= 4 * len(state.pending) + 1024 + 3
    assert len(state.take_due(T0)) == 200


def sent_record(n: int, key: str, at_s: float) -> AckRecord:
    return AckRecord(
        event_id=f"a{n}",
        message_event_id=f"m{n}",
        conversation_id=f"c{n}",
        channel=Channel.EMAIL,
        kind=AckKind.ACK,
        outcome=AckOutcome.SENT,
        recipient_key=key,
        received_at=T0,
        recorded_at=T0 + timedelta(seconds=at_s),
        latency_ms=0,
        sla_seconds=30,
        sla_met=True,
    )


def test_recipient_counts_are_by_time_whatever_order_the_records_come_in():
    state = PartitionState()
    for n, at in enumerate([50, 10, 30, 70, 20, 60]):  # written by other replicas: not in time order
        state.remember(sent_record(n, "k1", at))
    state.remember(sent_record(99, "k2", 40))
    assert state.recipient_sent_at["k1"] == sorted(state.recipient_sent_at["k1"])
    counts = [state.sent_to_recipient_since("k1", T0 + timedelta(seconds=s)) for s in (0, 20, 21, 70, 71)]
    assert counts == [6, 5, 4, 1, 0]
    assert state.sent_to_recipient_since("k2", T0) == 1
    assert state.sent_to_recipient_since("nobody", T0) == 0
    state.forget_before(T0 + timedelta(seconds=30))
    assert state.sent_to_recipient_since("k1", T0) == 4


# -- the processor ---------------------------------------------------------------------------------


make = notifier_with


async def test_generic_acks_go_out_tick_by_tick_in_deadline_order_across_channels_and_partitions():
    clock = Clock(T0)
    sender = RecordingSender()
    notifier = make(clock, sender, sla={"webchat": "30s", "email": "60s"})
    plan = [(Channel.EMAIL, 0), (Channel.WEBCHAT, 1), (Channel.EMAIL, 2), (Channel.WEBCHAT, 0)]
    for n, (channel, partition) in enumerate(plan):
        msg = message(n, conversation=f"conv{n}", channel=channel, received_at=T0 + timedelta(seconds=n))
        await notifier.process(*intake_event(msg, INTAKE, n, partition))
    sent_by_second: dict[int, list[str]] = {}
    for second in range(0, 40):
        clock.now = T0 + timedelta(seconds=second)
        for ack in acks(list(await notifier.tick())):
            sent_by_second.setdefault(second, []).append(ack.conversation_id)
    # Fallback at half the SLA after receipt: webchat at 15s (+1, +3), email at 30s (+0, +2).
    assert sent_by_second == {16: ["conv1"], 18: ["conv3"], 30: ["conv0"], 32: ["conv2"]}
    assert all(notifier.commit_floor(TopicPartition(INTAKE, p)) is None for p in range(3))


async def test_an_entry_backing_off_past_its_sla_is_counted_as_a_breach_once(monkeypatch):
    monkeypatch.setattr(random, "uniform", lambda low, high: high)  # no jitter: the retry is due at 60 s
    clock = Clock(T0)
    sender = RecordingSender(fail_retryable=1)
    notifier = make(clock, sender, sla={"webchat": "30s"}, retry_initial=timedelta(seconds=60))
    msg = message(1, conversation="wc_breach")
    before = SLA_BREACHES.labels("webchat")._value.get()
    await notifier.process(*intake_event(msg, INTAKE, 0))
    assert await notifier.process(*routed_event(routed(msg), ROUTED, 0)) == []  # deferred for 60 s
    clock.advance(30)
    await notifier.tick()
    assert SLA_BREACHES.labels("webchat")._value.get() == before
    clock.advance(0.5)
    await notifier.tick()
    clock.advance(1)
    await notifier.tick()
    assert SLA_BREACHES.labels("webchat")._value.get() == before + 1
    clock.advance(60)
    [ack] = acks(list(await notifier.tick()))
    assert (ack.outcome, ack.sla_met, ack.attempts) == (AckOutcome.SENT, False, 2)
    assert SLA_BREACHES.labels("webchat")._value.get() == before + 1


async def test_the_recipient_limit_holds_for_each_of_many_recipients_across_partitions():
    clock = Clock(T0)
    sender = RecordingSender()
    notifier = make(clock, sender, recipient_limit=3)
    outcomes: dict[str, list[AckOutcome]] = {}
    offset = 0
    for round_ in range(5):
        for r in range(200):
            address = f"customer{r}@example.com"
            msg = message(round_ * 1000 + r, conversation=f"email_{r}_{round_}", channel=Channel.EMAIL)
            msg = msg.model_copy(update={"reply_to": ReplyTarget(channel=Channel.EMAIL, account="t", address=address)})
            partition = (r + round_) % 4
            outputs = list(await notifier.process(*intake_event(msg, INTAKE, offset, partition)))
            outputs += await notifier.process(*routed_event(routed(msg), ROUTED, offset, partition))
            offset += 1
            [ack] = acks(outputs)
            assert ack.recipient_key == recipient_key(msg)
            reason = ack.reason if ack.outcome is AckOutcome.SUPPRESSED else None
            assert reason in (None, SuppressReason.RECIPIENT_LIMIT.value)
            outcomes.setdefault(address, []).append(ack.outcome)
        clock.advance(60)
    assert len(outcomes) == 200
    assert all(o == [AckOutcome.SENT] * 3 + [AckOutcome.SUPPRESSED] * 2 for o in outcomes.values())
    assert len(sender.sent) == 600


def _brute_floor(state: PartitionState, *, routed: bool) -> int | None:
    offsets = [p.routed_offset if routed else p.intake_offset for p in state.pending.values()]
    present = [o for o in offsets if o is not None]
    return min(present) if present else None


def test_the_commit_floor_is_always_the_lowest_offset_a_pending_entry_holds():
    rng = random.Random(7)
    state = PartitionState()
    entries = {n: entry(n, fallback_in=60) for n in range(400)}
    for step in range(6000):
        n = rng.randrange(400)
        e, action = entries[n], rng.random()
        if action < 0.3 and not state.is_pending(e):
            e.intake_offset = rng.choice([None, rng.randrange(10_000)])  # offsets given with the entry
            e.routed_offset = None
            state.add_pending(e)
        elif action < 0.6 and state.is_pending(e):
            routed = rng.random() < 0.5
            state.hold_offset(e, rng.randrange(10_000), routed=routed)  # a redelivery may move it either way
        elif action < 0.8:
            state.drop_pending(e.message.event_id)
        elif action < 0.9 and state.is_pending(e):
            entries[n] = entry(n, fallback_in=60)  # the same message held again by a new entry
            state.drop_pending(e.message.event_id)
            state.add_pending(entries[n])
        for routed in (False, True):
            assert state.floor(routed=routed) == _brute_floor(state, routed=routed), step
    assert len(state.held[0]) <= 4 * len(state.pending) + 1024 + 1  # holds stay bounded
