"""The notifier's consume-loop step: acknowledge every customer message once, within its channel's SLA.

Inputs (co-partitioned by conversation id): intake.messages.v1 starts each message's SLA clock;
intake.routed.v1 brings the case reference, team and deadline for the full acknowledgement. If the
routed event has not arrived by ``fallback_fraction`` of the SLA, a generic acknowledgement (with the
case reference, which derives from the message's intake position) goes out instead, so a stalled
classifier or dispatcher never breaks the SLA.

Exactly once: the input offsets of a message are held back (``commit_floor``) until its
acknowledgement is delivered and recorded on notify.acks.v1. A restarted or re-assigned notifier
reads notify.acks.v1 back to learn what was handled, and re-reads the held inputs. For web chat the
outbound message, the ack record and the offsets are one Kafka transaction; for external channels a
crash between the provider's acceptance and the record's commit is the one window in which a
customer can get a second acknowledgement.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import TopicPartition

from switchboard_common.case_reference import IntakePosition as Position
from switchboard_common.case_reference import case_reference
from switchboard_common.consume_loop import Processor
from switchboard_common.events import (
    ACK_RECORDED,
    MESSAGE_RECEIVED,
    MESSAGE_ROUTED,
    ConsumedRecord,
    Event,
    InvalidMessage,
    OutgoingRecord,
    decode_event,
    encode_event,
)
from switchboard_common.events.models import (
    AckKind,
    AckOutcome,
    AckRecord,
    IntakeMessage,
    RoutedMessage,
)
from switchboard_common.identity import customer_key, derived_event_id
from switchboard_common.language import guess_language
from switchboard_common.partition_reader import read_partitions_since
from switchboard_common.pii import mask_handle
from switchboard_common.topics import INTAKE_MESSAGES, INTAKE_ROUTED, NOTIFY_ACKS, TopicNames
from switchboard_notifier.ack_state import PartitionState, PendingAck, SuppressReason, retry_delay, suppression
from switchboard_notifier.channels import DeliveryFailed, DeliveryRetryable, Notification, SenderRegistry
from switchboard_notifier.metrics import ACK_LATENCY, ACKS, PENDING_ACKS, SLA_BREACHES
from switchboard_notifier.settings import NotifierSettings
from switchboard_notifier.templates import AckContent, AckTemplates

log = logging.getLogger(__name__)

SOURCE = "switchboard/notifier"
GENERIC_RESPONSE_TIME = timedelta(hours=24)


def utc_now() -> datetime:
    return datetime.now(UTC)


def recipient_key(message: IntakeMessage) -> str:
    """The per-address limit's key: the reply address on its channel, not reversible."""
    return customer_key(message.reply_to.channel.value, message.reply_to.address)


class NotifierProcessor(Processor):
    """See the module docstring."""

    def __init__(
        self,
        settings: NotifierSettings,
        templates: AckTemplates,
        senders: SenderRegistry,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._settings = settings
        self._templates = templates
        self._senders = senders
        self._clock = clock
        names = TopicNames(settings.kafka.topic_prefix)
        self._intake_topic = names(INTAKE_MESSAGES)
        self._routed_topic = names(INTAKE_ROUTED)
        self._acks_topic = names(NOTIFY_ACKS)
        self.inputs = {self._intake_topic: [MESSAGE_RECEIVED], self._routed_topic: [MESSAGE_ROUTED]}
        self._states: dict[int, PartitionState] = {}
        self._last_prune = clock()

    # -- state ---------------------------------------------------------------------------------

    async def on_assigned(self, partitions: Collection[TopicPartition]) -> None:
        numbers = sorted({tp.partition for tp in partitions} - set(self._states))
        if not numbers:
            return
        fresh = {n: PartitionState() for n in numbers}
        since = self._clock() - self._settings.state_window
        count = 0
        async for batch in read_partitions_since(
            self._settings.kafka,
            [TopicPartition(self._acks_topic, n) for n in numbers],
            int(since.timestamp() * 1000),
        ):
            for record in batch:
                try:
                    ack: AckRecord = decode_event(record, [ACK_RECORDED]).data
                except InvalidMessage as exc:
                    log.warning(
                        "skipping an unreadable ack record", extra={"offset": record.offset, "reason": exc.reason}
                    )
                    continue
                fresh[record.partition].remember(ack)
                count += 1
        self._states.update(fresh)
        log.info("notifier state rebuilt", extra={"partitions": numbers, "ack_records": count})

    async def on_revoked(self, partitions: Collection[TopicPartition]) -> None:
        for tp in partitions:
            self._states.pop(tp.partition, None)
        self._update_pending_gauge()

    def commit_floor(self, partition: TopicPartition) -> int | None:
        state = self._states.get(partition.partition)
        if state is None:
            return None
        return state.floor(routed=partition.topic == self._routed_topic)

    # -- events --------------------------------------------------------------------------------

    async def process(self, event: Event[Any], record: ConsumedRecord) -> Sequence[OutgoingRecord]:
        state = self._states.setdefault(record.partition, PartitionState())
        if record.topic == self._intake_topic:
            outputs = self._on_message(event.data, record, state)
        else:
            outputs = await self._on_routed(event.data, record, state)
        self._update_pending_gauge()
        return outputs

    def _on_message(
        self, message: IntakeMessage, record: ConsumedRecord, state: PartitionState
    ) -> list[OutgoingRecord]:
        if message.event_id in state.handled:
            return []
        entry = state.pending.get(message.event_id)
        if entry is not None:
            if entry.intake_offset is None or record.offset < entry.intake_offset:
                entry.intake_offset = record.offset
            return []
        reference = case_reference(Position(record.partition, record.offset))
        reason = self._suppression(message, state)
        if reason is not None:
            return [self._record(state, message, AckKind.ACK, AckOutcome.SUPPRESSED, reference, reason=reason)]
        sla = self._settings.sla_for(message.channel)
        state.add_pending(
            PendingAck(
                message=message,
                case_reference=reference,
                fallback_at=message.received_at + sla * self._settings.fallback_fraction,
                intake_offset=record.offset,
            )
        )
        return []

    async def _on_routed(
        self, routed: RoutedMessage, record: ConsumedRecord, state: PartitionState
    ) -> list[OutgoingRecord]:
        message = routed.message
        if message.event_id in state.handled:
            return []
        if routed.routing.department is None:
            state.drop_pending(message.event_id)
            return [
                self._record(
                    state,
                    message,
                    AckKind.ACK,
                    AckOutcome.SUPPRESSED,
                    routed.routing.case_reference,
                    reason=SuppressReason.NON_ACTIONABLE,
                )
            ]
        entry = state.pending.get(message.event_id)
        if entry is None:
            reason = self._suppression(message, state)
            if reason is not None:
                return [
                    self._record(
                        state, message, AckKind.ACK, AckOutcome.SUPPRESSED, routed.routing.case_reference, reason=reason
                    )
                ]
            sla = self._settings.sla_for(message.channel)
            entry = PendingAck(
                message=message,
                case_reference=routed.routing.case_reference,
                fallback_at=message.received_at + sla * self._settings.fallback_fraction,
            )
            state.add_pending(entry)
        entry.routed = routed
        entry.case_reference = routed.routing.case_reference
        if entry.routed_offset is None:
            entry.routed_offset = record.offset
        if entry.next_attempt_at is not None:
            return []  # a delivery is backing off; tick retries it with the full acknowledgement
        return await self._deliver(state, entry, self._clock())

    async def tick(self) -> Sequence[OutgoingRecord]:
        now = self._clock()
        outputs: list[OutgoingRecord] = []
        due = [(state, entry) for state in self._states.values() for entry in state.pending.values() if entry.due(now)]
        if due:
            results = await asyncio.gather(*(self._deliver(state, entry, now) for state, entry in due))
            for produced in results:
                outputs.extend(produced)
        for state in self._states.values():
            for entry in state.pending.values():
                self._note_breach(entry, now)
        if now - self._last_prune > timedelta(minutes=5):
            horizon = now - self._settings.state_window
            for state in self._states.values():
                state.forget_before(horizon)
            self._last_prune = now
        if due:
            self._update_pending_gauge()
        return outputs

    # -- delivering ----------------------------------------------------------------------------

    async def _deliver(self, state: PartitionState, entry: PendingAck, now: datetime) -> list[OutgoingRecord]:
        message = entry.message
        last = state.conversation_acked_at.get(message.conversation_id)
        if last is not None and message.received_at - last < self._settings.conversation_window:
            return [
                self._record(
                    state,
                    message,
                    entry.kind,
                    AckOutcome.SUPPRESSED,
                    entry.case_reference,
                    reason=SuppressReason.CONVERSATION_RECENTLY_ACKNOWLEDGED,
                )
            ]
        if self._recipient_recent(message, now) >= self._settings.recipient_limit:
            return [
                self._record(
                    state,
                    message,
                    entry.kind,
                    AckOutcome.SUPPRESSED,
                    entry.case_reference,
                    reason=SuppressReason.RECIPIENT_LIMIT,
                )
            ]
        sender = self._senders.for_channel(message.reply_to.channel)
        if sender is None:
            return [
                self._record(
                    state,
                    message,
                    entry.kind,
                    AckOutcome.SUPPRESSED,
                    entry.case_reference,
                    reason=SuppressReason.NO_SENDER,
                )
            ]
        notification = self._render(entry)
        entry.attempts += 1
        try:
            delivery = await asyncio.wait_for(sender.deliver(notification), self._settings.send_timeout.total_seconds())
        except (DeliveryRetryable, TimeoutError, OSError) as exc:
            retry_after = exc.retry_after if isinstance(exc, DeliveryRetryable) else None
            delay = retry_delay(entry.attempts, self._settings.retry_initial, self._settings.retry_max, retry_after)
            entry.next_attempt_at = now + delay
            log.warning(
                "delivery failed, will retry",
                extra={
                    "channel": message.channel.value,
                    "attempts": entry.attempts,
                    "retry_in_s": delay.total_seconds(),
                    "error": str(exc)[:300],
                },
            )
            self._note_breach(entry, now)
            return []
        except DeliveryFailed as exc:
            return [
                self._record(
                    state,
                    message,
                    entry.kind,
                    AckOutcome.FAILED,
                    entry.case_reference,
                    reason=exc.reason,
                    language=notification.language,
                    department=notification.department,
                    attempts=entry.attempts,
                )
            ]
        sent_at = self._clock()
        self._note_breach(entry, sent_at)
        ack = self._record(
            state,
            message,
            entry.kind,
            AckOutcome.SENT,
            entry.case_reference,
            language=notification.language,
            department=notification.department,
            attempts=entry.attempts,
            recorded_at=sent_at,
        )
        return [*delivery.records, ack]

    def _render(self, entry: PendingAck) -> Notification:
        message = entry.message
        routed = entry.routed
        language = self._templates.pick_language(
            message.routing_hints.language,  # the customer's explicit choice (IVR keypad) first
            routed.classification.language if routed else None,
            guess_language(message.text.new_content, message.language_hint),
        )
        if routed is not None and routed.routing.resolution_due_at is not None:
            response_time = routed.routing.resolution_due_at - message.received_at
        else:
            response_time = GENERIC_RESPONSE_TIME
        department = routed.routing.department if routed else None
        content = AckContent(
            case_reference=entry.case_reference,
            department=department,
            topic=routed.classification.topic if routed else None,
            response_time=response_time,
            customer_name=message.customer.display_name,
        )
        kind = entry.kind
        channel = message.reply_to.channel
        # A text for the kind of contact where the templates have one ("ack_voicemail": "we received your
        # voicemail"), else the kind's general text.
        specific = f"{kind.value}_{message.kind.value}"
        key = specific if self._templates.has(specific, language, channel) else kind.value
        text = self._templates.render(key, language, content, channel)
        subject_key = f"{kind.value}_subject"
        subject = (
            self._templates.render(subject_key, language, content, channel)
            if self._templates.has(subject_key, language, channel)
            else None
        )
        return Notification(
            notification_id=derived_event_id(message.event_id, "ack"),
            kind=kind,
            message=message,
            case_reference=entry.case_reference,
            department=department,
            language=language,
            text=text,
            subject=subject,
        )

    def _suppression(self, message: IntakeMessage, state: PartitionState) -> SuppressReason | None:
        return suppression(
            message,
            now=self._clock(),
            state=state,
            conversation_window=self._settings.conversation_window,
            max_age=self._settings.max_ack_age,
            has_sender=self._senders.for_channel(message.reply_to.channel) is not None,
            recipient_recent=self._recipient_recent(message, self._clock()),
            recipient_limit=self._settings.recipient_limit,
        )

    def _recipient_recent(self, message: IntakeMessage, now: datetime) -> int:
        """Messages sent to this message's reply address within the window, over every partition held here.

        Conversations of one address spread over partitions, so the count spans all of this instance's
        partitions; it is rebuilt from notify.acks.v1 with them, so a restart does not reset it.
        """
        key = recipient_key(message)
        since = now - self._settings.recipient_window
        return sum(state.sent_to_recipient_since(key, since) for state in self._states.values())

    def _note_breach(self, entry: PendingAck, now: datetime) -> None:
        deadline = entry.message.received_at + self._settings.sla_for(entry.message.channel)
        if not entry.breach_recorded and now > deadline:
            entry.breach_recorded = True
            SLA_BREACHES.labels(entry.message.channel.value).inc()
            log.warning(
                "acknowledgement SLA broken",
                extra={
                    "channel": entry.message.channel.value,
                    "event_id": entry.message.event_id,
                    "attempts": entry.attempts,
                },
            )

    def _record(
        self,
        state: PartitionState,
        message: IntakeMessage,
        kind: AckKind,
        outcome: AckOutcome,
        reference: str | None,
        *,
        reason: str | None = None,
        language: Any = None,
        department: str | None = None,
        attempts: int = 0,
        recorded_at: datetime | None = None,
    ) -> OutgoingRecord:
        when = recorded_at or self._clock()
        latency = when - message.received_at
        sla = self._settings.sla_for(message.channel)
        ack = AckRecord(
            event_id=derived_event_id(message.event_id, "ack-record"),
            message_event_id=message.event_id,
            conversation_id=message.conversation_id,
            case_reference=reference,
            channel=message.channel,
            kind=kind,
            outcome=outcome,
            reason=str(reason) if reason is not None else None,
            language=language,
            department=department,
            recipient_masked=mask_handle(message.reply_to.address),
            recipient_key=recipient_key(message),
            received_at=message.received_at,
            recorded_at=when,
            latency_ms=round(latency.total_seconds() * 1000, 3),
            sla_seconds=sla.total_seconds(),
            sla_met=outcome is AckOutcome.SENT and latency <= sla,
            attempts=attempts,
        )
        state.remember(ack)
        ACKS.labels(message.channel.value, kind.value, outcome.value).inc()
        if outcome is AckOutcome.SENT:
            ACK_LATENCY.labels(message.channel.value).observe(latency.total_seconds())
        return encode_event(
            ACK_RECORDED,
            topic=self._acks_topic,
            event_id=ack.event_id,
            source=SOURCE,
            key=message.conversation_id,
            data=ack,
        )

    def _update_pending_gauge(self) -> None:
        PENDING_ACKS.set(sum(len(s.pending) for s in self._states.values()))
