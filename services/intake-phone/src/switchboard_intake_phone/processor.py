"""The call-outcome processor: phone.callbacks.v1 in, voicemails and callback requests out.

It runs on the shared consume loop inside intake-phone. Facts of one call share a key, so one
replica sees all of them, in order. Exactly once, across restarts and replicas:

* a fact's offset is held back (``commit_floor``) until a decision consumed it, so a crash loses
  nothing: the facts are read again from the committed offset and reach the same decision;
* each decision is written back to phone.callbacks.v1 as a ``decided`` fact in the same
  transaction as the message events it produced and the offsets;
* on assignment the partition's ``decided`` facts of the last ``state_window`` are read first, so
  replayed facts (and provider retries of callbacks already decided) produce nothing twice;
* timers (``tick``) decide voicemails whose transcript never came and calls nobody answered. While
  a partition replays what was written before its assignment, its timers run on the log's own time
  (the facts' ``received_at``), not the wall clock: a transcript that followed its recording within
  the timeout before a crash still pairs with it after the restart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import TopicPartition
from prometheus_client import Counter, Gauge

from switchboard_common.consume_loop import Processor
from switchboard_common.events import ConsumedRecord, Event, InvalidMessage, OutgoingRecord, decode_event, encode_event
from switchboard_common.events.models import IntakeMessage, TranscriptStatus
from switchboard_common.intake import IntakePublisher
from switchboard_common.partition_reader import read_partitions_since
from switchboard_common.pii import mask_handle
from switchboard_common.settings import KafkaSettings
from switchboard_common.topics import TopicNames
from switchboard_intake_phone.call_outcomes import CallDecision, CallLedger, Timing
from switchboard_intake_phone.facts import CALL_FACT, CallFact, FactKind, Outcome
from switchboard_intake_phone.ivr import IvrConfig
from switchboard_intake_phone.messages import callback_request_message, transcript_message, voicemail_message

log = logging.getLogger(__name__)

DECISIONS = Counter("switchboard_phone_call_decisions_total", "Call outcomes decided, by outcome.", ["outcome"])
UNTRANSCRIBED = Counter(
    "switchboard_phone_voicemails_untranscribed_total",
    "Voicemails published without a transcript, by cause.",
    ["cause"],
)
PENDING_CALLS = Gauge("switchboard_phone_calls_pending", "Calls with facts awaiting a decision.")
SOURCE = "switchboard/intake-phone"


def utc_now() -> datetime:
    return datetime.now(UTC)


class CallOutcomeProcessor(Processor):
    """See the module docstring."""

    def __init__(
        self,
        *,
        kafka: KafkaSettings,
        ivr: IvrConfig,
        publisher: IntakePublisher,
        timing: Timing,
        state_window: timedelta,
        max_text_chars: int,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._kafka = kafka
        self._ivr = ivr
        self._publisher = publisher
        self._timing = timing
        self._window = state_window
        self._max_chars = max_text_chars
        self._clock = clock
        self._topic = TopicNames(kafka.topic_prefix)(CALL_FACT.topic)
        self.inputs = {self._topic: [CALL_FACT]}
        self._ledgers: dict[int, dict[str, CallLedger]] = {}
        self._replay_end: dict[int, int] = {}
        self._position: dict[int, int] = {}
        self._log_time: dict[int, datetime] = {}
        self._last_prune = clock()

    # -- state ---------------------------------------------------------------------------------

    async def on_assigned(self, partitions: Collection[TopicPartition]) -> None:
        numbers = sorted({tp.partition for tp in partitions} - set(self._ledgers))
        if not numbers:
            return
        fresh: dict[int, dict[str, CallLedger]] = {n: {} for n in numbers}
        since = self._clock() - self._window
        decisions = 0
        ends: dict[int, int] = {}
        async for batch in read_partitions_since(
            self._kafka, [TopicPartition(self._topic, n) for n in numbers], int(since.timestamp() * 1000)
        ):
            for record in batch:
                try:
                    fact: CallFact = decode_event(record, [CALL_FACT]).data
                except InvalidMessage:
                    continue  # the loop dead-letters it when it gets there
                finally:
                    ends[record.partition] = max(ends.get(record.partition, 0), record.offset + 1)
                if fact.kind is FactKind.DECIDED:
                    ledgers = fresh[record.partition]
                    ledgers.setdefault(fact.call_key, CallLedger(fact.call_key)).remember(fact)
                    decisions += 1
        self._ledgers.update(fresh)
        for number in numbers:
            self._replay_end[number] = ends.get(number, 0)
            self._position.pop(number, None)
            self._log_time.pop(number, None)
        log.info("call decisions rebuilt", extra={"partitions": numbers, "decisions": decisions})

    async def on_revoked(self, partitions: Collection[TopicPartition]) -> None:
        for tp in partitions:
            self._ledgers.pop(tp.partition, None)
            self._replay_end.pop(tp.partition, None)
            self._position.pop(tp.partition, None)
            self._log_time.pop(tp.partition, None)
        self._update_gauge()

    def commit_floor(self, partition: TopicPartition) -> int | None:
        ledgers = self._ledgers.get(partition.partition)
        if not ledgers:
            return None
        floors = [floor for ledger in ledgers.values() if (floor := ledger.floor) is not None]
        return min(floors) if floors else None

    # -- events --------------------------------------------------------------------------------

    async def process(self, event: Event[Any], record: ConsumedRecord) -> Sequence[OutgoingRecord]:
        fact: CallFact = event.data
        partition = record.partition
        self._position[partition] = record.offset + 1
        if partition not in self._log_time or fact.received_at > self._log_time[partition]:
            self._log_time[partition] = fact.received_at
        ledgers = self._ledgers.setdefault(partition, {})
        ledger = ledgers.setdefault(fact.call_key, CallLedger(fact.call_key))
        if fact.kind is FactKind.DECIDED:
            ledger.remember(fact)
            return []
        if not ledger.add(fact, record.offset):
            return []
        outputs = self._decide(ledger, self._now(partition))
        self._update_gauge()
        return outputs

    def _now(self, partition: int) -> datetime:
        """The wall clock, or the log's time while the partition replays facts from before its assignment."""
        if self._position.get(partition, 0) < self._replay_end.get(partition, 0):
            return self._log_time.get(partition, self._clock())
        return self._clock()

    async def tick(self) -> Sequence[OutgoingRecord]:
        now = self._clock()
        outputs: list[OutgoingRecord] = []
        for partition, ledgers in self._ledgers.items():
            partition_now = self._now(partition)
            for ledger in ledgers.values():
                due = ledger.due_at(self._timing)
                if due is not None and due <= partition_now:
                    outputs.extend(self._decide(ledger, partition_now))
        if now - self._last_prune > timedelta(minutes=5):
            self._prune(now - self._window)
            self._last_prune = now
        if outputs:
            self._update_gauge()
        return outputs

    # -- deciding ------------------------------------------------------------------------------

    def _decide(self, ledger: CallLedger, now: datetime) -> list[OutgoingRecord]:
        outputs: list[OutgoingRecord] = []
        while (decision := ledger.decide(now, self._timing)) is not None:
            context = ledger.context(decision)
            messages, transcript = self._messages(decision, context)
            decided = ledger.apply(decision, [m.event_id for m in messages], transcript)
            outputs.extend(self._publisher.record(m) for m in messages)
            outputs.append(
                encode_event(
                    CALL_FACT,
                    topic=self._topic,
                    event_id=decided.fact_id,
                    source=SOURCE,
                    key=decided.call_key,
                    data=decided,
                )
            )
            DECISIONS.labels(decision.outcome.value).inc()
            self._log(decision, messages, transcript)
        return outputs

    def _messages(
        self, decision: CallDecision, context: list[CallFact]
    ) -> tuple[list[IntakeMessage], TranscriptStatus | None]:
        if decision.outcome is Outcome.VOICEMAIL:
            message, status = voicemail_message(
                self._ivr, context, decision.recording, decision.transcription, max_chars=self._max_chars
            )
            if status is not TranscriptStatus.TRANSCRIBED:
                UNTRANSCRIBED.labels(status.value).inc()
            return [message], status
        if decision.outcome is Outcome.TRANSCRIPT:
            assert decision.transcription is not None
            return [transcript_message(self._ivr, context, decision.transcription, max_chars=self._max_chars)], None
        if decision.outcome is Outcome.CALLBACK_REQUEST:
            return [callback_request_message(self._ivr, context, max_chars=self._max_chars)], None
        return [], None

    def _log(self, decision: CallDecision, messages: list[IntakeMessage], transcript: TranscriptStatus | None) -> None:
        anchor = decision.covers[0]
        log.info(
            "call decided",
            extra={
                "outcome": decision.outcome.value,
                "call": anchor.call_id,
                "caller": mask_handle(anchor.caller.number) if anchor.caller.number else None,
                "facts": len(decision.covers),
                "events": [m.event_id for m in messages],
                "transcript": transcript.value if transcript else None,
            },
        )

    def _prune(self, horizon: datetime) -> None:
        for ledgers in self._ledgers.values():
            stale = [
                key
                for key, ledger in ledgers.items()
                if not ledger.pending and (ledger.last_activity is None or ledger.last_activity < horizon)
            ]
            for key in stale:
                del ledgers[key]

    def _update_gauge(self) -> None:
        PENDING_CALLS.set(sum(1 for ls in self._ledgers.values() for ledger in ls.values() if ledger.pending))
