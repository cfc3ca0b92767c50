"""The one consume-process-produce-commit loop used by every consuming service.

A service supplies a :class:`Processor`: the business step as a plain method from one event to the
records it produces. The loop wraps the transport around it:

* records are polled in batches and processed in order within each partition (partitions run
  concurrently, so one slow conversation does not hold the others);
* the batch's outputs are published, and offsets committed only after Kafka acknowledged the
  outputs: in one transaction (``KAFKA_EXACTLY_ONCE``, the default) or, without transactions,
  by committing after the acknowledgements (at-least-once, idempotence by event id);
* a record that can never be processed (invalid envelope or data, :class:`InvalidMessage`, or an
  unexpected error that repeats) goes to ``<topic>.dlq`` with the reason, and the partition flows on;
* a transient failure (Kafka or a dependency unavailable) rewinds to the last commit, rebuilds the
  processor's state for those partitions, backs off with jitter and tries again: back-pressure,
  never a dead letter;
* a producer whose state no longer matches the broker's (sequence numbers out of order after a broker
  restart, an unknown producer id or epoch, a broken transaction state), or that failed
  ``REPLACE_PRODUCER_AFTER`` batches in a row, is replaced by a new one: with the same transactional
  id, it fences the old one, the coordinator aborts what the old one left open, and its sequences
  start again. Retrying with the old producer would fail the same way forever;
* nothing ends the loop but :meth:`ConsumeLoop.stop`: an unexpected failure outside one record's
  processing (in the recovery itself, say) is logged, every assigned partition is rewound to its last
  commit, and the loop goes on;
* newly assigned partitions stay paused until the processor has rebuilt its state for them;
* a rebalance waits for the batch in flight to finish and commit before partitions are revoked;
* stopping drains the batch in flight and commits it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import KafkaError, ProducerFenced

from switchboard_common.events.envelope import (
    ConsumedRecord,
    Event,
    EventSpec,
    InvalidMessage,
    OutgoingRecord,
    decode_event,
)
from switchboard_common.metrics import (
    BATCH_SECONDS,
    CONSUMED,
    CONSUMER_LAG,
    DEAD_LETTERED,
    PROCESSING_RETRIES,
)
from switchboard_common.partition_reader import to_consumed
from switchboard_common.producer import PRODUCER_STATE_ERRORS, EventProducer, KafkaUnavailable, queue_records
from switchboard_common.settings import ConsumerSettings, KafkaSettings
from switchboard_common.topics import TopicNames

log = logging.getLogger(__name__)

REPLACE_PRODUCER_AFTER = 5
"""Batches failed in a row (whatever the error) after which the producer is replaced all the same."""
LAG_POSITION_WAIT_S = 1.0
"""Longest wait for a partition's position when the lag gauge is updated (it is skipped after that)."""


class RetryLater(Exception):
    """A dependency is unavailable: retry the batch later (back-pressure), never dead-letter it."""


class Processor:
    """The business step of a consuming service.

    ``inputs`` maps each physical input topic to the event families it may carry. ``process``
    returns the records to publish for one event; it raises :class:`InvalidMessage` for an event
    that can never be processed and :class:`RetryLater` when a dependency is down.

    Stateful processors override the hooks: ``on_assigned`` rebuilds state from Kafka for newly
    assigned partitions (they stay paused until it returns; if it raises, it is retried), ``on_revoked``
    drops it (also after a failed batch, before the partitions are rewound and re-assigned),
    ``commit_floor`` holds back the commit of records whose work is not finished (timers), and ``tick``
    is called on every loop iteration to emit what timers produced.
    """

    inputs: Mapping[str, Sequence[EventSpec[Any]]] = {}

    async def process(self, event: Event[Any], record: ConsumedRecord) -> Sequence[OutgoingRecord]:
        raise NotImplementedError

    async def on_assigned(self, partitions: Collection[TopicPartition]) -> None:
        return None

    async def on_revoked(self, partitions: Collection[TopicPartition]) -> None:
        return None

    def commit_floor(self, partition: TopicPartition) -> int | None:
        """The lowest offset of ``partition`` whose work is unfinished, or None when nothing is held."""
        return None

    async def tick(self) -> Sequence[OutgoingRecord]:
        return ()


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, loop: ConsumeLoop) -> None:
        self._loop = loop

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self._loop._revoke(set(revoked))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await self._loop._assign(set(assigned))


class ConsumeLoop:
    """Runs a :class:`Processor` against Kafka with the delivery rules. See the module docstring."""

    def __init__(
        self,
        *,
        processor: Processor,
        group_id: str,
        kafka: KafkaSettings,
        consumer: ConsumerSettings,
        names: TopicNames,
        source: str,
    ) -> None:
        self.processor = processor
        self.group_id = group_id
        self._kafka = kafka
        self._settings = consumer
        self._names = names
        self._source = source
        self._exactly_once = kafka.exactly_once
        self._transactional_id = f"{group_id}-{consumer.instance_id}" if self._exactly_once else None
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: EventProducer | None = None
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._assigned: set[TopicPartition] = set()
        self._initialising: set[TopicPartition] = set()
        self._processed: dict[TopicPartition, int] = {}
        self._committed: dict[TopicPartition, int] = {}
        self._failures: dict[tuple[str, int, int], int] = defaultdict(int)
        self._failing_since: float | None = None
        self._failed_batches = 0  # in a row, since the last batch that went through
        self._producer_broken = False  # replaced by the next recovery
        self._rewind_all = False
        self.last_iteration = time.monotonic()
        self.last_commit: float | None = None
        self.started = False

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect; call :meth:`run` (or :meth:`start_background`) afterwards."""
        self._producer = EventProducer(
            self._kafka, client_id=f"{self._kafka.client_id}-{self.group_id}", transactional_id=self._transactional_id
        )
        await self._producer.start()
        self._consumer = AIOKafkaConsumer(
            client_id=f"{self._kafka.client_id}-{self.group_id}",
            group_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            partition_assignment_strategy=(RangePartitionAssignor,),
            session_timeout_ms=self._settings.session_timeout_ms,
            heartbeat_interval_ms=self._settings.heartbeat_interval_ms,
            max_poll_interval_ms=self._settings.max_poll_interval_ms,
            **self._settings.fetch_kwargs(),
            **self._kafka.client_kwargs(),
        )
        await asyncio.wait_for(self._consumer.start(), self._kafka.send_timeout_s * 3)
        self._consumer.subscribe(list(self.processor.inputs), listener=_Rebalance(self))
        self.started = True

    def start_background(self) -> asyncio.Task[None]:
        self._task = asyncio.create_task(self.run(), name=f"consume-loop-{self.group_id}")
        self._task.add_done_callback(self._ended)
        return self._task

    def _ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            # run() retries every failure it knows of; reaching here is a bug. Liveness now fails (is_alive).
            log.critical("consume loop ended with an error", exc_info=task.exception())

    async def stop(self) -> None:
        """Drain the batch in flight, commit it, leave the group."""
        self._stopping.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), self._kafka.send_timeout_s * 2)
            except TimeoutError:
                self._task.cancel()
            except Exception:  # the task's own failure was logged where it happened
                log.debug("consume loop ended with an error", exc_info=True)
        if self._consumer is not None:
            try:
                await asyncio.wait_for(self._consumer.stop(), self._kafka.send_timeout_s)
            except (TimeoutError, KafkaError):
                log.warning("consumer did not leave the group cleanly")
        if self._producer is not None:
            await self._producer.stop()
        self.started = False

    @property
    def is_alive(self) -> bool:
        """The loop is iterating (not wedged in a call that never returns).

        A loop still connecting (Kafka unreachable at start-up) is alive but not ready: restarting the
        process would not bring Kafka back.
        """
        if self._task is None:
            return True
        if self._task.done():
            return False
        return time.monotonic() - self.last_iteration < max(self._settings.stall_seconds, 30.0) * 2

    @property
    def is_ready(self) -> bool:
        """Connected and not stuck behind a failure for longer than ``stall_seconds``."""
        if not self.started or (self._task is not None and self._task.done()):
            return False
        if self._failing_since is None:
            return True
        return time.monotonic() - self._failing_since < self._settings.stall_seconds

    @property
    def assignment(self) -> set[TopicPartition]:
        """Partitions assigned and ready (their processor state is built)."""
        return self._assigned - self._initialising

    async def run(self) -> None:
        assert self._consumer is not None
        backoff = _Backoff()
        while not self._stopping.is_set():
            self.last_iteration = time.monotonic()
            try:
                ok = await self._iterate()
            except Exception:
                # Nothing may end the loop but stop(): a service whose loop has ended consumes nothing and
                # only a liveness probe would notice. Whatever failed (recovery itself, say) may have left
                # the consumer's position past records that were never committed: every assigned partition
                # is rewound to its last commit before the next batch, or nothing is polled.
                PROCESSING_RETRIES.labels("unexpected").inc()
                log.exception("consume loop iteration failed; rewinding to the last commit and retrying")
                self._mark_failing()
                self._rewind_all = True
                ok = False
            if ok is None:
                break
            if ok:
                backoff.reset()
            else:
                await self._sleep(backoff.next())

    async def _iterate(self) -> bool | None:
        """Poll and handle one batch: True when it went through, False to back off, None to stop."""
        assert self._consumer is not None
        if self._rewind_all:
            async with self._lock:
                await self._recover(set(self._assigned))
                self._rewind_all = False
        if self._initialising and not await self._initialise():
            return False
        try:
            batch = await self._consumer.getmany(
                timeout_ms=self._settings.poll_timeout_ms, max_records=self._settings.max_batch
            )
        except KafkaError as exc:
            log.warning("poll failed", extra={"error": repr(exc)})
            self._mark_failing()
            return False
        async with self._lock:
            if self._stopping.is_set() and not batch:
                return None
            return await self._handle(batch)

    # -- one batch -------------------------------------------------------------------------------

    async def _handle(self, batch: Mapping[TopicPartition, Sequence[Any]]) -> bool:
        started = time.perf_counter()
        records = {tp: [to_consumed(r) for r in rs] for tp, rs in batch.items() if tp in self._assigned and rs}
        try:
            outputs = await self._process(records)
            outputs.extend(await self.processor.tick())
            offsets = self._offsets_to_commit(records)
            if outputs or offsets:
                await self._publish_and_commit(outputs, offsets)
        except ProducerFenced:
            log.error("another replica took over this transactional id; stopping")
            self._stopping.set()
            return False
        except (KafkaUnavailable, KafkaError, RetryLater, TimeoutError) as exc:
            cause = type(exc).__name__
            PROCESSING_RETRIES.labels(cause).inc()
            log.warning("batch failed, rewinding to the last commit", extra={"error": repr(exc)[:500]})
            if isinstance(exc, PRODUCER_STATE_ERRORS):
                log.warning("the producer's state no longer matches the broker's; it will be replaced")
                self._producer_broken = True
            await self._recover(set(records))
            return False
        except _RepeatableFailure as exc:
            PROCESSING_RETRIES.labels("unexpected").inc()
            log.error("processing raised an unexpected error", extra={"error": exc.reason}, exc_info=exc.cause)
            await self._recover(set(records))
            return False
        except Exception:
            # A failure outside one record's processing (a processor's tick, say): never end the loop.
            PROCESSING_RETRIES.labels("unexpected").inc()
            log.exception("batch failed unexpectedly, rewinding to the last commit")
            await self._recover(set(records))
            return False
        if self._failing_since is not None:
            failing = round(time.monotonic() - self._failing_since, 1)
            log.info("batches go through again", extra={"failing_seconds": failing})
            self._failing_since = None
        self._failed_batches = 0
        self.last_commit = time.monotonic()
        BATCH_SECONDS.observe(time.perf_counter() - started)
        for tp, recs in records.items():
            CONSUMED.labels(tp.topic).inc(len(recs))
            await self._update_lag(tp)
        return True

    async def _process(self, records: Mapping[TopicPartition, list[ConsumedRecord]]) -> list[OutgoingRecord]:
        results = await asyncio.gather(
            *(self._process_partition(tp, recs) for tp, recs in records.items()), return_exceptions=True
        )
        outputs: list[OutgoingRecord] = []
        for result in results:
            if isinstance(result, BaseException):
                raise result
            outputs.extend(result)
        return outputs

    async def _process_partition(self, tp: TopicPartition, records: list[ConsumedRecord]) -> list[OutgoingRecord]:
        specs = self.processor.inputs.get(tp.topic, ())
        outputs: list[OutgoingRecord] = []
        for record in records:
            try:
                event = decode_event(record, specs)
                outputs.extend(await self.processor.process(event, record))
            except InvalidMessage as exc:
                outputs.append(self._dead_letter(record, exc.reason, "invalid"))
            except (KafkaUnavailable, KafkaError, RetryLater, TimeoutError, ProducerFenced):
                raise
            except Exception as exc:
                key = (record.topic, record.partition, record.offset)
                self._failures[key] += 1
                if self._failures[key] >= self._settings.max_unexpected_failures:
                    del self._failures[key]
                    reason = f"processing failed {self._settings.max_unexpected_failures} times: {exc!r}"
                    log.error("dead-lettering a record that keeps failing", extra={"error": repr(exc)})
                    outputs.append(self._dead_letter(record, reason[:2000], "unexpected"))
                else:
                    raise _RepeatableFailure(repr(exc), exc) from exc
            self._processed[tp] = record.offset + 1
        return outputs

    def _offsets_to_commit(self, records: Mapping[TopicPartition, list[ConsumedRecord]]) -> dict[TopicPartition, int]:
        offsets: dict[TopicPartition, int] = {}
        for tp in self._assigned:
            processed = self._processed.get(tp)
            if processed is None:
                continue
            floor = self.processor.commit_floor(tp)
            target = processed if floor is None else min(processed, floor)
            if target > self._committed.get(tp, -1):
                offsets[tp] = target
        return offsets

    async def _publish_and_commit(self, outputs: list[OutgoingRecord], offsets: dict[TopicPartition, int]) -> None:
        assert self._producer is not None
        assert self._consumer is not None
        if self._exactly_once:
            producer = self._producer.raw
            async with asyncio.timeout(self._kafka.send_timeout_s):
                await producer.begin_transaction()
                try:
                    await asyncio.gather(*await queue_records(producer, outputs))
                    if offsets:
                        await producer.send_offsets_to_transaction(offsets, self.group_id)
                    await producer.commit_transaction()
                except BaseException:
                    await self._abort()
                    raise
        else:
            await self._producer.publish(outputs)
            if offsets:
                async with asyncio.timeout(self._kafka.send_timeout_s):
                    await self._consumer.commit(offsets)
        self._committed.update(offsets)

    async def _abort(self) -> None:
        assert self._producer is not None
        try:
            async with asyncio.timeout(self._kafka.send_timeout_s):
                await self._producer.raw.abort_transaction()
        except Exception:  # a producer that cannot even abort is replaced in _recover
            log.warning("transaction abort failed; the producer will be replaced", exc_info=True)
            self._producer_broken = True

    async def _recover(self, partitions: set[TopicPartition]) -> None:
        """Rewind to the last commit and rebuild the processor's view of those partitions."""
        self._mark_failing()
        assert self._consumer is not None
        self._failed_batches += 1
        if self._failed_batches % REPLACE_PRODUCER_AFTER == 0 and not self._producer_broken:
            log.warning("batches keep failing; the producer will be replaced", extra={"failed": self._failed_batches})
            self._producer_broken = True
        if self._producer_broken and self._producer is not None:
            log.info("replacing the producer")
            try:
                await self._producer.replace()
                self._producer_broken = False
            except Exception as exc:  # retried on the next failed batch ("producer not started")
                log.warning("could not restart the producer yet", extra={"error": repr(exc)})
        rewind = (partitions | {tp for tp in self._assigned if tp in self._processed}) & self._assigned
        for tp in rewind:
            committed = self._committed.get(tp)
            if committed is None:  # nothing committed yet: start over as a new group does (earliest)
                await self._consumer.seek_to_beginning(tp)
            else:
                self._consumer.seek(tp, committed)
            self._processed.pop(tp, None)
        # The processor's view of these partitions may hold effects of the failed batch: drop it and
        # rebuild it from Kafka, as after a rebalance, before their records are processed again.
        ready = rewind - self._initialising
        if ready:
            try:
                await self.processor.on_revoked(ready)
            except Exception:
                log.exception("processor failed to drop the state of rewound partitions")
            self._consumer.pause(*ready)
            self._initialising |= ready

    # -- rebalancing -----------------------------------------------------------------------------

    async def _revoke(self, revoked: set[TopicPartition]) -> None:
        if revoked:
            log.info("partitions revoked", extra={"partitions": _names(revoked)})
        async with self._lock:
            initialised = revoked & self._assigned - self._initialising
            self._assigned -= revoked
            self._initialising -= revoked
            for tp in revoked:
                self._processed.pop(tp, None)
                self._committed.pop(tp, None)
                _forget_lag(tp)
            if initialised:
                try:
                    await self.processor.on_revoked(initialised)
                except Exception:
                    log.exception("processor failed to drop the state of revoked partitions")

    async def _assign(self, assigned: set[TopicPartition]) -> None:
        # aiokafka has already handed the partitions to the fetcher: pause them at once, so that no
        # record is processed before the processor's state for them is rebuilt (in the loop, with retries).
        consumer = self._consumer_or_fail()
        fresh = assigned - self._assigned
        if not fresh:
            return
        consumer.pause(*fresh)
        log.info("partitions assigned", extra={"partitions": _names(fresh)})
        self._assigned |= fresh
        self._initialising |= fresh
        for tp in fresh:
            committed = await consumer.committed(tp)
            if committed is not None:
                self._committed[tp] = committed

    async def _initialise(self) -> bool:
        """Build the processor's state for partitions waiting for it; resume them when it is ready."""
        consumer = self._consumer_or_fail()
        async with self._lock:
            waiting = set(self._initialising)
            if not waiting:
                return True
            try:
                await self.processor.on_assigned(waiting)
            except Exception as exc:
                log.warning("could not prepare newly assigned partitions yet", extra={"error": repr(exc)})
                self._mark_failing()
                return False
            self._initialising -= waiting
            consumer.resume(*(waiting & self._assigned))
            return True

    def _consumer_or_fail(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise RuntimeError("consume loop not started")
        return self._consumer

    # -- helpers ---------------------------------------------------------------------------------

    def _dead_letter(self, record: ConsumedRecord, reason: str, cause: str) -> OutgoingRecord:
        DEAD_LETTERED.labels(record.topic, cause).inc()
        log.warning(
            "dead-lettered",
            extra={"topic": record.topic, "partition": record.partition, "offset": record.offset, "reason": reason},
        )
        return dead_letter_record(self._names, record, reason, self.group_id)

    def _mark_failing(self) -> None:
        if self._failing_since is None:
            self._failing_since = time.monotonic()

    async def _update_lag(self, tp: TopicPartition) -> None:
        """Records between the consumer's position and the partition's end, after a batch went through.

        The position, not the last processed offset + 1: a transaction's commit marker takes an offset
        of its own, which the consumer steps over but no record is processed for, so a caught-up
        partition written in transactions would read 1 forever. Every record returned before the
        position has been processed by now (the batch committed).
        """
        assert self._consumer is not None
        highwater = self._consumer.highwater(tp)
        if highwater is None:
            return
        try:
            # Immediate for a partition just consumed; the limit is for one whose position is being reset.
            async with asyncio.timeout(LAG_POSITION_WAIT_S):
                position = await self._consumer.position(tp)
        except (TimeoutError, KafkaError):
            return
        CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(0, highwater - position))
        _lag_keys.add((tp.topic, str(tp.partition)))

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)


_lag_keys: set[tuple[str, str]] = set()


def _names(partitions: Collection[TopicPartition]) -> list[str]:
    return sorted(f"{tp.topic}:{tp.partition}" for tp in partitions)


def _forget_lag(tp: TopicPartition) -> None:
    key = (tp.topic, str(tp.partition))
    if key in _lag_keys:
        _lag_keys.discard(key)
        CONSUMER_LAG.remove(*key)


class _RepeatableFailure(Exception):
    def __init__(self, reason: str, cause: BaseException) -> None:
        super().__init__(reason)
        self.reason = reason
        self.cause = cause


class _Backoff:
    """Full-jitter exponential backoff: 0.2 s doubling up to 10 s."""

    def __init__(self, base: float = 0.2, cap: float = 10.0) -> None:
        self._base, self._cap, self._attempt = base, cap, 0

    def next(self) -> float:
        delay = random.uniform(0, min(self._cap, self._base * 2**self._attempt))
        self._attempt += 1
        return max(delay, 0.05)

    def reset(self) -> None:
        self._attempt = 0


def dead_letter_record(names: TopicNames, record: ConsumedRecord, reason: str, group_id: str) -> OutgoingRecord:
    """The record as it was, to ``<topic>.dlq``, with why and where it came from in headers."""
    headers = [(k, v) for k, v in record.headers.items() if not k.startswith("dlq_")]
    headers += [
        ("dlq_reason", reason.encode()),
        ("dlq_source_topic", record.topic.encode()),
        ("dlq_source_partition", str(record.partition).encode()),
        ("dlq_source_offset", str(record.offset).encode()),
        ("dlq_consumer_group", group_id.encode()),
        ("dlq_failed_at", datetime.now(UTC).isoformat().encode()),
    ]
    return OutgoingRecord(
        topic=names.dead_letter(record.topic), key=record.key, value=record.value or b"", headers=tuple(headers)
    )
