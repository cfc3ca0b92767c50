"""The notifier's consume-loop step: acknowledge every customer message once, within its channel's SLA;
deliver departments' updates (:mod:`.updates`); take customers' answers to satisfaction requests.

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

Satisfaction answers (a button or link answer the intake marked, or a message that is only a rating
in a conversation with a request waiting) get no acknowledgement: the first answer per request is
published on case.satisfaction.v1 and thanked for; later ones, and answers to no request sent in that
conversation (a forged button value), are recorded and ignored. Requests are known per conversation
from notify.acks.v1 (records of kind survey, written by whichever replica delivered the "resolved"
update): read back on assignment and consumed as they come. A button answer whose request is not
known yet waits ``survey_answer_grace`` for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import TopicPartition

from switchboard_common.case_reference import IntakePosition as Position
from switchboard_common.case_reference import case_reference
from switchboard_common.consume_loop import Processor
from switchboard_common.events import (
    ACK_RECORDED,
    CASE_SATISFIED,
    CASE_UPDATED,
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
    CaseSatisfaction,
    CaseUpdate,
    IntakeMessage,
    RoutedMessage,
)
from switchboard_common.identity import customer_key, derived_event_id
from switchboard_common.language import guess_language
from switchboard_common.partition_reader import read_partitions_since
from switchboard_common.topics import (
    CASE_SATISFACTION,
    CASE_UPDATES,
    INTAKE_MESSAGES,
    INTAKE_ROUTED,
    NOTIFY_ACKS,
    TopicNames,
)
from switchboard_notifier.ack_state import (
    AnswerReason,
    PartitionState,
    PendingAck,
    SuppressReason,
    ack_event,
    ack_record,
    is_answer_record,
    recently_acknowledged,
    suppression,
)
from switchboard_notifier.case_origin import OriginLookup
from switchboard_notifier.channels import Notification, SenderRegistry
from switchboard_notifier.delivery import Deferred, Failed, RetryPolicy, Sent, attempt_delivery
from switchboard_notifier.metrics import ACK_LATENCY, ACKS, PENDING_ACKS, RATING_SCORES, RATINGS, SLA_BREACHES
from switchboard_notifier.settings import NotifierSettings
from switchboard_notifier.surveys import Answer, recognise_answer
from switchboard_notifier.templates import AckContent, AckTemplates, UpdateContent
from switchboard_notifier.updates import UpdateFlow

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
        origins: OriginLookup,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._settings = settings
        self._templates = templates
        self._senders = senders
        self._clock = clock
        self._policy = RetryPolicy(settings.send_timeout, settings.retry_initial, settings.retry_max)
        names = TopicNames(settings.kafka.topic_prefix)
        self._intake_topic = names(INTAKE_MESSAGES)
        self._routed_topic = names(INTAKE_ROUTED)
        self._acks_topic = names(NOTIFY_ACKS)
        self._satisfaction_topic = names(CASE_SATISFACTION)
        self.updates = UpdateFlow(settings, templates, senders, origins, clock=clock)
        self.inputs = {
            self._intake_topic: [MESSAGE_RECEIVED],
            self._routed_topic: [MESSAGE_ROUTED],
            self._acks_topic: [ACK_RECORDED],
            names(CASE_UPDATES): [CASE_UPDATED],
        }
        self._states: defaultdict[int, PartitionState] = defaultdict(PartitionState)
        self._last_prune = clock()

    # -- state ---------------------------------------------------------------------------------

    async def on_assigned(self, partitions: Collection[TopicPartition]) -> None:
        await self.updates.on_assigned([tp.partition for tp in partitions if tp.topic == self.updates.topic])
        pipeline = {tp.partition for tp in partitions if tp.topic != self.updates.topic}
        numbers = sorted(pipeline - set(self._states))
        if not numbers:
            return
        fresh = {n: PartitionState() for n in numbers}
        since = self._clock() - max(self._settings.state_window, self._settings.survey_window)
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
        self.updates.on_revoked([tp.partition for tp in partitions if tp.topic == self.updates.topic])
        for tp in partitions:
            if tp.topic != self.updates.topic:
                self._states.pop(tp.partition, None)
        self._update_pending_gauge()

    def commit_floor(self, partition: TopicPartition) -> int | None:
        if partition.topic == self.updates.topic:
            return self.updates.commit_floor(partition.partition)
        if partition.topic == self._acks_topic:
            return None
        state = self._states.get(partition.partition)
        if state is None:
            return None
        return state.floor(routed=partition.topic == self._routed_topic)

    # -- events --------------------------------------------------------------------------------

    async def process(self, event: Event[Any], record: ConsumedRecord) -> Sequence[OutgoingRecord]:
        if record.topic == self.updates.topic:
            update: CaseUpdate = event.data
            return await self.updates.process(update, record)
        state = self._states[record.partition]
        if record.topic == self._acks_topic:
            outputs = await self._on_ack_record(event.data, state)
        else:
            intake = record.topic == self._intake_topic
            message: IntakeMessage = event.data if intake else event.data.message
            try:
                if intake:
                    outputs = await self._on_message(event.data, record, state)
                else:
                    outputs = await self._on_routed(event.data, record, state)
            finally:
                # Whatever the event changed (routed, answered, an attempt deferred), the entry's due time follows.
                entry = state.pending.get(message.event_id)
                if entry is not None:
                    state.schedule(entry)
        return outputs  # (the pending gauge follows in tick, once per batch)

    async def _on_ack_record(self, ack: AckRecord, state: PartitionState) -> list[OutgoingRecord]:
        """Surveys sent (by any replica) become answerable here; every other record was learned when written."""
        if ack.kind is not AckKind.SURVEY or is_answer_record(ack):
            return []
        state.learn_survey(ack)
        now = self._clock()
        waiting = [
            entry
            for entry in state.pending.values()
            if entry.answer is not None
            and entry.message.conversation_id == ack.conversation_id
            and not entry.retry.backing_off(now)
        ]
        outputs: list[OutgoingRecord] = []
        for entry in waiting:
            try:
                outputs.extend(await self._deliver(state, entry, now))
            finally:
                state.schedule(entry)
        return outputs

    async def _on_message(
        self, message: IntakeMessage, record: ConsumedRecord, state: PartitionState
    ) -> list[OutgoingRecord]:
        if message.event_id in state.handled:
            return []
        entry = state.pending.get(message.event_id)
        if entry is not None:
            if entry.intake_offset is None or record.offset < entry.intake_offset:
                state.hold_offset(entry, record.offset, routed=False)
            return []
        reference = case_reference(Position(record.partition, record.offset))
        answer = self._answer(message, state)
        if answer is not None:
            entry = self._answer_entry(message, answer, reference, state)
            entry.intake_offset = record.offset  # held from here: add_pending takes it in
            self._hold(state, entry)
            return await self._deliver(state, entry, self._clock()) if entry.due(self._clock()) else []
        recipient = recipient_key(message)
        reason = self._suppression(message, state, recipient)
        if reason is not None:
            return [
                self._record(
                    state, message, AckKind.ACK, AckOutcome.SUPPRESSED, reference, reason=reason, recipient=recipient
                )
            ]
        sla = self._settings.sla_for(message.channel)
        self._hold(
            state,
            PendingAck(
                message=message,
                case_reference=reference,
                fallback_at=message.received_at + sla * self._settings.fallback_fraction,
                intake_offset=record.offset,
                recipient=recipient,
            ),
        )
        return []

    async def _on_routed(
        self, routed: RoutedMessage, record: ConsumedRecord, state: PartitionState
    ) -> list[OutgoingRecord]:
        message = routed.message
        if message.event_id in state.handled:
            return []
        entry = state.pending.get(message.event_id)
        answer = entry.answer if entry is not None else None
        if answer is None:
            answer = self._answer(message, state)
            if answer is not None:  # a rating whose request became known after the message was first seen
                if entry is None:
                    entry = self._answer_entry(message, answer, routed.routing.case_reference, state)
                    self._hold(state, entry)
                entry.answer = answer
                entry.fallback_at = self._clock()
        if entry is not None and entry.answer is not None:
            if entry.routed_offset is None:
                state.hold_offset(entry, record.offset, routed=True)
            now = self._clock()
            return await self._deliver(state, entry, now) if entry.due(now) else []
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
            recipient = recipient_key(message)
            reason = self._suppression(message, state, recipient)
            if reason is not None:
                return [
                    self._record(
                        state,
                        message,
                        AckKind.ACK,
                        AckOutcome.SUPPRESSED,
                        routed.routing.case_reference,
                        reason=reason,
                        recipient=recipient,
                    )
                ]
            sla = self._settings.sla_for(message.channel)
            entry = PendingAck(
                message=message,
                case_reference=routed.routing.case_reference,
                fallback_at=message.received_at + sla * self._settings.fallback_fraction,
                recipient=recipient,
            )
            self._hold(state, entry)
        entry.routed = routed
        entry.case_reference = routed.routing.case_reference
        if entry.routed_offset is None:
            state.hold_offset(entry, record.offset, routed=True)
        if entry.retry.next_attempt_at is not None:
            return []  # a delivery is backing off; tick retries it with the full acknowledgement
        return await self._deliver(state, entry, self._clock())

    async def tick(self) -> Sequence[OutgoingRecord]:
        now = self._clock()
        outputs: list[OutgoingRecord] = []
        # Only what is due comes off the partitions' timers (in the order of their pending lists), and only
        # what is past its SLA is looked at for a breach: no pass over everything pending.
        due = [(state, entry) for state in self._states.values() for entry in state.take_due(now)]
        if due:
            try:
                results = await asyncio.gather(*(self._deliver(state, entry, now) for state, entry in due))
            finally:
                for state, entry in due:
                    state.schedule(entry)  # still pending (deferred, or the attempt failed): queued again
            for produced in results:
                outputs.extend(produced)
        for state in self._states.values():
            for entry in state.take_breaching(now):
                self._note_breach(entry, now)
        if now - self._last_prune > timedelta(minutes=5):
            horizon = now - self._settings.state_window
            for state in self._states.values():
                state.forget_before(horizon, now - self._settings.survey_window)
            self._last_prune = now
        self._update_pending_gauge()
        outputs.extend(await self.updates.tick(now))
        return outputs

    # -- satisfaction answers ------------------------------------------------------------------

    def _answer(self, message: IntakeMessage, state: PartitionState) -> Answer | None:
        """The rating this message gives: a button or link answer always (it is decided later); a typed one
        only where a request is open in the conversation (it answers the latest)."""
        answer = recognise_answer(message)
        if answer is None or answer.case_reference is not None:
            return answer
        since = message.received_at - self._settings.survey_window
        case = state.latest_open_survey(message.conversation_id, since)
        return Answer(answer.score, answer.via, case) if case is not None else None

    def _answer_entry(
        self, message: IntakeMessage, answer: Answer, reference: str, state: PartitionState
    ) -> PendingAck:
        assert answer.case_reference is not None
        known = state.survey(message.conversation_id, answer.case_reference) is not None
        # A request written by another replica may not have been read yet: give it a moment.
        decide_at = self._clock() if known else message.received_at + self._settings.survey_answer_grace
        return PendingAck(message=message, case_reference=reference, fallback_at=decide_at, answer=answer)

    def _hold(self, state: PartitionState, entry: PendingAck) -> None:
        """Add a pending entry, with the first-response SLA deadline its breach is measured against."""
        message = entry.message
        state.add_pending(entry, sla_deadline=message.received_at + self._settings.sla_for(message.channel))

    async def _take_answer(self, state: PartitionState, entry: PendingAck, now: datetime) -> list[OutgoingRecord]:
        """Publish the first answer to a request and thank the customer; record the others as ignored."""
        message, answer = entry.message, entry.answer
        assert answer is not None
        assert answer.case_reference is not None
        case = answer.case_reference
        survey = state.survey(message.conversation_id, case)
        if survey is not None and survey.sent_at < message.received_at - self._settings.survey_window:
            survey = None  # too late to answer it
        if survey is None:
            if now < entry.fallback_at:
                return []
            RATINGS.labels(answer.via, "not_requested").inc()
            log.warning(
                "rating for a case not surveyed in this conversation, ignored",
                extra={"channel": message.channel.value, "case_reference": case, "via": answer.via},
            )
            return [self._answer_record(state, message, case, AckOutcome.SUPPRESSED, AnswerReason.NOT_REQUESTED)]
        if survey.answered_by not in (None, message.event_id):
            RATINGS.labels(answer.via, "already_answered").inc()
            log.info("a second rating for a case, ignored", extra={"case_reference": case, "via": answer.via})
            return [self._answer_record(state, message, case, AckOutcome.SUPPRESSED, AnswerReason.ALREADY_ANSWERED)]
        survey.answered_by = message.event_id  # taken: a later answer is a repeat, even while thanks are retried
        language = self._templates.pick_language(
            survey.language,
            message.routing_hints.language,
            otherwise=lambda: guess_language(message.text.new_content),
        )
        sender = self._senders.for_channel(message.reply_to.channel)
        delivered: list[OutgoingRecord] = []
        if answer.via == "link" or sender is None:
            outcome = AckOutcome.SUPPRESSED  # the rating page thanks the customer; or no way to write back
        else:
            thanks = Notification(
                notification_id=derived_event_id(message.event_id, "thanks"),
                kind=AckKind.SURVEY,
                message=message,
                case_reference=case,
                department=None,
                language=language,
                text=self._templates.render_update(
                    "survey_thanks",
                    language,
                    UpdateContent(case, None, message.customer.display_name),
                    message.reply_to.channel,
                ),
            )
            result = await attempt_delivery(sender, thanks, entry.retry, self._policy, self._clock)
            if isinstance(result, Deferred):
                return []
            if isinstance(result, Failed):
                log.warning("thanks for a rating not delivered", extra={"reason": result.reason})
                outcome = AckOutcome.FAILED
            else:
                outcome = AckOutcome.SENT
                delivered = list(result.delivery.records)
        RATINGS.labels(answer.via, "recorded").inc()
        RATING_SCORES.labels(str(answer.score)).inc()
        rating = CaseSatisfaction(
            event_id=derived_event_id(message.event_id, "satisfaction"),
            case_reference=case,
            score=answer.score,
            via=answer.via,
            channel=message.channel,
            conversation_id=message.conversation_id,
            message_event_id=message.event_id,
            answered_at=message.received_at,
        )
        return [
            *delivered,
            encode_event(
                CASE_SATISFIED,
                topic=self._satisfaction_topic,
                event_id=rating.event_id,
                source=SOURCE,
                key=case,
                data=rating,
            ),
            self._answer_record(
                state, message, case, outcome, AnswerReason.RECORDED, language=language, attempts=entry.retry.attempts
            ),
        ]

    def _answer_record(
        self,
        state: PartitionState,
        message: IntakeMessage,
        case: str,
        outcome: AckOutcome,
        reason: AnswerReason,
        **extra: Any,
    ) -> OutgoingRecord:
        return self._record(state, message, AckKind.SURVEY, outcome, case, reason=reason.value, **extra)

    # -- delivering ----------------------------------------------------------------------------

    async def _deliver(self, state: PartitionState, entry: PendingAck, now: datetime) -> list[OutgoingRecord]:
        message = entry.message
        if entry.answer is None:
            answer = self._answer(message, state)
            if answer is not None:  # a typed rating whose request became known while it waited
                entry.answer = answer
        if entry.answer is not None:
            return await self._take_answer(state, entry, now)
        sender = self._senders.for_channel(message.reply_to.channel)
        recipient = entry.recipient
        if recipient is None:
            recipient = entry.recipient = recipient_key(message)
        held_back: SuppressReason | None = None
        if recently_acknowledged(state, message, self._settings.conversation_window):
            held_back = SuppressReason.CONVERSATION_RECENTLY_ACKNOWLEDGED
        elif self._recipient_recent(recipient, now) >= self._settings.recipient_limit:
            held_back = SuppressReason.RECIPIENT_LIMIT
        if held_back is not None or sender is None:
            reason = held_back or SuppressReason.NO_SENDER
            return [
                self._record(
                    state,
                    message,
                    entry.kind,
                    AckOutcome.SUPPRESSED,
                    entry.case_reference,
                    reason=reason,
                    recipient=recipient,
                )
            ]
        notification = self._render(entry)
        result = await attempt_delivery(sender, notification, entry.retry, self._policy, self._clock)
        if isinstance(result, Deferred):
            self._note_breach(entry, now)
            return []
        if isinstance(result, Failed):
            return [
                self._record(
                    state,
                    message,
                    entry.kind,
                    AckOutcome.FAILED,
                    entry.case_reference,
                    reason=result.reason,
                    language=notification.language,
                    department=notification.department,
                    attempts=entry.retry.attempts,
                    recipient=recipient,
                )
            ]
        assert isinstance(result, Sent)
        self._note_breach(entry, result.at)
        ack = self._record(
            state,
            message,
            entry.kind,
            AckOutcome.SENT,
            entry.case_reference,
            language=notification.language,
            department=notification.department,
            attempts=entry.retry.attempts,
            recorded_at=result.at,
            recipient=recipient,
        )
        return [*result.delivery.records, ack]

    def _render(self, entry: PendingAck) -> Notification:
        message = entry.message
        routed = entry.routed
        language = self._templates.pick_language(
            message.routing_hints.language,  # the customer's explicit choice (IVR keypad) first
            routed.classification.language if routed else None,
            otherwise=lambda: guess_language(message.text.new_content, message.language_hint),
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

    def _suppression(self, message: IntakeMessage, state: PartitionState, recipient: str) -> SuppressReason | None:
        return suppression(
            message,
            now=self._clock(),
            state=state,
            conversation_window=self._settings.conversation_window,
            max_age=self._settings.max_ack_age,
            has_sender=self._senders.for_channel(message.reply_to.channel) is not None,
            recipient_recent=self._recipient_recent(recipient, self._clock()),
            recipient_limit=self._settings.recipient_limit,
        )

    def _recipient_recent(self, recipient: str, now: datetime) -> int:
        """Messages sent to this reply address (its ``recipient_key``) within the window, over every partition
        held here.

        Conversations of one address spread over partitions, so the count spans all of this instance's
        partitions; it is rebuilt from notify.acks.v1 with them, so a restart does not reset it.
        """
        since = now - self._settings.recipient_window
        count = 0
        for state in self._states.values():
            count += state.sent_to_recipient_since(recipient, since)
        return count

    def _note_breach(self, entry: PendingAck, now: datetime) -> None:
        if entry.answer is not None:
            return  # a rating is thanked for, not acknowledged: no first-response SLA
        deadline = entry.message.received_at + self._settings.sla_for(entry.message.channel)
        if not entry.breach_recorded and now > deadline:
            entry.breach_recorded = True
            SLA_BREACHES.labels(entry.message.channel.value).inc()
            log.warning(
                "acknowledgement SLA broken",
                extra={
                    "channel": entry.message.channel.value,
                    "event_id": entry.message.event_id,
                    "attempts": entry.retry.attempts,
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
        recipient: str | None = None,
    ) -> OutgoingRecord:
        """The ack record about ``message`` (``recipient``: its ``recipient_key`` when already worked out)."""
        when = recorded_at or self._clock()
        latency = when - message.received_at
        ack = ack_record(
            message,
            kind,
            outcome,
            event_id=derived_event_id(message.event_id, "ack-record"),
            case_reference=reference,
            received_at=message.received_at,
            recorded_at=when,
            sla=self._settings.sla_for(message.channel),
            reason=str(reason) if reason is not None else None,
            language=language,
            department=department,
            recipient_key=recipient if recipient is not None else recipient_key(message),
            attempts=attempts,
        )
        state.remember(ack)
        ACKS.labels(message.channel.value, kind.value, outcome.value).inc()
        if outcome is AckOutcome.SENT:
            ACK_LATENCY.labels(message.channel.value).observe(latency.total_seconds())
        return ack_event(self._acks_topic, ack, SOURCE)

    async def close(self) -> None:
        """Release what the processor holds open (the case-origin reader)."""
        await self.updates.close()

    def _update_pending_gauge(self) -> None:
        PENDING_ACKS.set(sum(len(s.pending) for s in self._states.values()))
