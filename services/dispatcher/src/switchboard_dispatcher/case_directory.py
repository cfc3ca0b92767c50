"""Which case a quoted reference names, and which department owns it: a bounded look-up in Kafka.

A customer may quote a case reference anywhere: in a new chat session, in an SMS about an email
case. The dispatcher holds state only for the partitions of ``intake.classified.v1`` it is assigned,
and the quoted case may live on any partition, so the owner is looked up in Kafka rather than in
memory. A case reference encodes where the case's first message sits in ``intake.messages.v1``
(partition P, offset O), which makes the look-up short:

1. The reference must name a message that exists: P is a partition of ``intake.messages.v1`` and O
   is below its end offset. Otherwise the reference is *unknown* (say, a mistyped one that happens
   to pass its check symbol) and the quote is ignored.
2. The routing record of that message is on partition P of ``intake.routed.v1``: the pipeline
   topics are co-partitioned (same key, the conversation id; same partition count, the plan's
   ``pipeline_partitions``). Within a partition, routing records follow the intake offsets of their
   messages (the classifier and the dispatcher each process a partition in order), so a binary
   search on ``intake_position.offset`` finds the record in about log2(n) single fetches, and a
   forward scan of at most ``scan_limit`` records finds the exact one (a record replayed from a
   dead-letter topic may sit out of order).
3. That record's routing names the case and the department that owns it. If the message was itself
   a follow-up (the notifier can acknowledge a message with its own reference before the dispatcher
   routes it), the case it was attached to is the one meant. A message that opened no case (recorded
   only: spam, auto-replies) makes the reference unknown.
4. If the message exists but no routing record is found (not routed yet, routed longer ago than
   ``intake.routed.v1`` keeps records, or dead-lettered), the case is known and its owner is not:
   the dispatcher keeps the quoted reference and routes the message by the rules.

Bounded: one offsets request, log2(records in the partition) fetches, at most ``scan_limit``
records, and a time limit on the whole. Restart-safe: there is no state to rebuild. Owners found
are cached (an LRU; the department that opened a case never changes), and the cache is also fed by
the dispatcher's own decisions and state rebuilds, so a restart only makes the first look-ups
slower. A Kafka error or time-out raises :class:`RetryLater`: the batch is retried with backoff
rather than a quote being dropped because the cluster was briefly unreachable.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from switchboard_common.case_reference import InvalidCaseReference, parse_case_reference
from switchboard_common.consume_loop import RetryLater
from switchboard_common.events import MESSAGE_ROUTED, InvalidMessage, decode_event
from switchboard_common.events.envelope import ConsumedRecord
from switchboard_common.events.models import RoutedMessage
from switchboard_common.partition_reader import LruCache, StandaloneConsumer, to_consumed
from switchboard_common.settings import KafkaSettings
from switchboard_common.topics import INTAKE_MESSAGES, INTAKE_ROUTED, TopicNames
from switchboard_dispatcher.metrics import CASE_LOOKUP_SECONDS, QUOTED_REFERENCES

log = logging.getLogger(__name__)

T = TypeVar("T")

_EMPTY_POLLS = 4


@dataclass(frozen=True, slots=True)
class QuotedCase:
    """A case a message quoted; ``department`` is None when the case exists but its owner was not found."""

    case_reference: str
    department: str | None


@dataclass(frozen=True, slots=True)
class Probe(Generic[T]):
    """The first readable record at or after an offset: its own offset, its message's intake offset, its data."""

    offset: int
    intake_offset: int
    item: T


ReadAt = Callable[[int], Awaitable[Probe[T] | None]]


async def locate(read_at: ReadAt[T], begin: int, end: int, target: int, *, scan_limit: int) -> T | None:
    """The item whose intake offset is ``target``, in a partition ordered (mostly) by intake offset.

    ``read_at(o)`` gives the first readable record at or after ``o`` (below ``end``), or None.
    A binary search finds the first record whose intake offset is at least ``target``; a forward
    scan of at most ``scan_limit`` records from there finds the exact one.
    """
    low, high = begin, end
    while low < high:
        middle = (low + high) // 2
        found = await read_at(middle)
        if found is None or found.intake_offset >= target:
            high = middle
        else:
            low = found.offset + 1
    position = low
    for _ in range(scan_limit):
        found = await read_at(position)
        if found is None:
            return None
        if found.intake_offset == target:
            return found.item
        position = found.offset + 1
    return None


class _PartitionReader:
    """Reads one partition at arbitrary offsets, keeping the last fetch so that a forward scan is cheap."""

    def __init__(self, consumer: AIOKafkaConsumer, tp: TopicPartition, end: int, intake_partition: int) -> None:
        self._consumer = consumer
        self._tp = tp
        self._end = end
        self._intake_partition = intake_partition
        self._buffer: list[ConsumedRecord] = []
        self._fetched_from = 0
        self.fetches = 0

    async def read_at(self, offset: int) -> Probe[ConsumedRecord] | None:
        while offset < self._end:
            record = self._buffered(offset)
            if record is None:
                fetched = await self._fetch(offset)
                if not fetched:
                    return None
                record = self._buffered(offset)
                assert record is not None, "a fetch from an offset covers that offset"
            intake_offset = _intake_offset(record, self._intake_partition)
            if intake_offset is not None:
                return Probe(record.offset, intake_offset, record)
            offset = record.offset + 1  # not a routing record of that partition: skip it
        return None

    def _buffered(self, offset: int) -> ConsumedRecord | None:
        """The first record at or after ``offset`` if the last fetch covered it (it started at or before
        ``offset``: the offsets between its start and its first record are transaction markers)."""
        if not self._buffer or not self._fetched_from <= offset <= self._buffer[-1].offset:
            return None
        return next(r for r in self._buffer if r.offset >= offset)

    async def _fetch(self, offset: int) -> list[ConsumedRecord]:
        self._consumer.seek(self._tp, offset)
        self.fetches += 1
        self._buffer = []
        self._fetched_from = offset
        for _ in range(_EMPTY_POLLS):
            batch = await self._consumer.getmany(self._tp, timeout_ms=500, max_records=500)
            records = [to_consumed(r) for r in batch.get(self._tp, ()) if r.offset < self._end]
            if records:
                self._buffer = records
                return records
            if await self._consumer.position(self._tp) >= self._end:
                break
        return []  # nothing readable from there (only markers of transactions, or the broker had nothing)


def _intake_offset(record: ConsumedRecord, intake_partition: int) -> int | None:
    """The intake offset a routing record names (cheaply: no validation of the whole event)."""
    if record.header("ce_type") != MESSAGE_ROUTED.ce_type or record.value is None:
        return None
    try:
        position = orjson.loads(record.value)["intake_position"]
        if int(position["partition"]) != intake_partition:
            return None
        return int(position["offset"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


class CaseDirectory:
    """Finds quoted cases and their owners (see the module docstring); one look-up at a time."""

    def __init__(
        self,
        kafka: KafkaSettings,
        *,
        timeout_s: float = 10.0,
        scan_limit: int = 1000,
        cache_size: int = 100_000,
    ) -> None:
        names = TopicNames(kafka.topic_prefix)
        self._intake = names(INTAKE_MESSAGES)
        self._routed = names(INTAKE_ROUTED)
        self._timeout_s = timeout_s
        self._scan_limit = scan_limit
        self._owners: LruCache[str, str] = LruCache(cache_size)
        self._reader = StandaloneConsumer(
            kafka, "case-directory", auto_offset_reset="earliest", max_partition_fetch_bytes=256 * 1024
        )
        self._partitions: dict[str, set[int]] = {}
        self._lock = asyncio.Lock()

    def remember(self, case_reference: str, department: str) -> None:
        """A case opened by ``department`` (the dispatcher's own decisions and rebuilds feed this)."""
        self._owners.put(case_reference, department)

    def cached_owner(self, case_reference: str) -> str | None:
        return self._owners.get(case_reference)

    async def find(self, case_reference: str) -> QuotedCase | None:
        """The case ``case_reference`` (canonical) names, or None when it names no case."""
        department = self.cached_owner(case_reference)
        if department is not None:
            QUOTED_REFERENCES.labels("owner_cached").inc()
            return QuotedCase(case_reference, department)
        try:
            position = parse_case_reference(case_reference)
        except InvalidCaseReference:
            QUOTED_REFERENCES.labels("unknown").inc()
            return None
        started = time.perf_counter()
        try:
            async with self._lock, asyncio.timeout(self._timeout_s):
                found = await self._find(case_reference, position.partition, position.offset)
        except (KafkaError, TimeoutError, OSError) as exc:
            QUOTED_REFERENCES.labels("lookup_failed").inc()
            raise RetryLater(f"looking up the owner of a quoted case failed: {exc!r}") from exc
        finally:
            CASE_LOOKUP_SECONDS.observe(time.perf_counter() - started)
        if found is None:
            QUOTED_REFERENCES.labels("unknown").inc()
        elif found.department is None:
            QUOTED_REFERENCES.labels("owner_not_found").inc()
        else:
            QUOTED_REFERENCES.labels("owner_found").inc()
        return found

    async def close(self) -> None:
        await self._reader.close()

    async def _has_partition(self, consumer: AIOKafkaConsumer, topic: str, partition: int) -> bool:
        """Whether ``topic`` has ``partition``; partition counts only grow, so what was seen is kept."""
        if partition not in self._partitions.get(topic, ()):
            # All topics' metadata (the consumer's own view follows only what it is assigned).
            cluster = await consumer._client.fetch_all_metadata()
            for name in (self._intake, self._routed):
                self._partitions[name] = set(cluster.partitions_for_topic(name) or ())
        return partition in self._partitions.get(topic, ())

    async def _find(self, case_reference: str, partition: int, offset: int) -> QuotedCase | None:
        consumer = await self._reader.get(self._timeout_s)
        if not await self._has_partition(consumer, self._intake, partition):
            return None
        intake_tp = TopicPartition(self._intake, partition)
        routed_tp = TopicPartition(self._routed, partition)
        if not await self._has_partition(consumer, self._routed, partition):
            return QuotedCase(case_reference, None)
        ends = await consumer.end_offsets([intake_tp, routed_tp])
        if offset >= ends[intake_tp]:
            return None  # no message was ever written there
        begins = await consumer.beginning_offsets([routed_tp])
        consumer.assign([routed_tp])
        reader = _PartitionReader(consumer, routed_tp, ends[routed_tp], partition)
        record = await locate(reader.read_at, begins[routed_tp], ends[routed_tp], offset, scan_limit=self._scan_limit)
        log.info(
            "looked up a quoted case",
            extra={"case_reference": case_reference, "found": record is not None, "fetches": reader.fetches},
        )
        if record is None:
            return QuotedCase(case_reference, None)
        try:
            routed: RoutedMessage = decode_event(record, [MESSAGE_ROUTED]).data
        except InvalidMessage:
            return QuotedCase(case_reference, None)
        routing = routed.routing
        if routing.is_follow_up:
            return QuotedCase(routing.case_reference, routing.department)
        if routing.department is None or routing.case_reference != case_reference:
            return None  # recorded only: that message opened no case
        self.remember(case_reference, routing.department)
        return QuotedCase(case_reference, routing.department)
