"""Departments' updates and replies (case.updates.v1) to the customer, on the channel of the case's first
message; a satisfaction request after "resolved".

For an update the case reference gives the intake position of the case's first message, which holds
the customer's channel, reply target, thread, conversation and language (:mod:`.case_origin`). The
update is rendered from the templates in the customer's language and delivered through the channel
senders with the acknowledgements' retry and outage behaviour (:mod:`.delivery`). Every outcome is a
:class:`CaseNotification` on notify.updates.v1, written to the partition number of the update it
answers (notify.updates.v1 and case.updates.v1 have the same partition count), so that a restarted
notifier reads back what it did for the update partitions it holds:

* exactly once per update: an update (``update_id``) recorded there, or waiting in a case's queue, is
  not sent again. For web chat the outbound message, the record and the offsets are one Kafka
  transaction; for external channels a crash between the provider's acceptance and the record's
  commit is the one window for a repeat (the notification id, which providers use to deduplicate
  where they can, stays the same);
* in order per case: a case's updates wait behind the one being retried; other cases do not;
* the update's input offset is held (commit floor) until its work is recorded.

A reference that does not parse, or names no message, is dead-lettered (``InvalidMessage``); a case
whose first message is past the intake topic's retention is recorded as suppressed
(``case_origin_expired``), and processing goes on.

A "resolved" update is followed by a satisfaction request (:mod:`.surveys`), recorded as a
CaseNotification of kind ``survey`` and, when sent, as an AckRecord of kind ``survey`` on
notify.acks.v1 keyed by the conversation: the replica that holds the conversation learns from it that
an answer may come.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import replace
from datetime import datetime, timedelta

from aiokafka import TopicPartition

from switchboard_common.case_reference import InvalidCaseReference, case_reference, parse_case_reference
from switchboard_common.events import (
    CASE_NOTIFIED,
    ConsumedRecord,
    InvalidMessage,
    OutgoingRecord,
    decode_event,
    encode_event,
)
from switchboard_common.events.models import (
    AckKind,
    AckOutcome,
    CaseNotification,
    CaseStatus,
    CaseUpdate,
    CaseUpdateKind,
    IntakeMessage,
    Language,
)
from switchboard_common.identity import event_id
from switchboard_common.language import guess_language
from switchboard_common.partition_reader import read_partitions_since
from switchboard_common.pii import mask_handle
from switchboard_common.topics import CASE_UPDATES, NOTIFY_ACKS, NOTIFY_UPDATES, TopicNames
from switchboard_notifier.ack_state import ack_event, ack_record
from switchboard_notifier.case_origin import OriginLookup, UnknownCase
from switchboard_notifier.channels import Notification, NotificationAction, SenderRegistry
from switchboard_notifier.delivery import Deferred, Failed, RetryPolicy, attempt_delivery
from switchboard_notifier.metrics import DUPLICATE_UPDATES, PENDING_UPDATES, UPDATE_LATENCY, UPDATES
from switchboard_notifier.settings import NotifierSettings
from switchboard_notifier.surveys import TEMPLATE_KEYS, NoSurvey, no_survey, survey_actions, survey_style
from switchboard_notifier.templates import AckTemplates, UpdateContent
from switchboard_notifier.update_state import PendingUpdate, UpdatePartitionState, work_key

log = logging.getLogger(__name__)

SOURCE = "switchboard/notifier"
ORIGIN_EXPIRED = "case_origin_expired"
AUTOMATED = "automated"
NO_SENDER = "no_sender_for_channel"


def update_event_id(update_id: str, stage: str) -> str:
    """A stable UUID for what the notifier derives from an update (departments' update ids are free-form)."""
    return event_id("case-update", update_id, stage)


def work_kinds(update: CaseUpdate) -> list[AckKind]:
    """The notifications an update makes: its message, then a satisfaction request after "resolved"."""
    main = AckKind.REPLY if update.kind is CaseUpdateKind.REPLY else AckKind.UPDATE
    return [main, AckKind.SURVEY] if update.status is CaseStatus.RESOLVED else [main]


def template_key(update: CaseUpdate) -> str:
    if update.kind is CaseUpdateKind.REPLY:
        return "reply"
    assert update.status is not None
    if update.status is CaseStatus.ACCEPTED and update.expected_at is not None:
        return "update_accepted_expected"
    return f"update_{update.status.value}"


class UpdateFlow:
    """The case.updates.v1 side of the notifier's processor. See the module docstring."""

    def __init__(
        self,
        settings: NotifierSettings,
        templates: AckTemplates,
        senders: SenderRegistry,
        origins: OriginLookup,
        *,
        clock: Callable[[], datetime],
    ) -> None:
        self._settings = settings
        self._templates = templates
        self._senders = senders
        self._origins = origins
        self._clock = clock
        names = TopicNames(settings.kafka.topic_prefix)
        self.topic = names(CASE_UPDATES)
        self._notified_topic = names(NOTIFY_UPDATES)
        self._acks_topic = names(NOTIFY_ACKS)
        self._policy = RetryPolicy(settings.send_timeout, settings.retry_initial, settings.retry_max)
        self._states: defaultdict[int, UpdatePartitionState] = defaultdict(UpdatePartitionState)
        self._last_prune = clock()

    # -- state ---------------------------------------------------------------------------------

    async def on_assigned(self, numbers: Collection[int]) -> None:
        fresh_numbers = sorted(set(numbers) - set(self._states))
        if not fresh_numbers:
            return
        fresh = {n: UpdatePartitionState() for n in fresh_numbers}
        since = self._clock() - self._settings.state_window
        count = 0
        async for batch in read_partitions_since(
            self._settings.kafka,
            [TopicPartition(self._notified_topic, n) for n in fresh_numbers],
            int(since.timestamp() * 1000),
        ):
            for record in batch:
                try:
                    notification: CaseNotification = decode_event(record, [CASE_NOTIFIED]).data
                except InvalidMessage as exc:
                    log.warning("skipping an unreadable notification record", extra={"reason": exc.reason})
                    continue
                fresh[record.partition].remember(notification)
                count += 1
        self._states.update(fresh)
        log.info("update state rebuilt", extra={"partitions": fresh_numbers, "notification_records": count})

    def on_revoked(self, numbers: Collection[int]) -> None:
        for number in numbers:
            self._states.pop(number, None)
        self._update_gauge()

    def commit_floor(self, number: int) -> int | None:
        state = self._states.get(number)
        return state.floor() if state is not None else None

    # -- events --------------------------------------------------------------------------------

    async def process(self, update: CaseUpdate, record: ConsumedRecord) -> list[OutgoingRecord]:
        state = self._states[record.partition]
        try:
            position = parse_case_reference(update.case_reference)
        except InvalidCaseReference as exc:
            raise InvalidMessage(f"invalid case reference: {exc}") from None
        reference = case_reference(position)
        todo = [kind for kind in work_kinds(update) if work_key(update.update_id, kind) not in state.handled]
        if not todo or state.queued(update.update_id):
            DUPLICATE_UPDATES.inc()
            log.info("update seen before, not sent again", extra={"update_id": update.update_id})
            return []
        try:
            origin = await self._origins.find(position)
        except UnknownCase as exc:
            raise InvalidMessage(f"unknown case reference {reference}: {exc.reason}") from None
        if origin is None:
            log.warning(
                "the case's first message is past the intake topic's retention",
                extra={"case_reference": reference, "update_id": update.update_id},
            )
            return [
                self._record(
                    state, record.partition, update, kind, reference, None, AckOutcome.SUPPRESSED, ORIGIN_EXPIRED
                )
                for kind in todo
            ]
        idle = state.head(reference) is None
        for kind in todo:
            state.enqueue(PendingUpdate(update, kind, reference, origin, record.offset))
        outputs = await self._advance(state, record.partition, reference, self._clock()) if idle else []
        self._update_gauge()
        return outputs

    async def tick(self, now: datetime) -> list[OutgoingRecord]:
        work = [
            (state, number, entry.case_reference)
            for number, state in self._states.items()
            for entry in state.heads()
            if entry.due(now)
        ]
        outputs: list[OutgoingRecord] = []
        if work:
            results = await asyncio.gather(*(self._advance(state, n, ref, now) for state, n, ref in work))
            for produced in results:
                outputs.extend(produced)
            self._update_gauge()
        if now - self._last_prune > timedelta(minutes=5):
            for state in self._states.values():
                state.forget_before(now - self._settings.state_window)
            self._last_prune = now
        return outputs

    # -- delivering ----------------------------------------------------------------------------

    async def _advance(
        self, state: UpdatePartitionState, number: int, reference: str, now: datetime
    ) -> list[OutgoingRecord]:
        """Deliver a case's queued work in order until it is done or one piece has to wait."""
        outputs: list[OutgoingRecord] = []
        while (entry := state.head(reference)) is not None and entry.due(now):
            produced = await self._attempt(state, number, entry)
            if produced is None:
                break
            outputs.extend(produced)
            state.pop(reference)
        return outputs

    async def _attempt(
        self, state: UpdatePartitionState, number: int, entry: PendingUpdate
    ) -> list[OutgoingRecord] | None:
        """The records of the entry's outcome, or None when its delivery is deferred."""
        reason = self._suppression(state, entry)
        if reason is not None:
            return [self._entry_record(state, number, entry, AckOutcome.SUPPRESSED, reason)]
        sender = self._senders.for_channel(entry.origin.reply_to.channel)
        assert sender is not None
        notification = self._render(entry)
        result = await attempt_delivery(sender, notification, entry.retry, self._policy, self._clock)
        if isinstance(result, Deferred):
            return None
        if isinstance(result, Failed):
            log.warning(
                "update could not be delivered",
                extra={"case_reference": entry.case_reference, "kind": entry.kind.value, "reason": result.reason},
            )
            return [
                self._entry_record(
                    state, number, entry, AckOutcome.FAILED, result.reason, language=notification.language
                )
            ]
        outputs = [
            *result.delivery.records,
            self._entry_record(state, number, entry, AckOutcome.SENT, None, notification.language, result.at),
        ]
        if entry.kind is AckKind.SURVEY:
            outputs.append(self._survey_request_record(entry, notification.language, result.at))
        return outputs

    def _suppression(self, state: UpdatePartitionState, entry: PendingUpdate) -> str | None:
        origin = entry.origin
        has_sender = self._senders.for_channel(origin.reply_to.channel) is not None
        if entry.kind is not AckKind.SURVEY:
            if origin.automated is not None:
                return AUTOMATED
            return None if has_sender else NO_SENDER
        if work_key(entry.update.update_id, AckKind.UPDATE) not in state.delivered:
            return NoSurvey.RESOLUTION_NOT_DELIVERED
        if entry.case_reference in state.surveyed:
            return NoSurvey.ALREADY_SURVEYED
        return no_survey(origin, has_sender=has_sender, links_configured=self._settings.rating_links is not None)

    def _language(self, origin: IntakeMessage) -> Language:
        return self._templates.pick_language(
            origin.routing_hints.language,
            otherwise=lambda: guess_language(origin.text.new_content, origin.language_hint),
        )

    def _render(self, entry: PendingUpdate) -> Notification:
        origin, update = entry.origin, entry.update
        language = self._language(origin)
        channel = origin.reply_to.channel
        content = UpdateContent(
            case_reference=entry.case_reference,
            department=update.department,
            customer_name=origin.customer.display_name,
            expected_at=update.expected_at,
            message=update.message,
        )
        actions: tuple[NotificationAction, ...] = ()
        prompt = None
        if entry.kind is AckKind.SURVEY:
            style = survey_style(channel)
            key, subject_key = TEMPLATE_KEYS[style], "survey_subject"
            content = replace(content, message=None)
            actions = survey_actions(
                style,
                entry.case_reference,
                self._templates.rating_labels(language, channel),
                conversation_id=origin.conversation_id,
                links=self._settings.rating_links,
                expires_at=self._clock() + self._settings.survey_window,
            )
            prompt = self._templates.text(language, "survey_choose", channel)
        elif entry.kind is AckKind.REPLY:
            key, subject_key = "reply", "reply_subject"
        else:
            key, subject_key = template_key(update), "update_subject"
        text = self._templates.render_update(key, language, content, channel)
        subject = self._templates.render_update(subject_key, language, replace(content, message=None), channel)
        return Notification(
            notification_id=update_event_id(update.update_id, entry.kind.value),
            kind=entry.kind,
            message=origin,
            case_reference=entry.case_reference,
            department=update.department,
            language=language,
            text=text,
            subject=subject,
            actions=actions,
            action_prompt=prompt,
        )

    # -- records -------------------------------------------------------------------------------

    def _entry_record(
        self,
        state: UpdatePartitionState,
        number: int,
        entry: PendingUpdate,
        outcome: AckOutcome,
        reason: str | None,
        language: Language | None = None,
        recorded_at: datetime | None = None,
    ) -> OutgoingRecord:
        return self._record(
            state,
            number,
            entry.update,
            entry.kind,
            entry.case_reference,
            entry.origin,
            outcome,
            reason,
            language=language,
            attempts=entry.retry.attempts,
            recorded_at=recorded_at,
        )

    def _record(
        self,
        state: UpdatePartitionState,
        number: int,
        update: CaseUpdate,
        kind: AckKind,
        reference: str,
        origin: IntakeMessage | None,
        outcome: AckOutcome,
        reason: str | None,
        *,
        language: Language | None = None,
        attempts: int = 0,
        recorded_at: datetime | None = None,
    ) -> OutgoingRecord:
        when = recorded_at or self._clock()
        latency = max(timedelta(0), when - update.sent_at)
        notification = CaseNotification(
            event_id=update_event_id(update.update_id, f"{kind.value}-record"),
            update_id=update.update_id,
            case_reference=reference,
            conversation_id=origin.conversation_id if origin else None,
            channel=origin.channel if origin else None,
            kind=kind,
            status=update.status,
            outcome=outcome,
            reason=str(reason) if reason is not None else None,
            language=language,
            recipient_masked=mask_handle(origin.reply_to.address) if origin else None,
            recorded_at=when,
            latency_ms=round(latency.total_seconds() * 1000, 3),
            attempts=attempts,
        )
        state.remember(notification)
        channel = origin.channel.value if origin else "unknown"
        UPDATES.labels(channel, kind.value, outcome.value).inc()
        if outcome is AckOutcome.SENT and kind is not AckKind.SURVEY:
            UPDATE_LATENCY.labels(channel).observe(latency.total_seconds())
        record = encode_event(
            CASE_NOTIFIED,
            topic=self._notified_topic,
            event_id=notification.event_id,
            source=SOURCE,
            key=reference,
            data=notification,
        )
        return replace(record, partition=number)

    def _survey_request_record(self, entry: PendingUpdate, language: Language, sent_at: datetime) -> OutgoingRecord:
        """The request on notify.acks.v1, keyed (and so partitioned) like the conversation's messages."""
        origin = entry.origin
        ack = ack_record(
            origin,
            AckKind.SURVEY,
            AckOutcome.SENT,
            event_id=update_event_id(entry.update.update_id, "survey-request"),
            case_reference=entry.case_reference,
            received_at=entry.update.sent_at,
            recorded_at=sent_at,
            sla=self._settings.sla_for(origin.channel),
            language=language,
            department=entry.update.department,
            attempts=entry.retry.attempts,
        )
        return ack_event(self._acks_topic, ack, SOURCE)

    async def close(self) -> None:
        await self._origins.close()

    def _update_gauge(self) -> None:
        PENDING_UPDATES.set(sum(state.pending for state in self._states.values()))
