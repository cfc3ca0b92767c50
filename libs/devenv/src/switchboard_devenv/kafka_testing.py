"""Reading and writing topics from tests, benchmarks and tools, against a real broker."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from switchboard_common.events.envelope import ConsumedRecord, EventSpec, InvalidMessage, OutgoingRecord, decode_event
from switchboard_common.partition_reader import to_consumed, topic_partitions
from switchboard_common.producer import EventProducer, queue_records
from switchboard_common.settings import KafkaSettings
from switchboard_common.topics import TopicNames, TopicPlan, ensure_topics, load_topic_plan, plan_topics


async def create_plan_topics(settings: KafkaSettings, *, pipeline_partitions: int = 3) -> TopicNames:
    """Create the packaged topic plan under ``settings.topic_prefix`` (fewer partitions for speed)."""
    plan = load_topic_plan()
    plan = TopicPlan.model_validate(plan.model_dump(by_alias=True) | {"pipeline_partitions": pipeline_partitions})
    names = TopicNames(settings.topic_prefix)
    await ensure_topics(settings, plan_topics(plan, names))
    return names


async def publish(
    settings: KafkaSettings, records: Sequence[OutgoingRecord], *, in_one_transaction: bool = False
) -> None:
    """Write ``records`` and wait for Kafka's acknowledgement.

    ``in_one_transaction``: all of them in one transaction, so that read-committed consumers see none of
    them, then all at once (``settings.transaction_timeout_ms`` must cover writing them).
    """
    if not in_one_transaction:
        producer = EventProducer(settings, client_id="test-publisher")
        await producer.start()
        try:
            await producer.publish(records)
        finally:
            await producer.stop()
        return
    producer = EventProducer(
        settings, client_id="test-publisher", transactional_id=f"{settings.topic_prefix}publisher-{uuid.uuid4().hex}"
    )
    await producer.start()
    try:
        raw = producer.raw
        await raw.begin_transaction()
        for start in range(0, len(records), 2000):  # the futures of a bounded number of batches at a time
            await asyncio.gather(*await queue_records(raw, records[start : start + 2000]))
        await raw.commit_transaction()
    finally:
        await producer.stop()


async def read_topic(
    settings: KafkaSettings,
    topic: str,
    *,
    count: int | None = None,
    timeout: float = 20.0,
    until: Callable[[list[ConsumedRecord]], bool] | None = None,
    settle: float = 0.0,
) -> list[ConsumedRecord]:
    """Committed records of ``topic`` from its beginning: until ``count`` are read, ``until`` holds, or timeout.

    With ``settle`` the read goes on that many seconds after the condition held, so that a test can
    see that nothing *more* arrives (a duplicate, say).
    """
    consumer = AIOKafkaConsumer(
        enable_auto_commit=False,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        **settings.client_kwargs(),
    )
    await consumer.start()
    records: list[ConsumedRecord] = []
    try:
        deadline = time.monotonic() + timeout
        partitions = await topic_partitions(consumer, topic, wait=timeout)
        if not partitions:
            raise AssertionError(f"topic {topic} does not exist")
        consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
        await consumer.seek_to_beginning()
        settled_at: float | None = None
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for raws in batch.values():
                records.extend(to_consumed(r) for r in raws)
            done = (count is not None and len(records) >= count) or (until is not None and until(records))
            if done:
                if settle <= 0:
                    break
                settled_at = settled_at or time.monotonic()
                if time.monotonic() - settled_at >= settle:
                    break
        return records
    finally:
        await consumer.stop()


def decode_all(records: Sequence[ConsumedRecord], spec: EventSpec[Any]) -> list[Any]:
    """The typed data of every record (raises if any record is invalid)."""
    return [decode_event(r, [spec]).data for r in records]


def decode_valid(records: Sequence[ConsumedRecord], spec: EventSpec[Any]) -> list[Any]:
    """The typed data of the records that are valid events of ``spec``; the others are skipped."""
    found = []
    for record in records:
        try:
            found.append(decode_event(record, [spec]).data)
        except InvalidMessage:
            continue
    return found
