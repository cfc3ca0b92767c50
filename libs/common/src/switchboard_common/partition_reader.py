"""Reading partitions directly (no consumer group): state rebuilds and per-replica tails.

Services hold no state that Kafka cannot rebuild. A stateful processor that is assigned a partition
reads the matching partition of its own output topic back from a point in time to rebuild what it
knew (ids already handled, open cases) before it processes anything.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition

from switchboard_common.events.envelope import ConsumedRecord
from switchboard_common.settings import KafkaSettings

K = TypeVar("K")
V = TypeVar("V")


def to_consumed(raw: Any) -> ConsumedRecord:
    """An aiokafka ConsumerRecord as the project's :class:`ConsumedRecord`."""
    return ConsumedRecord(
        topic=raw.topic,
        partition=raw.partition,
        offset=raw.offset,
        key=raw.key,
        value=raw.value,
        headers=dict(raw.headers or ()),
        timestamp_ms=raw.timestamp,
    )


async def read_partitions_since(
    kafka: KafkaSettings,
    partitions: Collection[TopicPartition],
    since_ms: int,
    *,
    timeout_s: float = 30.0,
    batch: int = 2000,
) -> AsyncIterator[list[ConsumedRecord]]:
    """Committed records of ``partitions`` written at or after ``since_ms``, up to their current end.

    ``timeout_s`` bounds each request to the cluster (and a fetch that brings nothing), not the whole
    read: a rebuild of a long window may take minutes and still be healthy.
    """
    if not partitions:
        return
    consumer = AIOKafkaConsumer(
        client_id=f"{kafka.client_id}-reader",
        enable_auto_commit=False,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        **kafka.client_kwargs(),
    )
    await asyncio.wait_for(consumer.start(), timeout_s)
    try:
        tps = list(partitions)
        consumer.assign(tps)
        async with asyncio.timeout(timeout_s):
            ends = await consumer.end_offsets(tps)
            starts = await consumer.offsets_for_times({tp: since_ms for tp in tps})
        remaining: set[TopicPartition] = set()
        for tp in tps:
            found = starts.get(tp)
            if found is None or ends[tp] == 0:
                continue
            consumer.seek(tp, found.offset)
            if found.offset < ends[tp]:
                remaining.add(tp)
        for tp in set(tps) - remaining:
            consumer.seek(tp, ends[tp])
        idle_since = asyncio.get_running_loop().time()
        while remaining:
            fetched = await consumer.getmany(*remaining, timeout_ms=500, max_records=batch)
            now = asyncio.get_running_loop().time()
            if any(fetched.values()):
                idle_since = now
            elif now - idle_since > timeout_s:
                raise TimeoutError(f"no records from {sorted(map(str, remaining))} for {timeout_s:.0f}s")
            records: list[ConsumedRecord] = []
            for tp, raws in fetched.items():
                records.extend(to_consumed(r) for r in raws if r.offset < ends[tp])
            if records:
                yield records
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()


async def topic_partitions(consumer: AIOKafkaConsumer, topic: str, *, wait: float = 0.0) -> set[int]:
    """The partitions of ``topic`` the cluster has (metadata fetched once more when the topic is unknown, and
    again for up to ``wait`` seconds: a topic just created takes a moment to appear in the metadata)."""
    partitions = consumer.partitions_for_topic(topic)
    deadline = time.monotonic() + wait
    while not partitions:
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(topic)
        if partitions or time.monotonic() >= deadline:
            break
        await asyncio.sleep(0.2)
    return set(partitions or ())


class Seat(StrEnum):
    """What sits at one offset of a partition."""

    RECORD = "record"
    EXPIRED = "expired"  # below the partition's start: deleted by retention
    NEVER_WRITTEN = "never_written"  # at or beyond the partition's end
    NO_RECORD = "no_record"  # a transaction marker or an aborted write


@dataclass(frozen=True, slots=True)
class RecordAt:
    seat: Seat
    record: ConsumedRecord | None = None


async def read_record_at(consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> RecordAt:
    """The committed record at ``offset`` of ``tp``, or why there is none. Assigns ``tp`` to ``consumer``
    (which must read committed records only); the caller bounds the time it may take."""
    consumer.assign([tp])
    begin = (await consumer.beginning_offsets([tp]))[tp]
    end = (await consumer.end_offsets([tp]))[tp]
    if offset >= end:
        return RecordAt(Seat.NEVER_WRITTEN)
    if offset < begin:
        return RecordAt(Seat.EXPIRED)
    consumer.seek(tp, offset)
    while True:
        batch = await consumer.getmany(tp, timeout_ms=500, max_records=1)
        raws = batch.get(tp, [])
        if raws:
            if raws[0].offset != offset:
                return RecordAt(Seat.NO_RECORD)
            return RecordAt(Seat.RECORD, to_consumed(raws[0]))
        if await consumer.position(tp) > offset:  # skipped past it: a marker or an aborted write sat there
            return RecordAt(Seat.NO_RECORD)


class LruCache(Generic[K, V]):
    """Keys to values, the least recently used dropped beyond ``size``."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
        return found

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


class StandaloneConsumer:
    """One long-lived consumer outside any group, for reading chosen offsets: started on first use,
    replaced after :meth:`close` (callers close it when a read failed half-way)."""

    def __init__(self, kafka: KafkaSettings, name: str, **options: Any) -> None:
        self._kafka = kafka
        self._name = name
        self._options = options
        self._consumer: AIOKafkaConsumer | None = None

    async def get(self, timeout_s: float) -> AIOKafkaConsumer:
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                client_id=f"{self._kafka.client_id}-{self._name}",
                enable_auto_commit=False,
                isolation_level="read_committed",
                **self._options,
                **self._kafka.client_kwargs(),
            )
            try:
                await asyncio.wait_for(consumer.start(), timeout_s)
            except BaseException:
                await consumer.stop()
                raise
            self._consumer = consumer
        return self._consumer

    async def close(self) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            await consumer.stop()
