"""The shared consume loop against the real broker: commit after outputs, dead letters, retries, restarts."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from switchboard_common.consume_loop import ConsumeLoop, Processor, RetryLater
from switchboard_common.events import CHAT_OUTBOUND, ChatOutbound, OutgoingRecord, encode_event
from switchboard_common.events.envelope import ConsumedRecord, Event, InvalidMessage
from switchboard_common.events.models import AckKind
from switchboard_common.settings import ConsumerSettings, KafkaSettings
from switchboard_common.topics import TopicNames
from switchboard_devenv.kafka_testing import publish, read_topic

pytestmark = pytest.mark.kafka

SOURCE = "test/consume-loop"


def chat(n: int, conversation: str = "conv-1", text: str | None = None) -> ChatOutbound:
    return ChatOutbound(
        message_id=f"m-{n}",
        conversation_id=conversation,
        kind=AckKind.REPLY,
        text=text if text is not None else f"message {n}",
        sent_at=datetime.now(UTC),
    )


def record(names: TopicNames, data: ChatOutbound) -> OutgoingRecord:
    return encode_event(
        CHAT_OUTBOUND,
        topic=names("chat.outbound.v1"),
        event_id=data.message_id,
        source=SOURCE,
        key=data.conversation_id,
        data=data,
    )


class Echo(Processor):
    """Copies each chat message to the incidents topic's DLQ-free sibling: case.updates (any topic will do)."""

    def __init__(self, names: TopicNames, out_topic: str) -> None:
        self.inputs = {names("chat.outbound.v1"): [CHAT_OUTBOUND]}
        self.names = names
        self.out_topic = out_topic
        self.seen: list[str] = []
        self.fail_transiently = 0
        self.explode_on: set[str] = set()
        self.attempts: dict[str, int] = {}

    async def process(self, event: Event[Any], record: ConsumedRecord) -> Sequence[OutgoingRecord]:
        data: ChatOutbound = event.data
        self.attempts[data.message_id] = self.attempts.get(data.message_id, 0) + 1
        if data.text == "invalid-for-business":
            raise InvalidMessage("text is not acceptable")
        if data.message_id in self.explode_on:
            raise ZeroDivisionError("bug in the processor")
        if self.fail_transiently > 0:
            self.fail_transiently -= 1
            raise RetryLater("dependency down")
        self.seen.append(data.message_id)
        copy = data.model_copy(update={"message_id": f"copy-{data.message_id}"})
        return [
            encode_event(
                CHAT_OUTBOUND,
                topic=self.out_topic,
                event_id=copy.message_id,
                source=SOURCE,
                key=copy.conversation_id,
                data=copy,
            )
        ]


def make_loop(processor: Processor, settings: KafkaSettings, names: TopicNames, group: str = "echo") -> ConsumeLoop:
    return ConsumeLoop(
        processor=processor,
        group_id=f"{settings.topic_prefix}{group}",
        kafka=settings,
        consumer=ConsumerSettings(instance_id="test-1", poll_timeout_ms=100),
        names=names,
        source=SOURCE,
    )


async def run_until(loop: ConsumeLoop, condition, timeout: float = 30.0) -> None:
    await loop.start()
    loop.start_background()
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.05)
    finally:
        await loop.stop()


@pytest.fixture(params=[True, False], ids=["exactly-once", "at-least-once"])
def delivery_mode(request, kafka_settings: KafkaSettings) -> KafkaSettings:
    return kafka_settings.model_copy(update={"exactly_once": request.param})


async def test_outputs_are_published_and_offsets_committed_so_a_restart_resumes_after_them(
    delivery_mode: KafkaSettings, kafka_topics: TopicNames
):
    out = kafka_topics("case.updates.v1")
    await publish(delivery_mode, [record(kafka_topics, chat(i)) for i in range(5)])
    first = Echo(kafka_topics, out)
    await run_until(make_loop(first, delivery_mode, kafka_topics), lambda: len(first.seen) == 5)

    await publish(delivery_mode, [record(kafka_topics, chat(i)) for i in range(5, 8)])
    second = Echo(kafka_topics, out)
    await run_until(make_loop(second, delivery_mode, kafka_topics), lambda: len(second.seen) == 3)

    assert second.seen == ["m-5", "m-6", "m-7"]
    copies = await read_topic(delivery_mode, out, count=8, settle=0.5)
    assert sorted(r.header("ce_id") for r in copies) == sorted(f"copy-m-{i}" for i in range(8))


async def test_the_lag_gauge_reads_zero_once_a_partition_written_in_transactions_is_caught_up(
    kafka_settings: KafkaSettings, kafka_topics: TopicNames
):
    # Each transaction ends with a commit marker, an offset of its own that no record is processed for:
    # measured from the last processed record, the gauge read 1 on every caught-up partition.
    from dataclasses import replace

    from prometheus_client import REGISTRY

    topic = kafka_topics("chat.outbound.v1")
    for partition, first in ((0, 0), (1, 3)):  # two transactions on partition 1: two markers
        batch = [replace(record(kafka_topics, chat(i)), partition=partition) for i in range(first, first + 3)]
        await publish(kafka_settings, batch, in_one_transaction=True)
    await publish(kafka_settings, [replace(record(kafka_topics, chat(6)), partition=1)], in_one_transaction=True)
    echo = Echo(kafka_topics, kafka_topics("case.updates.v1"))
    loop = make_loop(echo, kafka_settings, kafka_topics, group="lag")

    def lag(partition: int) -> float | None:
        labels = {"topic": topic, "partition": str(partition)}
        return REGISTRY.get_sample_value("switchboard_consumer_lag_records", labels)

    await loop.start()
    task = loop.start_background()
    try:
        async with asyncio.timeout(30):
            while len(echo.seen) < 7 or lag(0) is None or lag(1) is None or sum(loop._committed.values()) < 7:
                assert not task.done(), f"the loop ended: {task.exception()!r}"
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # nothing more is coming: the gauge stays where it is
        lags = {0: lag(0), 1: lag(1)}
    finally:
        await loop.stop()
    assert lags == {0: 0.0, 1: 0.0}


async def test_an_invalid_record_is_dead_lettered_with_the_reason_and_the_partition_flows_on(
    kafka_settings: KafkaSettings, kafka_topics: TopicNames
):
    source = kafka_topics("chat.outbound.v1")
    valid_headers = record(kafka_topics, chat(0)).headers
    garbage = OutgoingRecord(topic=source, key=b"conv-1", value=b"{not json", headers=valid_headers)
    wrong_type = OutgoingRecord(
        topic=source,
        key=b"conv-1",
        value=b"{}",
        headers=(("ce_specversion", b"1.0"), ("ce_type", b"something.else.v1"), ("ce_id", b"x"), ("ce_source", b"y")),
    )
    await publish(
        kafka_settings,
        [
            record(kafka_topics, chat(1)),
            garbage,
            wrong_type,
            record(kafka_topics, chat(2, text="invalid-for-business")),
            record(kafka_topics, chat(3)),
        ],
    )
    echo = Echo(kafka_topics, kafka_topics("case.updates.v1"))
    await run_until(make_loop(echo, kafka_settings, kafka_topics), lambda: echo.seen == ["m-1", "m-3"])

    dead = await read_topic(kafka_settings, f"{source}.dlq", count=3)
    reasons = [r.header("dlq_reason") for r in dead]
    assert reasons[0].startswith("value is not valid JSON")
    assert "unexpected ce_type 'something.else.v1'" in reasons[1]
    assert reasons[2] == "text is not acceptable"
    assert dead[0].value == b"{not json"
    assert [r.header("dlq_source_offset") for r in dead] == ["1", "2", "3"]
    assert all(r.header("dlq_source_topic") == source for r in dead)


async def test_a_record_that_keeps_raising_is_dead_lettered_after_the_configured_attempts(
    kafka_settings: KafkaSettings, kafka_topics: TopicNames
):
    await publish(kafka_settings, [record(kafka_topics, chat(i)) for i in range(3)])
    echo = Echo(kafka_topics, kafka_topics("case.updates.v1"))
    echo.explode_on = {"m-1"}
    await run_until(make_loop(echo, kafka_settings, kafka_topics), lambda: "m-2" in echo.seen)

    assert echo.attempts["m-1"] == 3
    dead = await read_topic(kafka_settings, kafka_topics("chat.outbound.v1") + ".dlq", count=1)
    assert "ZeroDivisionError('bug in the processor')" in dead[0].header("dlq_reason")
    copies = await read_topic(kafka_settings, kafka_topics("case.updates.v1"), count=2, settle=0.5)
    assert sorted(r.header("ce_id") for r in copies) == ["copy-m-0", "copy-m-2"]


async def test_a_transient_failure_is_retried_and_never_dead_lettered(
    kafka_settings: KafkaSettings, kafka_topics: TopicNames
):
    await publish(kafka_settings, [record(kafka_topics, chat(i)) for i in range(2)])
    echo = Echo(kafka_topics, kafka_topics("case.updates.v1"))
    echo.fail_transiently = 4
    await run_until(make_loop(echo, kafka_settings, kafka_topics), lambda: len(echo.seen) == 2)

    assert echo.seen == ["m-0", "m-1"]
    assert await read_topic(kafka_settings, kafka_topics("chat.outbound.v1") + ".dlq", timeout=1) == []


class SlowToRebuild(Echo):
    """A stateful processor whose rebuild takes a while and fails once."""

    def __init__(self, names: TopicNames, out_topic: str) -> None:
        super().__init__(names, out_topic)
        self.ready: set = set()
        self.failed_once = False

    async def on_assigned(self, partitions) -> None:
        await asyncio.sleep(0.5)
        if not self.failed_once:
            self.failed_once = True
            raise ConnectionError("could not read the state topic")
        self.ready |= set(partitions)

    async def on_revoked(self, partitions) -> None:
        self.ready -= set(partitions)

    async def process(self, event, record):
        from aiokafka import TopicPartition

        assert TopicPartition(record.topic, record.partition) in self.ready, "processed before its state was rebuilt"
        return await super().process(event, record)


async def test_no_record_is_processed_before_the_processor_rebuilt_its_state_and_a_failed_rebuild_is_retried(
    kafka_settings: KafkaSettings, kafka_topics: TopicNames
):
    await publish(kafka_settings, [record(kafka_topics, chat(i, conversation=f"c{i}")) for i in range(6)])
    slow = SlowToRebuild(kafka_topics, kafka_topics("case.updates.v1"))
    await run_until(make_loop(slow, kafka_settings, kafka_topics), lambda: len(slow.seen) == 6)
    assert slow.failed_once
    assert await read_topic(kafka_settings, kafka_topics("chat.outbound.v1") + ".dlq", timeout=1) == []


async def _run_until_committed(loop: ConsumeLoop, count: int, timeout: float = 60) -> None:
    """Run ``loop`` in the background until it has committed ``count`` offsets, failing if it ends; then stop it."""
    task = loop.start_background()
    try:
        async with asyncio.timeout(timeout):
            while sum(loop._committed.values()) < count:
                assert not task.done(), f"the loop ended: {task.exception()!r}"
                await asyncio.sleep(0.05)
    finally:
        await loop.stop()


async def _copies_exactly_once(settings: KafkaSettings, names: TopicNames, count: int) -> None:
    copies = await read_topic(settings, names("case.updates.v1"), count=count, settle=1.0)
    assert sorted(r.header("ce_id") for r in copies) == sorted(f"copy-m-{i}" for i in range(count))


async def test_a_replacement_producer_that_fails_to_start_oddly_does_not_end_the_loop(
    kafka_settings: KafkaSettings, kafka_topics: TopicNames, broker_still_loading, caplog
):
    # What a CI run saw: the broker away for a minute, the transaction could neither commit nor abort, the
    # replacement producer started while the broker was loading its metadata and aiokafka raised an
    # AssertionError, and the classifier's loop ended: 1,041 messages never routed.
    from aiokafka.errors import KafkaConnectionError

    settings = kafka_settings.model_copy(update={"exactly_once": True})
    await publish(settings, [record(kafka_topics, chat(i)) for i in range(4)])
    echo = Echo(kafka_topics, kafka_topics("case.updates.v1"))
    loop = make_loop(echo, settings, kafka_topics)
    await loop.start()
    first = loop._producer.raw

    async def broker_gone(*args, **kwargs):
        raise KafkaConnectionError("broker gone")

    first.commit_transaction = broker_gone  # type: ignore[method-assign]
    first.abort_transaction = broker_gone  # type: ignore[method-assign]
    starts = broker_still_loading()
    await _run_until_committed(loop, 4)
    assert starts.calls >= 2
    assert "could not restart the producer yet" in caplog.text
    await _copies_exactly_once(settings, kafka_topics, 4)


async def _drain_with_a_first_producer_whose_commit_raises(
    settings: KafkaSettings, names: TopicNames, error: Exception, count: int
) -> int:
    """Run the loop over ``count`` records while the loop's first producer fails every commit with ``error``
    (its aborts still work); returns how many commits that producer was asked for."""
    await publish(settings, [record(names, chat(i)) for i in range(count)])
    loop = make_loop(Echo(names, names("case.updates.v1")), settings, names)
    await loop.start()
    first = loop._producer.raw
    attempts = 0

    async def commit_fails():
        nonlocal attempts
        attempts += 1
        raise error

    first.commit_transaction = commit_fails  # type: ignore[method-assign]
    await _run_until_committed(loop, count)
    assert loop._producer.raw is not first
    await _copies_exactly_once(settings, names, count)
    return attempts


async def test_a_producer_out_of_step_with_the_broker_is_replaced_not_retried_forever(
    kafka_settings: KafkaSettings, kafka_topics: TopicNames, caplog
):
    # What a CI run saw after a broker restart: every transaction of the dispatcher failed with
    # OutOfOrderSequenceNumber for minutes (aiokafka keeps the producer's sequence numbers across an abort),
    # and 1,138 messages were never routed. The loop now replaces such a producer at the first such error.
    from aiokafka.errors import OutOfOrderSequenceNumber

    settings = kafka_settings.model_copy(update={"exactly_once": True})
    attempts = await _drain_with_a_first_producer_whose_commit_raises(
        settings, kafka_topics, OutOfOrderSequenceNumber(), 4
    )
    assert attempts == 1
    assert "the producer's state no longer matches the broker's" in caplog.text


async def test_a_producer_that_keeps_failing_is_replaced_after_a_few_batches(
    kafka_settings: KafkaSettings, kafka_topics: TopicNames, caplog
):
    from aiokafka.errors import KafkaError

    from switchboard_common.consume_loop import REPLACE_PRODUCER_AFTER

    settings = kafka_settings.model_copy(update={"exactly_once": True})
    attempts = await _drain_with_a_first_producer_whose_commit_raises(
        settings, kafka_topics, KafkaError("an error nobody expected"), 3
    )
    assert attempts == REPLACE_PRODUCER_AFTER
    assert "batches keep failing; the producer will be replaced" in caplog.text


async def test_a_failure_in_the_recovery_itself_is_retried_and_rewinds_before_the_next_batch(
    delivery_mode: KafkaSettings, kafka_topics: TopicNames, caplog
):
    await publish(delivery_mode, [record(kafka_topics, chat(i)) for i in range(6)])
    echo = Echo(kafka_topics, kafka_topics("case.updates.v1"))
    echo.fail_transiently = 1  # the first batch fails and is rewound ...
    loop = make_loop(echo, delivery_mode, kafka_topics)
    await loop.start()
    consumer = loop._consumer
    real_seek, real_seek_to_beginning = consumer.seek, consumer.seek_to_beginning
    broken = {"seeks": 1}

    def seek(tp, offset):
        if broken["seeks"]:
            broken["seeks"] -= 1
            raise RuntimeError("seek failed")
        real_seek(tp, offset)

    async def seek_to_beginning(*partitions):
        if broken["seeks"]:
            broken["seeks"] -= 1
            raise RuntimeError("seek failed")  # ... and the rewind itself fails once
        await real_seek_to_beginning(*partitions)

    consumer.seek = seek  # type: ignore[method-assign]
    consumer.seek_to_beginning = seek_to_beginning  # type: ignore[method-assign]
    await _run_until_committed(loop, 6)
    assert broken["seeks"] == 0
    assert "consume loop iteration failed" in caplog.text
    # Rewound before the next batch: not one record skipped, none processed twice.
    assert echo.seen == [f"m-{i}" for i in range(6)]
    await _copies_exactly_once(delivery_mode, kafka_topics, 6)
