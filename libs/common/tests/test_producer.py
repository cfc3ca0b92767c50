"""The producer wrapper against the real broker: acknowledged publishes, timeouts, recovery from a stuck producer."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner

from switchboard_common.events import OutgoingRecord
from switchboard_common.producer import RECYCLE_AFTER_ERRORS, EventProducer, KafkaUnavailable, queue_records
from switchboard_devenv.kafka_testing import read_topic

pytestmark = pytest.mark.kafka


def record(topic: str, n: int) -> OutgoingRecord:
    return OutgoingRecord(topic, b"k", f"v{n}".encode())


async def test_a_producer_stuck_in_an_error_state_is_replaced_and_publishing_resumes(kafka_settings, kafka_topics):
    topic = kafka_topics("incidents.v1")
    producer = EventProducer(kafka_settings, client_id="stuck-test")
    await producer.start()
    try:
        stuck = producer.raw

        async def always_failing(*args, **kwargs):
            raise KafkaError("the producer is in an error state")

        stuck.send = always_failing  # type: ignore[method-assign]
        for n in range(RECYCLE_AFTER_ERRORS):
            with pytest.raises(KafkaUnavailable, match="error state"):
                await producer.publish([record(topic, n)])
        async with asyncio.timeout(30):
            while True:
                try:
                    await producer.publish([record(topic, 99)])
                    break
                except KafkaUnavailable:
                    await asyncio.sleep(0.2)
        assert producer.raw is not stuck
    finally:
        await producer.stop()
    assert [r.value for r in await read_topic(kafka_settings, topic, count=1)] == [b"v99"]


async def test_a_publish_kafka_cannot_take_in_time_raises_kafka_unavailable(kafka_settings):
    producer = EventProducer(kafka_settings, client_id="missing-topic-test")
    await producer.start()
    try:
        with pytest.raises(KafkaUnavailable):
            await producer.publish([record(f"{kafka_settings.topic_prefix}no.such.topic", 0)], timeout=1.0)
    finally:
        await producer.stop()


async def test_records_queued_as_batches_land_where_one_by_one_sends_would_in_the_same_order(
    kafka_settings, kafka_topics
):
    topic = kafka_topics("intake.messages.v1")  # several partitions
    keys = [f"conversation-{n % 37}".encode() for n in range(3000)]
    # 3,000 records of 1 KiB: several batches per partition, so full batches hand over to new ones
    records = [OutgoingRecord(topic, key, f"{n:06d}".encode() + b"x" * 1024) for n, key in enumerate(keys)]
    records.append(OutgoingRecord(topic, b"pinned", b"999999", partition=0))
    producer = EventProducer(kafka_settings, client_id="batches-test", transactional_id="batches-test")
    await producer.start()
    try:
        raw = producer.raw
        await raw.begin_transaction()
        await asyncio.gather(*await queue_records(raw, records))
        await raw.commit_transaction()
        partitions = sorted(await raw.partitions_for(topic))
    finally:
        await producer.stop()
    assert len(partitions) > 1
    landed = await read_topic(kafka_settings, topic, count=len(records), timeout=60)
    assert len(landed) == len(records)
    partitioner = DefaultPartitioner()
    for consumed in landed:
        expected = 0 if consumed.key == b"pinned" else partitioner(consumed.key, partitions, partitions)
        assert consumed.partition == expected
    for key in set(keys):
        in_order = [int(r.value[:6]) for r in sorted(landed, key=lambda r: r.offset) if r.key == key]
        assert in_order == sorted(in_order) and len(in_order) == keys.count(key)


async def test_a_broker_still_loading_its_metadata_at_start_is_a_connection_error_to_retry(
    kafka_settings, broker_still_loading
):
    # aiokafka's assertion (see the fixture) escaped every retry that expects Kafka's errors and ended the
    # classifier's loop.
    from aiokafka.errors import KafkaConnectionError

    broker_still_loading()
    producer = EventProducer(kafka_settings, client_id="starting-broker-test", transactional_id="starting-broker-t")
    with pytest.raises(KafkaConnectionError, match="not ready yet"):
        await producer.start()
    await producer.start()
    try:
        assert producer.raw is not None
    finally:
        await producer.stop()
