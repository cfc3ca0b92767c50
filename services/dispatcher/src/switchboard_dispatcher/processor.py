"""The dispatcher on the shared consume loop: decisions in, events out, state rebuilt from Kafka.

State (duplicate ids, conversation cases, recent complaints, open incidents) is rebuilt when a
partition of ``intake.classified.v1`` is assigned, by reading back the same partition of
``intake.routed.v1`` (co-partitioned: same key, same partition count) over the longest window, and
the incidents raised recently from ``incidents.v1``. With Kafka transactions (the default) the
routing records and the input offsets commit together, so the rebuilt state matches the committed
offsets exactly; that is also why the loop's recovery from a failed batch (revoke, rewind, rebuild)
undoes it correctly.

Without transactions (``KAFKA_EXACTLY_ONCE=false``) a batch whose publish fails part-way can leave a
routing record whose department event was never written; the retried message is then suppressed
as a duplicate. Run the dispatcher with transactions.

A rebuild that fails raises: the loop keeps the partitions paused, retries with backoff, and reports
the service not ready while it cannot make progress.

A message that quotes a case reference other than its conversation's case is attached to the quoted
case, wherever that case's conversation lives: :class:`~switchboard_dispatcher.case_directory.CaseDirectory`
looks the case and its owner up in Kafka (bounded, cached, nothing to rebuild) before the decision.
Up to :data:`MAX_QUOTED_LOOKUPS` quoted references are tried per message, in the order quoted; the
first that names a case is the one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiokafka import TopicPartition
from pydantic import BaseModel

from switchboard_common.consume_loop import Processor, RetryLater
from switchboard_common.events import (
    CASE_ESCALATED,
    CASE_OPENED,
    INCIDENT_DETECTED,
    MESSAGE_CLASSIFIED,
    MESSAGE_ROUTED,
    EventSpec,
    InvalidMessage,
    OutgoingRecord,
    decode_event,
    encode_event,
)
from switchboard_common.events.envelope import ConsumedRecord, Event
from switchboard_common.events.models import ClassifiedMessage, Incident
from switchboard_common.partition_reader import read_partitions_since
from switchboard_common.settings import KafkaSettings
from switchboard_common.topics import ESCALATIONS, INCIDENTS, INTAKE_CLASSIFIED, INTAKE_ROUTED, TopicNames
from switchboard_dispatcher.case_directory import CaseDirectory, QuotedCase
from switchboard_dispatcher.decision import Decision, canonical_references, dispatch
from switchboard_dispatcher.metrics import (
    DUPLICATES_SUPPRESSED,
    ESCALATIONS_BY_REASON,
    FOLLOW_UPS,
    INCIDENTS_RAISED,
    RECORDED_ONLY,
    ROUTED,
    STATE_REBUILD_FAILURES,
    STATE_REBUILD_SECONDS,
)
from switchboard_dispatcher.rules import RoutingRules
from switchboard_dispatcher.state import DispatcherState, PartitionState, RoutedFacts, StateWindows

log = logging.getLogger(__name__)

SOURCE = "switchboard/dispatcher"
MAX_QUOTED_LOOKUPS = 3

M = TypeVar("M", bound=BaseModel)


def utc_now() -> datetime:
    return datetime.now(UTC)


class DispatcherProcessor(Processor):
    """Routes ``intake.classified.v1`` to ``intake.routed.v1``, department topics, escalations and incidents."""

    def __init__(
        self,
        *,
        kafka: KafkaSettings,
        rules: RoutingRules,
        windows: StateWindows,
        incident_partitions: int = 1,
        rebuild_timeout_s: float = 120.0,
        clock: Callable[[], datetime] = utc_now,
        directory: CaseDirectory | None = None,
    ) -> None:
        self.names = TopicNames(kafka.topic_prefix)
        self._input = self.names(INTAKE_CLASSIFIED)
        self._routed = self.names(INTAKE_ROUTED)
        self._incidents = self.names(INCIDENTS)
        self.inputs = {self._input: [MESSAGE_CLASSIFIED]}
        self.rules = rules
        self.state = DispatcherState(windows)
        self._kafka = kafka
        self._incident_partitions = incident_partitions
        self._rebuild_timeout_s = rebuild_timeout_s
        self._clock = clock
        self.directory = directory or CaseDirectory(kafka)

    # -- the business step -----------------------------------------------------------------------

    async def process(self, event: Event[Any], record: ConsumedRecord) -> Sequence[OutgoingRecord]:
        partition = record.partition
        if partition not in self.state.partitions:
            raise RetryLater(f"the state of {record.topic}[{partition}] is not rebuilt yet")
        classified: ClassifiedMessage = event.data
        quoted = await self._quoted_case(classified, partition)
        config = self.rules.current
        now = self._clock()
        decision = dispatch(classified, self.state, config, now, partition=partition, quoted=quoted)
        if decision.is_duplicate:
            DUPLICATES_SUPPRESSED.inc()
            log.info(
                "duplicate message not routed again",
                extra={"message_event_id": decision.message_event_id, "partition": partition, "offset": record.offset},
            )
            return ()
        _count(decision)
        self._remember_opened(decision)
        return self._records(decision, event.traceparent)

    async def _quoted_case(self, classified: ClassifiedMessage, partition: int) -> QuotedCase | None:
        """The case the message quotes, when that is not its own conversation's case (see the docstring)."""
        message = classified.message
        references = canonical_references(message.thread.quoted_case_references)
        if not references:
            return None
        memory = self.state.partition(partition)
        if message.event_id in memory.seen:
            return None  # a duplicate: nothing to decide
        own = memory.conversations.get(message.conversation_id)
        for reference in references[:MAX_QUOTED_LOOKUPS]:
            if own is not None and reference == own.case_reference:
                return None  # the conversation's own case: it continues as before
            found = await self.directory.find(reference)
            if found is not None:
                return found
        return None

    def _remember_opened(self, decision: Decision) -> None:
        routed = decision.routed
        assert routed is not None
        if not routed.routing.is_follow_up and routed.routing.department is not None:
            self.directory.remember(routed.routing.case_reference, routed.routing.department)

    def _records(self, decision: Decision, traceparent: str | None) -> list[OutgoingRecord]:
        routed = decision.routed
        assert routed is not None
        key = routed.message.conversation_id
        reference = routed.routing.case_reference
        records = [
            encode_event(
                MESSAGE_ROUTED,
                topic=self._routed,
                event_id=routed.event_id,
                source=SOURCE,
                key=key,
                data=routed,
                time=routed.routing.routed_at,
                subject=reference,
                traceparent=traceparent,
            )
        ]
        if decision.department_case is not None:
            case = decision.department_case
            records.append(
                encode_event(
                    CASE_OPENED,
                    topic=self.names.department(case.department),
                    event_id=case.event_id,
                    source=SOURCE,
                    key=key,
                    data=case,
                    time=case.routed_at,
                    subject=reference,
                    traceparent=traceparent,
                )
            )
        if decision.escalation is not None:
            records.append(
                encode_event(
                    CASE_ESCALATED,
                    topic=self.names(ESCALATIONS),
                    event_id=decision.escalation.event_id,
                    source=SOURCE,
                    key=key,
                    data=decision.escalation,
                    time=decision.escalation.routed_at,
                    subject=reference,
                    traceparent=traceparent,
                )
            )
        if decision.incident is not None:
            incident = decision.incident
            records.append(
                encode_event(
                    INCIDENT_DETECTED,
                    topic=self._incidents,
                    event_id=incident.incident_id,
                    source=SOURCE,
                    key=incident.topic.value,
                    data=incident,
                    time=routed.routing.routed_at,
                    subject=incident.topic.value,
                    traceparent=traceparent,
                )
            )
        return records

    async def tick(self) -> Sequence[OutgoingRecord]:
        try:
            self.rules.poll()
        except Exception:  # a rules check must never stop routing with the rules in force
            log.exception("checking the routing rules file failed; the rules in force stay")
        return ()

    # -- state -----------------------------------------------------------------------------------

    async def on_assigned(self, partitions: Collection[TopicPartition]) -> None:
        await self._rebuild({tp.partition for tp in partitions if tp.topic == self._input})

    async def on_revoked(self, partitions: Collection[TopicPartition]) -> None:
        numbers = {tp.partition for tp in partitions if tp.topic == self._input}
        if numbers:
            self.state.drop(numbers)

    async def _rebuild(self, numbers: set[int]) -> None:
        if not numbers:
            return
        started = time.perf_counter()
        try:
            rebuilt, incidents = await self._read_back(numbers)
        except Exception:  # the loop keeps these partitions paused and retries
            STATE_REBUILD_FAILURES.inc()
            raise
        self.state.adopt(rebuilt, incidents, incidents=self.rules.current.incidents)
        elapsed = time.perf_counter() - started
        STATE_REBUILD_SECONDS.observe(elapsed)
        log.info(
            "state rebuilt from intake.routed.v1",
            extra={
                "partitions": sorted(numbers),
                "seconds": round(elapsed, 3),
                "message_ids": sum(len(rebuilt[n].seen) for n in rebuilt),
                "conversations": sum(len(rebuilt[n].conversations) for n in rebuilt),
                "open_incidents": len(self.state.incidents),
            },
        )

    async def _read_back(self, numbers: set[int]) -> tuple[dict[int, PartitionState], list[Incident]]:
        now = self._clock()
        incident_policy = self.rules.current.incidents
        since = self.state.windows.rebuild_from(now, incident_policy)
        rebuilt = {number: PartitionState() for number in numbers}
        incidents: list[Incident] = []
        partitions = [TopicPartition(self._routed, n) for n in sorted(numbers)]
        partitions += [TopicPartition(self._incidents, n) for n in range(self._incident_partitions)]
        async for batch in read_partitions_since(
            self._kafka, partitions, int(since.timestamp() * 1000), timeout_s=self._rebuild_timeout_s
        ):
            for record in batch:
                if record.topic == self._incidents:
                    incident = _decode(record, INCIDENT_DETECTED)
                    if incident is not None:
                        incidents.append(incident)
                    continue
                routed = _decode(record, MESSAGE_ROUTED)
                if routed is not None:
                    rebuilt[record.partition].record(
                        RoutedFacts.of(routed), now=now, windows=self.state.windows, incidents=incident_policy
                    )
                    if not routed.routing.is_follow_up and routed.routing.department is not None:
                        self.directory.remember(routed.routing.case_reference, routed.routing.department)
        return rebuilt, incidents


def _decode(record: ConsumedRecord, spec: EventSpec[M]) -> M | None:
    try:
        data: M = decode_event(record, [spec]).data
        return data
    except InvalidMessage as exc:  # nothing of ours should be invalid; never let one record block a rebuild
        log.warning(
            "skipping an unreadable record while rebuilding state",
            extra={"topic": record.topic, "partition": record.partition, "offset": record.offset, "reason": exc.reason},
        )
        return None


def _count(decision: Decision) -> None:
    routed = decision.routed
    assert routed is not None
    routing = routed.routing
    if routing.department is None:
        RECORDED_ONLY.inc()
    else:
        ROUTED.labels(routing.department).inc()
    if routing.is_follow_up:
        FOLLOW_UPS.inc()
    for reason in routing.escalation_reasons:
        ESCALATIONS_BY_REASON.labels(reason.value).inc()
    if decision.incident is not None:
        INCIDENTS_RAISED.labels(decision.incident.topic.value).inc()
        log.warning(
            "incident raised: complaints are surging",
            extra={
                "incident_id": decision.incident.incident_id,
                "topic": decision.incident.topic.value,
                "count": decision.incident.count,
                "window_seconds": decision.incident.window_seconds,
            },
        )
