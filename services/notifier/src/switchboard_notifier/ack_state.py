"""What the notifier knows about one partition: messages awaiting acknowledgement and those handled,
and the satisfaction requests waiting for an answer in its conversations.

Pure data and decisions, no I/O. The processor keeps one :class:`PartitionState` per partition
number it owns (intake.messages.v1, intake.routed.v1 and notify.acks.v1 are co-partitioned by
conversation id) and rebuilds ``handled``, ``conversation_acked_at`` and ``surveys`` from
notify.acks.v1 when a partition is assigned.

Records of kind ``survey`` on notify.acks.v1 are of two sorts: a satisfaction request sent for a case
(written by whichever replica delivered the case's "resolved" update; ``reason`` None when sent), and
the handling of a customer's answer to one (``message_event_id`` the answer; ``reason`` one of
:class:`AnswerReason`). An answer's record marks the message handled, so it is never acknowledged and
never counted twice; a recorded one (sent or failed thanks) also marks the request answered.
"""

from __future__ import annotations

import bisect
import heapq
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from operator import attrgetter

from switchboard_common.events import ACK_RECORDED, OutgoingRecord, encode_event
from switchboard_common.events.models import (
    AckKind,
    AckOutcome,
    AckRecord,
    IntakeMessage,
    Language,
    RoutedMessage,
)
from switchboard_common.pii import mask_handle
from switchboard_notifier.delivery import Retrying
from switchboard_notifier.surveys import Answer


class AnswerReason(StrEnum):
    """How a customer's answer to a satisfaction request was taken (the ``reason`` of its survey record)."""

    RECORDED = "satisfaction_recorded"
    NOT_REQUESTED = "satisfaction_not_requested"
    ALREADY_ANSWERED = "satisfaction_already_answered"


ANSWER_REASONS = frozenset(AnswerReason)


def is_answer_record(record: AckRecord) -> bool:
    """Whether a survey record is the handling of an answer (rather than a request sent)."""
    return record.kind is AckKind.SURVEY and record.reason is not None and record.reason in ANSWER_REASONS


@dataclass(slots=True)
class PendingAck:
    """A customer message whose acknowledgement (or, for a rating, whose thanks) is not delivered yet."""

    message: IntakeMessage
    case_reference: str
    fallback_at: datetime
    intake_offset: int | None = None
    """Where its message sits in intake.messages.v1 (set through :meth:`PartitionState.hold_offset`)."""
    routed: RoutedMessage | None = None
    routed_offset: int | None = None
    """Where its routed event sits in intake.routed.v1 (set through :meth:`PartitionState.hold_offset`)."""
    retry: Retrying = field(default_factory=Retrying)
    breach_recorded: bool = False
    answer: Answer | None = None
    """Set when the message is a rating: it is thanked for, not acknowledged."""
    recipient: str | None = field(default=None, compare=False, repr=False)
    """The per-address limit's key of the reply address, once worked out (see ``recipient_key``)."""
    added: int = field(default=0, compare=False, repr=False)
    """Its place among its partition's pending entries (the order they were added in)."""
    timer_at: datetime | None = field(default=None, compare=False, repr=False)
    """The due time it is queued under in its partition's timers (None: not queued)."""

    @property
    def kind(self) -> AckKind:
        if self.answer is not None:
            return AckKind.SURVEY
        return AckKind.ACK if self.routed is not None else AckKind.GENERIC_ACK

    def due(self, now: datetime) -> bool:
        """Whether a delivery should be attempted now (an answer: whether it can be decided now)."""
        if self.retry.next_attempt_at is not None:
            return now >= self.retry.next_attempt_at
        return self.routed is not None or now >= self.fallback_at

    def due_at(self) -> datetime:
        """The moment from which :meth:`due` holds: ``due(now)`` is ``now >= due_at()``."""
        if self.retry.next_attempt_at is not None:
            return self.retry.next_attempt_at
        return ALWAYS if self.routed is not None else self.fallback_at


_ADDED = attrgetter("added")

ALWAYS = datetime.min.replace(tzinfo=UTC)
"""The due time of work that is due at once."""

_COMPACT_SLACK = 1024
"""Stale timer entries tolerated beyond the live ones before the queues are swept."""


@dataclass(slots=True)
class Survey:
    """A satisfaction request sent in a conversation, and the answer that was taken (its message id)."""

    sent_at: datetime
    language: Language | None = None
    answered_by: str | None = None


@dataclass(slots=True)
class PartitionState:
    """Pending and handled messages of one partition number."""

    pending: dict[str, PendingAck] = field(default_factory=dict)
    handled: dict[str, datetime] = field(default_factory=dict)
    conversation_acked_at: dict[str, datetime] = field(default_factory=dict)
    recipient_sent_at: dict[str, list[datetime]] = field(default_factory=dict)
    """When acknowledgements went to each recipient key, in time order: the per-address limit counts these."""
    surveys: dict[str, dict[str, Survey]] = field(default_factory=dict)
    """Satisfaction requests per conversation id, by case reference."""
    timers: list[tuple[datetime, int, PendingAck]] = field(default_factory=list, repr=False)
    """Pending entries by due time (a heap). Superseded and handled entries are skipped when they come up:
    an entry counts only while it is pending and queued under its ``timer_at``."""
    sla_timers: list[tuple[datetime, int, PendingAck]] = field(default_factory=list, repr=False)
    """Pending entries by first-response SLA deadline (a heap), for the breach metric."""
    held: tuple[list[tuple[int, str]], list[tuple[int, str]]] = field(default_factory=lambda: ([], []), repr=False)
    """The offsets pending entries hold back from the commit, intake's and routed's (heaps of offset and
    event id). One counts only while its entry is pending and still holds that offset."""
    _added: int = field(default=0, init=False, repr=False)
    _queued: int = field(default=0, init=False, repr=False)

    def add_pending(self, entry: PendingAck, sla_deadline: datetime | None = None) -> None:
        """Hold ``entry`` until it is handled: it comes up in :meth:`take_due` when due, and in
        :meth:`take_breaching` once past ``sla_deadline``."""
        self._added += 1
        entry.added = self._added
        entry.timer_at = None
        self.pending[entry.message.event_id] = entry
        for routed, offset in ((False, entry.intake_offset), (True, entry.routed_offset)):
            if offset is not None:
                self.hold_offset(entry, offset, routed=routed)
        self._queue(entry)
        if sla_deadline is not None:
            self._queued += 1
            heapq.heappush(self.sla_timers, (sla_deadline, self._queued, entry))
        self._sweep_if_outgrown()

    def is_pending(self, entry: PendingAck) -> bool:
        return self.pending.get(entry.message.event_id) is entry

    def schedule(self, entry: PendingAck) -> None:
        """Re-queue a pending entry whose due time may have changed (routed, rescheduled after an attempt);
        nothing for an entry no longer pending. Call it after anything that changes what ``due`` answers."""
        if self.is_pending(entry) and entry.timer_at != entry.due_at():
            self._queue(entry)

    def take_due(self, now: datetime) -> list[PendingAck]:
        """The pending entries due at ``now``, in the order they were added (as ``pending`` lists them).

        They leave the timers: :meth:`schedule` re-queues one that is still pending after its attempt.
        """
        timers = self.timers
        due: list[PendingAck] = []
        while timers and timers[0][0] <= now:
            at, _, entry = heapq.heappop(timers)
            if entry.timer_at != at or not self.is_pending(entry):
                continue  # superseded by a later schedule, or handled
            entry.timer_at = None
            if entry.due(now):
                due.append(entry)
            else:
                self._queue(entry)
        if len(due) > 1:
            due.sort(key=_ADDED)
        return due

    def take_breaching(self, now: datetime) -> list[PendingAck]:
        """The entries still pending whose SLA deadline is before ``now``, in the order they were added; each
        comes up once (the processor records a breach at most once per entry)."""
        timers = self.sla_timers
        late: list[PendingAck] = []
        while timers and timers[0][0] < now:
            entry = heapq.heappop(timers)[2]
            if self.is_pending(entry):
                late.append(entry)
        if len(late) > 1:
            late.sort(key=_ADDED)
        return late

    def _queue(self, entry: PendingAck) -> None:
        at = entry.due_at()
        entry.timer_at = at
        self._queued += 1
        heapq.heappush(self.timers, (at, self._queued, entry))

    def _sweep_if_outgrown(self) -> None:
        """Drop what the heaps hold for entries no longer pending (or queued, or holding, anew since) once
        they outgrow what is pending: bounded memory. Until then such items are skipped when they come up."""
        limit = 4 * len(self.pending) + _COMPACT_SLACK
        if len(self.timers) + len(self.sla_timers) <= limit and max(map(len, self.held)) <= limit:
            return
        self.timers = [t for t in self.timers if t[2].timer_at == t[0] and self.is_pending(t[2])]
        heapq.heapify(self.timers)
        self.sla_timers = [t for t in self.sla_timers if self.is_pending(t[2])]
        heapq.heapify(self.sla_timers)
        for routed, heap in enumerate(self.held):
            heap[:] = {h for h in heap if self._holds(*h, routed=bool(routed))}
            heapq.heapify(heap)

    def drop_pending(self, event_id: str) -> PendingAck | None:
        return self.pending.pop(event_id, None)

    def remember(self, record: AckRecord) -> None:
        """Take in an ack record (read back on assignment, or just produced)."""
        if record.kind is AckKind.SURVEY:
            self.learn_survey(record)
            return
        if record.kind in (AckKind.ACK, AckKind.GENERIC_ACK):
            self.handled[record.message_event_id] = record.recorded_at
            self.drop_pending(record.message_event_id)
            if record.outcome is AckOutcome.SENT:
                previous = self.conversation_acked_at.get(record.conversation_id)
                if previous is None or record.recorded_at > previous:
                    self.conversation_acked_at[record.conversation_id] = record.recorded_at
        if record.outcome is AckOutcome.SENT and record.recipient_key:
            times = self.recipient_sent_at.setdefault(record.recipient_key, [])
            if times and record.recorded_at < times[-1]:
                bisect.insort_right(times, record.recorded_at)
            else:
                times.append(record.recorded_at)

    def learn_survey(self, record: AckRecord) -> None:
        """Take in a survey record: a request sent (now waiting for an answer), or an answer handled."""
        if record.kind is not AckKind.SURVEY or record.case_reference is None:
            return
        if is_answer_record(record):
            self.handled[record.message_event_id] = record.recorded_at
            self.drop_pending(record.message_event_id)
            survey = self.survey(record.conversation_id, record.case_reference)
            if record.reason == AnswerReason.RECORDED and survey is not None and survey.answered_by is None:
                survey.answered_by = record.message_event_id
            return
        if record.outcome is AckOutcome.SENT:
            cases = self.surveys.setdefault(record.conversation_id, {})
            known = cases.get(record.case_reference)
            if known is None:
                cases[record.case_reference] = Survey(sent_at=record.recorded_at, language=record.language)
            elif record.recorded_at > known.sent_at:
                known.sent_at = record.recorded_at

    def survey(self, conversation_id: str, case_reference: str) -> Survey | None:
        return self.surveys.get(conversation_id, {}).get(case_reference)

    def latest_open_survey(self, conversation_id: str, since: datetime) -> str | None:
        """The case of the most recent unanswered request in the conversation sent after ``since``."""
        open_cases = [
            (survey.sent_at, case)
            for case, survey in self.surveys.get(conversation_id, {}).items()
            if survey.answered_by is None and survey.sent_at >= since
        ]
        return max(open_cases)[1] if open_cases else None

    def sent_to_recipient_since(self, recipient_key: str, since: datetime) -> int:
        """How many acknowledgements and notifications went to this recipient since ``since``."""
        times = self.recipient_sent_at.get(recipient_key)
        return len(times) - bisect.bisect_left(times, since) if times else 0

    def hold_offset(self, entry: PendingAck, offset: int, *, routed: bool) -> None:
        """``entry``'s record sits at ``offset`` of intake.routed.v1 (``routed``) or intake.messages.v1: the
        commit stays below it while the entry is pending. The only way those offsets change on a pending entry."""
        if routed:
            entry.routed_offset = offset
        else:
            entry.intake_offset = offset
        heapq.heappush(self.held[routed], (offset, entry.message.event_id))
        self._sweep_if_outgrown()

    def floor(self, *, routed: bool) -> int | None:
        """Lowest offset still held in intake.messages.v1 (or intake.routed.v1) for pending work.

        The smallest hold whose entry is pending and still holds it; the ones passed on the way (handled
        entries, offsets superseded) are dropped, so a commit costs no pass over everything pending.
        """
        heap = self.held[routed]
        while heap:
            if self._holds(*heap[0], routed=routed):
                return heap[0][0]
            heapq.heappop(heap)
        return None

    def _holds(self, offset: int, event_id: str, *, routed: bool) -> bool:
        """Whether the pending entry of ``event_id`` still holds ``offset``."""
        entry = self.pending.get(event_id)
        return entry is not None and (entry.routed_offset if routed else entry.intake_offset) == offset

    def forget_before(self, horizon: datetime, survey_horizon: datetime | None = None) -> None:
        """Drop handled ids and conversation times older than the state window, and requests that can no
        longer be answered (bounded memory)."""
        self.handled = {k: v for k, v in self.handled.items() if v >= horizon}
        if survey_horizon is not None:
            kept = {
                conversation: {case: s for case, s in cases.items() if s.sent_at >= survey_horizon}
                for conversation, cases in self.surveys.items()
            }
            self.surveys = {conversation: cases for conversation, cases in kept.items() if cases}
        self.conversation_acked_at = {k: v for k, v in self.conversation_acked_at.items() if v >= horizon}
        recent = {k: [t for t in v if t >= horizon] for k, v in self.recipient_sent_at.items()}
        self.recipient_sent_at = {k: v for k, v in recent.items() if v}


class SuppressReason(StrEnum):
    """Why a message gets no acknowledgement."""

    AUTOMATED = "automated"
    NON_ACTIONABLE = "non_actionable"
    NO_SENDER = "no_sender_for_channel"
    EXPIRED = "expired"
    CONVERSATION_RECENTLY_ACKNOWLEDGED = "conversation_recently_acknowledged"
    OWN_MESSAGE = "own_message"
    RECIPIENT_LIMIT = "recipient_limit_reached"


def recently_acknowledged(state: PartitionState, message: IntakeMessage, window: timedelta) -> bool:
    """The conversation had an acknowledgement less than ``window`` before this message (or after it: the
    customer wrote again before the first acknowledgement went out). A zero window acknowledges every message."""
    last = state.conversation_acked_at.get(message.conversation_id)
    return window > timedelta(0) and last is not None and message.received_at - last < window


def suppression(
    message: IntakeMessage,
    *,
    now: datetime,
    state: PartitionState,
    conversation_window: timedelta,
    max_age: timedelta,
    has_sender: bool,
    recipient_recent: int = 0,
    recipient_limit: int | None = None,
) -> SuppressReason | None:
    """Why this message must not be acknowledged, or None when it should be."""
    if message.automated is not None:
        return SuppressReason.AUTOMATED
    if not has_sender:
        return SuppressReason.NO_SENDER
    if now - message.received_at > max_age:
        return SuppressReason.EXPIRED
    if recently_acknowledged(state, message, conversation_window):
        return SuppressReason.CONVERSATION_RECENTLY_ACKNOWLEDGED
    if recipient_limit is not None and recipient_recent >= recipient_limit:
        return SuppressReason.RECIPIENT_LIMIT
    return None


def ack_record(
    message: IntakeMessage,
    kind: AckKind,
    outcome: AckOutcome,
    *,
    event_id: str,
    case_reference: str | None,
    received_at: datetime,
    recorded_at: datetime,
    sla: timedelta,
    reason: str | None = None,
    language: Language | None = None,
    department: str | None = None,
    recipient_key: str | None = None,
    attempts: int = 0,
) -> AckRecord:
    """A notify.acks.v1 record about ``message``'s conversation: what went out, how long it took against the SLA."""
    latency = max(timedelta(0), recorded_at - received_at)  # clocks of other hosts may run ahead
    return AckRecord(
        event_id=event_id,
        message_event_id=message.event_id,
        conversation_id=message.conversation_id,
        case_reference=case_reference,
        channel=message.channel,
        kind=kind,
        outcome=outcome,
        reason=reason,
        language=language,
        department=department,
        recipient_masked=mask_handle(message.reply_to.address),
        recipient_key=recipient_key,
        received_at=received_at,
        recorded_at=recorded_at,
        latency_ms=round(latency.total_seconds() * 1000, 3),
        sla_seconds=sla.total_seconds(),
        sla_met=outcome is AckOutcome.SENT and latency <= sla,
        attempts=attempts,
    )


def ack_event(topic: str, ack: AckRecord, source: str) -> OutgoingRecord:
    """The record on notify.acks.v1, keyed (and so partitioned) like the conversation's messages."""
    return encode_event(
        ACK_RECORDED, topic=topic, event_id=ack.event_id, source=source, key=ack.conversation_id, data=ack
    )
