"""The producer wrapper against the real broker: acknowledged publishes, timeouts, recovery from a stuck producer."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.errors import KafkaError

from switchboard_common.events import OutgoingRecord
from switchboard_common.producer import RECYCLE_AFTER_ERRORS, EventProducer, KafkaUnavailable
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
