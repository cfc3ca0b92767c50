"""The producer wrapper against the real broker: acknowledged publishes, timeouts, recovery from a stuck producer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any

import pytest
from aiokafka.errors import KafkaError, OutOfOrderSequenceNumber
from aiokafka.partitioner import DefaultPartitioner
from prometheus_client import REGISTRY

from switchboard_common import producer as producer_module
from switchboard_common.events import OutgoingRecord
from switchboard_common.producer import (
    RECYCLE_AFTER_ERRORS,
    EventProducer,
    KafkaUnavailable,
    pace_metadata_refresh,
    queue_records,
)
from switchboard_common.settings import KafkaSettings
from switchboard_devenv.kafka_broker import KafkaBroker
from switchboard_devenv.kafka_testing import create_plan_topics, read_topic

pytestmark = pytest.mark.kafka


def record(topic: str, n: int) -> OutgoingRecord:
    return OutgoingRecord(topic, b"k", f"v{n}".encode())


async def publish_until_accepted(
    producer: EventProducer, item: OutgoingRecord, *, within: float = 30.0, pause: float = 0.2
) -> None:
    """Publish ``item`` again until Kafka acknowledges it (a replaced producer, a broker back), or fail."""
    async with asyncio.timeout(within):
        while True:
            try:
                await producer.publish([item], timeout=2.0)
                return
            except KafkaUnavailable:
                await asyncio.sleep(pause)


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
        await publish_until_accepted(producer, record(topic, 99))
        assert producer.raw is not stuck
    finally:
        await producer.stop()
    assert [r.value for r in await read_topic(kafka_settings, topic, count=1)] == [b"v99"]


async def test_an_idempotent_producer_whose_own_state_is_wrong_is_replaced_at_the_first_error(
    kafka_settings, kafka_topics
):
    # aiokafka's sender stops for good at OutOfOrderSequenceNumber and every later send raises a copy of
    # it: waiting for RECYCLE_AFTER_ERRORS of them only answered that many more customers with a 503.
    topic = kafka_topics("incidents.v1")
    producer = EventProducer(kafka_settings, client_id="out-of-step-test")
    await producer.start()
    calls = 0
    try:
        stuck = producer.raw

        async def out_of_step(*args: Any, **kwargs: Any) -> None:
            nonlocal calls
            calls += 1
            raise OutOfOrderSequenceNumber()

        stuck.send = out_of_step  # type: ignore[method-assign]
        await publish_until_accepted(producer, record(topic, 1), pause=0.05)
        assert producer.raw is not stuck
    finally:
        await producer.stop()
    assert calls == 1, "the first error of the producer's own state must replace it"
    assert [r.value for r in await read_topic(kafka_settings, topic, count=1)] == [b"v1"]


async def test_a_failed_metadata_refresh_pauses_doubling_up_to_a_limit_and_a_success_resets_it(monkeypatch):
    outcomes = iter([False, False, False, False, True, False])
    pauses: list[float] = []

    class Client:
        async def _metadata_update(self, cluster: object, topics: object) -> bool:
            return next(outcomes)

    real_sleep = asyncio.sleep

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(producer_module.asyncio, "sleep", sleep)
    client = Client()
    pace_metadata_refresh(client, (0.1, 0.3))  # type: ignore[arg-type]
    failures_before = REGISTRY.get_sample_value("switchboard_kafka_metadata_refresh_failures_total") or 0.0
    results = [await client._metadata_update(None, set()) for _ in range(6)]
    assert results == [False, False, False, False, True, False]
    assert pauses == [0.1, 0.2, 0.3, 0.3, 0.1]
    assert REGISTRY.get_sample_value("switchboard_kafka_metadata_refresh_failures_total") == failures_before + 5


@pytest.mark.slow
async def test_a_producer_does_not_spin_while_the_broker_is_down_and_resumes_once_it_is_back(caplog):
    # aiokafka's sender asked for a metadata refresh on every pass, and the refresh failed at once with the
    # broker down: thousands of "Unable connect to node" errors a second from one producer, before pacing.
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        pytest.skip("KAFKA_BOOTSTRAP_SERVERS names an external cluster: this test stops a broker of its own")
    with KafkaBroker() as broker:
        settings = KafkaSettings(bootstrap_servers=broker.bootstrap_servers, send_timeout_s=10.0)
        topic = (await create_plan_topics(settings))("intake.messages.v1")  # 3 partitions
        producer = EventProducer(settings, client_id="outage-test")
        await producer.start()
        publishing = None
        try:
            await producer.publish([OutgoingRecord(topic, b"k", b"before")])

            async def keep_publishing() -> None:
                # Sends in flight as the broker shuts down: its last metadata names no leader, which is
                # what set the sender spinning.
                while True:
                    with contextlib.suppress(KafkaUnavailable):
                        await producer.publish([OutgoingRecord(topic, b"k", b"during")], timeout=0.5)
                    await asyncio.sleep(0.02)

            publishing = asyncio.create_task(keep_publishing())
            await asyncio.sleep(0.5)
            with caplog.at_level(logging.ERROR, logger="aiokafka"):
                await asyncio.to_thread(broker.stop)
                caplog.clear()
                await asyncio.sleep(4)
                refused = [r for r in caplog.records if "Unable connect" in r.getMessage()]
            publishing.cancel()
            await asyncio.gather(publishing, return_exceptions=True)
            # Paced: 0.1 + 0.2 + 0.4 + 0.8 + 1 + 1 s between attempts; unpaced, 25,647 in one run.
            assert 1 <= len(refused) <= 30, f"{len(refused)} connection attempts in 4 s with the broker down"
            await asyncio.to_thread(broker.start)
            await publish_until_accepted(producer, OutgoingRecord(topic, b"k", b"after"), within=60)
        finally:
            if publishing is not None:
                publishing.cancel()
                await asyncio.gather(publishing, return_exceptions=True)
            await producer.stop()
        landed = await read_topic(settings, topic, timeout=30, until=lambda rs: any(r.value == b"after" for r in rs))
        assert {b"before", b"after"} <= {r.value for r in landed}


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
