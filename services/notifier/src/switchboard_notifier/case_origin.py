"""Where a case came from: the customer message at the intake position its case reference encodes.

A case reference is the position (partition, offset) of the case's first message in
intake.messages.v1, so a department's update needs no lookup table: the notifier reads that one
record, which holds the customer's channel, reply target, thread, conversation and language. Origins
are kept in a small LRU cache (a case gets several updates).

Outcomes: the message; None when the position is older than the topic's retention (the record is
gone: the update is recorded as not deliverable, with that reason); :class:`UnknownCase` when no
message ever sat there (a mistyped or forged reference: the update is dead-lettered). Kafka being
unreachable raises its own errors, which the consume loop treats as transient.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from aiokafka import TopicPartition

from switchboard_common.case_reference import IntakePosition
from switchboard_common.events import MESSAGE_RECEIVED, InvalidMessage, decode_event
from switchboard_common.events.models import IntakeMessage
from switchboard_common.partition_reader import LruCache, Seat, StandaloneConsumer, read_record_at, topic_partitions
from switchboard_common.settings import KafkaSettings

log = logging.getLogger(__name__)


class UnknownCase(Exception):
    """No customer message ever sat at the position a case reference encodes."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class OriginLookup(Protocol):
    async def find(self, position: IntakePosition) -> IntakeMessage | None: ...

    async def close(self) -> None: ...


class CaseOrigins:
    """Reads single records of intake.messages.v1 with one long-lived consumer (no group), behind a cache."""

    def __init__(self, kafka: KafkaSettings, topic: str, *, cache_size: int, timeout_s: float = 10.0) -> None:
        self._topic = topic
        self._timeout = timeout_s
        self._cache: LruCache[IntakePosition, IntakeMessage] = LruCache(cache_size)
        self._reader = StandaloneConsumer(kafka, "case-origins", auto_offset_reset="none")
        self._lock = asyncio.Lock()
        self.reads = 0

    async def find(self, position: IntakePosition) -> IntakeMessage | None:
        cached = self._cache.get(position)
        if cached is not None:
            return cached
        async with self._lock:
            cached = self._cache.get(position)
            if cached is not None:
                return cached
            message = await self._read(position)
        if message is not None:
            self._cache.put(position, message)
        return message

    async def close(self) -> None:
        await self._reader.close()

    async def _read(self, position: IntakePosition) -> IntakeMessage | None:
        where = f"intake position {position.partition}:{position.offset}"
        try:
            consumer = await self._reader.get(self._timeout)
            async with asyncio.timeout(self._timeout):
                partitions = await topic_partitions(consumer, self._topic)
                if not partitions:
                    raise TimeoutError(f"no metadata for {self._topic}")
                if position.partition not in partitions:
                    raise UnknownCase(
                        f"case reference names intake partition {position.partition}; the topic has {len(partitions)}"
                    )
                found = await read_record_at(consumer, TopicPartition(self._topic, position.partition), position.offset)
            self.reads += 1
        except (UnknownCase, TimeoutError):
            raise
        except Exception:
            # A consumer that failed mid-read is replaced on the next lookup.
            await self.close()
            raise
        if found.seat is Seat.EXPIRED:
            return None
        if found.seat is Seat.NEVER_WRITTEN:
            raise UnknownCase(f"no message at {where}")
        if found.record is None:
            raise UnknownCase(f"{where} holds no committed message (a transaction marker or an aborted write)")
        record = found.record
        try:
            message: IntakeMessage = decode_event(record, [MESSAGE_RECEIVED]).data
        except InvalidMessage as exc:
            raise UnknownCase(
                f"the record at the case's intake position is not a customer message: {exc.reason}"
            ) from None
        return message
