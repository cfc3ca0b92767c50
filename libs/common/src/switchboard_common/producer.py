"""The one producer wrapper: idempotent, acks=all, a timeout on every send, batches sent together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import (
    IllegalStateError,
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    InvalidTxnState,
    KafkaConnectionError,
    KafkaError,
    OutOfOrderSequenceNumber,
    UnknownProducerId,
)

from switchboard_common.events.envelope import OutgoingRecord
from switchboard_common.metrics import (
    KAFKA_METADATA_REFRESH_FAILURES,
    KAFKA_PRODUCE_FAILURES,
    KAFKA_PRODUCE_SECONDS,
    KAFKA_PRODUCED,
    KAFKA_PRODUCER_RECYCLES,
)
from switchboard_common.partitioning import PARTITIONER
from switchboard_common.settings import KafkaSettings

log = logging.getLogger(__name__)

RECYCLE_AFTER_ERRORS = 20
"""Kafka errors in a row (not timeouts) after which the producer is replaced."""
PRODUCER_STATE_ERRORS: tuple[type[Exception], ...] = (
    OutOfOrderSequenceNumber,
    UnknownProducerId,
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    InvalidTxnState,
    IllegalStateError,
)
"""Errors after which the producer's own state (sequence numbers, producer id and epoch, transaction state)
is wrong: aiokafka keeps it across an abort, so every later batch would fail the same way. A CI run saw it:
after a broker restart every transaction of the dispatcher failed with OutOfOrderSequenceNumber, for
minutes, and 1,138 messages were never routed. An idempotent producer's sender stops for good at such an
error, and every later send raises a copy of it."""
METADATA_RETRY_BACKOFF_S = (0.1, 1.0)
"""First and longest pause after a failed metadata refresh (Kafka's retry.backoff.ms and retry.backoff.max.ms)."""


def pace_metadata_refresh(client: AIOKafkaClient, backoff_s: tuple[float, float] = METADATA_RETRY_BACKOFF_S) -> None:
    """Make ``client`` pause after a failed metadata refresh: from ``backoff_s[0]``, doubling up to ``backoff_s[1]``.

    aiokafka 0.14's producer asks for a refresh on every pass of its sender while a partition has no known
    leader, and the client's refresh fails at once when no broker accepts a connection: with the broker
    down, the two loop without a pause. Without this pause the outage test in libs/common/tests/test_producer.py
    counted 10,960 "Unable connect to node" errors from one producer in 4 s (with it, it allows 30); in a CI
    run the dispatcher logged 57,000 in 16 s. Kafka's Java client waits between refreshes
    (retry.backoff.ms, growing to retry.backoff.max.ms); this gives aiokafka's client the same pause. A
    success resets it, and the pause is taken only after a failure, so a healthy client never waits. Each
    failure counts in ``switchboard_kafka_metadata_refresh_failures_total``.
    """
    update = client._metadata_update
    first, longest = backoff_s
    pause = first

    async def paced(cluster: Any, topics: Any) -> bool:
        nonlocal pause
        updated = bool(await update(cluster, topics))
        if updated:
            pause = first
        else:
            KAFKA_METADATA_REFRESH_FAILURES.inc()
            await asyncio.sleep(pause)
            pause = min(pause * 2, longest)
        return updated

    client._metadata_update = paced


async def queue_records(producer: AIOKafkaProducer, records: Sequence[OutgoingRecord]) -> list[asyncio.Future[Any]]:
    """Hand ``records`` to ``producer`` as whole batches, one per partition; the futures resolve on Kafka's
    acknowledgement.

    The same placement and order as sending them one by one (a record's own partition, else the key's
    partition by the default partitioner, Kafka's murmur2, so other clients agree; order kept within a
    partition), with one future per batch instead of one per record. For a single writer of many records
    (the consume loop's transaction); concurrent writers of a record each are better served by
    ``send``, whose records share the accumulator's open batches.
    """
    partitions_of: dict[str, list[int]] = {}
    groups: dict[tuple[str, int], list[OutgoingRecord]] = {}
    for record in records:
        partition = record.partition
        if partition is None:
            every = partitions_of.get(record.topic)
            if every is None:
                every = partitions_of[record.topic] = sorted(await producer.partitions_for(record.topic))
            partition = PARTITIONER(record.key, every, every)
        groups.setdefault((record.topic, partition), []).append(record)
    futures: list[asyncio.Future[Any]] = []
    for (topic, partition), group in groups.items():
        batch = producer.create_batch()
        for record in group:
            if batch.append(timestamp=None, key=record.key, value=record.value, headers=list(record.headers)) is None:
                futures.append(await producer.send_batch(batch, topic, partition=partition))
                batch = producer.create_batch()  # full: the record opens the next one (a first record always fits)
                batch.append(timestamp=None, key=record.key, value=record.value, headers=list(record.headers))
        futures.append(await producer.send_batch(batch, topic, partition=partition))
    return futures


def _still_starting(exc: AssertionError) -> KafkaConnectionError:
    """aiokafka 0.14 asserts that its metadata names a broker when it looks up a transaction coordinator.

    A broker that is starting (after a restart, with many partitions to load) already answers metadata
    requests, with no broker in them, for some seconds: a producer started then fails that assertion. It is
    Kafka not being ready yet, so it is reported as the connection error callers already retry.
    """
    return KafkaConnectionError(f"Kafka is not ready yet (its metadata names no broker): {exc!r}")


class KafkaUnavailable(Exception):
    """Kafka did not acknowledge in time: the caller answers with a retryable error or retries later."""


class EventProducer:
    """Publishes records and returns only once Kafka acknowledged every one of them.

    Idempotence (which implies ``acks=all``) is always on. With ``transactional_id`` the producer is
    transactional, for the consume loop's exactly-once mode.
    """

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        client_id: str,
        transactional_id: str | None = None,
    ) -> None:
        self._settings = settings
        self._client_id = client_id
        self._transactional_id = transactional_id
        self._producer: AIOKafkaProducer | None = None
        self._started = False
        self._failures_since_success = 0
        self._recycling: asyncio.Task[None] | None = None
        self.last_success: float | None = None
        self.last_failure: float | None = None

    def _create(self) -> AIOKafkaProducer:
        # aiokafka binds its clients to the running loop, so they are made in start(), not here.
        settings = self._settings
        producer = AIOKafkaProducer(
            client_id=self._client_id,
            enable_idempotence=True,
            acks="all",
            linger_ms=settings.linger_ms,
            max_batch_size=settings.max_batch_size,
            compression_type=settings.compression_type,
            transactional_id=self._transactional_id,
            transaction_timeout_ms=settings.transaction_timeout_ms,
            partitioner=PARTITIONER,
            **settings.client_kwargs(),
        )
        pace_metadata_refresh(producer.client)
        return producer

    @property
    def raw(self) -> AIOKafkaProducer:
        """The aiokafka producer, for the consume loop's transactions."""
        if self._producer is None:
            raise KafkaUnavailable("producer not started")
        return self._producer

    async def start(self, timeout: float | None = None) -> None:
        """Connect, or raise a :class:`KafkaError` (or ``TimeoutError``) that the caller retries."""
        producer = self._create()
        try:
            await asyncio.wait_for(producer.start(), timeout or self._settings.send_timeout_s * 3)
        except BaseException as exc:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), self._settings.send_timeout_s)
            if isinstance(exc, AssertionError):
                raise _still_starting(exc) from exc
            raise
        self._producer = producer
        self._started = True

    async def stop(self) -> None:
        await self._cancel_recycling()
        if not self._started or self._producer is None:
            return
        self._started = False
        try:
            await asyncio.wait_for(self._producer.stop(), self._settings.send_timeout_s)
        except (TimeoutError, KafkaError) as exc:  # a broker that is down must not hang shutdown
            log.warning("producer did not stop cleanly", extra={"error": repr(exc)})

    async def publish(self, records: Sequence[OutgoingRecord], timeout: float | None = None) -> None:
        """Send all records together and wait for every acknowledgement, or raise :class:`KafkaUnavailable`."""
        if not records:
            return
        if not self._started or self._producer is None:
            raise KafkaUnavailable("not connected to Kafka yet")
        producer = self._producer
        started = time.perf_counter()
        limit = timeout if timeout is not None else self._settings.send_timeout_s
        try:
            async with asyncio.timeout(limit):
                # One by one: concurrent requests' records then share the accumulator's batches.
                futures = [
                    await producer.send(
                        r.topic, value=r.value, key=r.key, headers=list(r.headers), partition=r.partition
                    )
                    for r in records
                ]
                await asyncio.gather(*futures)
        except (TimeoutError, KafkaError) as exc:
            self.last_failure = time.monotonic()
            KAFKA_PRODUCE_FAILURES.inc()
            if isinstance(exc, KafkaError):
                self._failures_since_success += 1
                if self._transactional_id is None and (
                    isinstance(exc, PRODUCER_STATE_ERRORS) or self._failures_since_success >= RECYCLE_AFTER_ERRORS
                ):
                    self._schedule_recycle(exc)
            raise KafkaUnavailable(f"Kafka did not acknowledge {len(records)} record(s): {exc!r}") from exc
        self._failures_since_success = 0
        self.last_success = time.monotonic()
        KAFKA_PRODUCED.inc(len(records))
        KAFKA_PRODUCE_SECONDS.observe(time.perf_counter() - started)

    def _schedule_recycle(self, cause: BaseException) -> None:
        """Replace the aiokafka producer in the background; sends fail fast (503) until it is back.

        After a broker outage an idempotent producer can be left in an error state (a sequence or
        producer-id error) in which every later send fails at once; a new producer starts clean. Such an
        error (:data:`PRODUCER_STATE_ERRORS`) replaces it at once, any other after
        :data:`RECYCLE_AFTER_ERRORS` in a row.
        """
        if self._recycling is not None and not self._recycling.done():
            return
        log.warning("replacing the Kafka producer", extra={"error": repr(cause)[:300]})
        KAFKA_PRODUCER_RECYCLES.inc()
        self._recycling = asyncio.create_task(self._recycle())

    async def replace(self) -> None:
        """Drop the aiokafka producer and start a new one with the same settings, or raise what :meth:`start`
        raises (the caller retries; until then sends fail with :class:`KafkaUnavailable`).

        For a producer whose own state is wrong (sequence numbers, producer id or epoch, transaction state):
        a new one starts clean, and a transactional one fences its predecessor, whose open transaction the
        coordinator aborts.
        """
        await self._cancel_recycling()
        await self._drop()
        await self.start()

    async def _cancel_recycling(self) -> None:
        if self._recycling is not None:
            self._recycling.cancel()
            await asyncio.gather(self._recycling, return_exceptions=True)
            self._recycling = None

    async def _drop(self) -> None:
        old, self._producer, self._started = self._producer, None, False
        if old is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(old.stop(), self._settings.send_timeout_s)

    async def _recycle(self) -> None:
        await self._drop()
        delay = 0.5
        while True:
            try:
                await self.start()
                self._failures_since_success = 0
                return
            except Exception as exc:  # whatever it is, a producer that never comes back means 503s for good
                log.warning("Kafka producer not back yet", extra={"error": repr(exc)[:300]})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def ping(self, timeout: float = 3.0) -> bool:
        """Whether the cluster answers a metadata request now."""
        if self._producer is None:
            return False
        try:
            async with asyncio.timeout(timeout):
                await self._producer.client.fetch_all_metadata()
        except Exception:  # any failure is a "no" (the probe asking every few seconds must not end)
            return False
        return True
