"""What the dispatcher remembers, and how it is rebuilt from its own output.

Services hold no state that Kafka cannot rebuild. Everything here derives from the dispatcher's
record of its decisions, ``intake.routed.v1`` (one :class:`RoutedFacts` per routed message), plus
the incidents it raised (``incidents.v1``). The same transition, :meth:`PartitionState.record`,
applies a decision while the stream is processed and replays a record while state is rebuilt, so
that a rebuilt partition knows exactly what the committed decisions left behind.

State is kept per partition of ``intake.classified.v1`` (which ``intake.routed.v1`` shares: same
key, the conversation id, and the same partition count), so that a revoked partition's state can be
dropped and a newly assigned one rebuilt on its own.

Clocks: the windows that decide something about a message (follow-up, incident surge) are measured
on message receipt times (``received_at``), so a replay decides the same as the live stream. How
long entries are kept (duplicate ids, conversations) is measured on routing times (``routed_at``,
wall clock), which is also how far back a rebuild reads.
"""

from __future__ import annotations

import bisect
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import attrgetter

from switchboard_common.events.models import (
    EscalationReason,
    Incident,
    MessageTopic,
    MessageType,
    RoutedMessage,
)
from switchboard_common.routing import IncidentPolicy


def as_utc(moment: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class StateWindows:
    """How long the dispatcher remembers things, and what counts as a follow-up.

    ``dedup``: a message event id already routed this long ago (routing time) is still suppressed.
    ``follow_up``: a message within this time of its conversation's last activity (receipt time)
    continues the conversation's case. ``case_memory``: how long a conversation's case is remembered
    after its last activity (routing time); a message that quotes the case reference within that
    time continues it even after the follow-up window has passed. Rebuilds read this far back.
    """

    dedup: timedelta = timedelta(hours=24)
    follow_up: timedelta = timedelta(days=7)
    case_memory: timedelta = timedelta(days=14)

    def __post_init__(self) -> None:
        if min(self.dedup, self.follow_up, self.case_memory) <= timedelta(0):
            raise ValueError("windows must be positive")
        if self.case_memory < self.follow_up:
            raise ValueError("case memory must be at least the follow-up window")

    def rebuild_from(self, now: datetime, incidents: IncidentPolicy) -> datetime:
        """The earliest routing time a rebuild must read for every window to be complete."""
        return now - max(self.dedup, self.case_memory, incidents.window)


@dataclass(frozen=True, slots=True)
class RoutedFacts:
    """What state needs from one routing decision (a slice of a :class:`RoutedMessage`)."""

    message_event_id: str
    conversation_id: str
    received_at: datetime
    routed_at: datetime
    case_reference: str
    is_follow_up: bool
    department: str | None
    type: MessageType
    topic: MessageTopic
    escalation_reasons: tuple[EscalationReason, ...]

    @classmethod
    def of(cls, routed: RoutedMessage) -> RoutedFacts:
        return cls(
            message_event_id=routed.message.event_id,
            conversation_id=routed.message.conversation_id,
            received_at=as_utc(routed.message.received_at),
            routed_at=as_utc(routed.routing.routed_at),
            case_reference=routed.routing.case_reference,
            is_follow_up=routed.routing.is_follow_up,
            department=routed.routing.department,
            type=routed.classification.type,
            topic=routed.classification.topic,
            escalation_reasons=tuple(routed.routing.escalation_reasons),
        )


@dataclass(slots=True)
class ConversationCase:
    """A conversation's current case: its reference, owner and history within the case."""

    case_reference: str
    department: str
    last_activity_at: datetime
    complaints: int
    touched_at: datetime


@dataclass(frozen=True, slots=True)
class Complaint:
    """A routed complaint, for surge detection."""

    at: datetime
    conversation_id: str
    case_reference: str


@dataclass(slots=True)
class OpenIncident:
    """An incident raised for a topic; it lasts while complaints on the topic keep surging.

    ``last_surge_at`` is the receipt time of the latest complaint at which the window held the
    threshold; the incident is over once a whole window passes without such a complaint.
    """

    incident_id: str
    topic: MessageTopic
    detected_at: datetime
    last_surge_at: datetime

    def covers(self, at: datetime, window: timedelta) -> bool:
        return at - self.last_surge_at <= window


@dataclass(slots=True)
class PartitionState:
    """Everything remembered about the conversations of one partition."""

    seen: dict[str, datetime] = field(default_factory=dict)
    conversations: dict[str, ConversationCase] = field(default_factory=dict)
    complaints: dict[MessageTopic, deque[Complaint]] = field(default_factory=dict)

    def record(
        self, facts: RoutedFacts, *, now: datetime, windows: StateWindows, incidents: IncidentPolicy
    ) -> Complaint | None:
        """Apply one routing decision (live, or replayed from ``intake.routed.v1``); the complaint it added."""
        self.seen[facts.message_event_id] = facts.routed_at
        complaint = None
        if facts.department is not None:  # recorded-only messages neither open nor extend a case
            self._record_case(facts)
            if facts.type is MessageType.COMPLAINT:
                timeline = self.complaints.setdefault(facts.topic, deque())
                complaint = Complaint(facts.received_at, facts.conversation_id, facts.case_reference)
                timeline.append(complaint)
                while timeline[0].at <= facts.received_at - incidents.window:
                    timeline.popleft()
        self.forget(now=now, windows=windows)
        return complaint

    def _record_case(self, facts: RoutedFacts) -> None:
        assert facts.department is not None
        case = self.conversations.pop(facts.conversation_id, None)
        if case is None or case.case_reference != facts.case_reference:
            case = ConversationCase(
                case_reference=facts.case_reference,
                department=facts.department,
                last_activity_at=facts.received_at,
                complaints=0,
                touched_at=facts.routed_at,
            )
        case.last_activity_at = max(case.last_activity_at, facts.received_at)
        case.touched_at = max(case.touched_at, facts.routed_at)
        if facts.type is MessageType.COMPLAINT:
            case.complaints += 1
            if EscalationReason.REPEATED_COMPLAINT in facts.escalation_reasons:
                # A rebuild that starts inside a long case has not seen its first complaints; the
                # escalation recorded on this one says there were earlier ones.
                case.complaints = max(case.complaints, 2)
        self.conversations[facts.conversation_id] = case  # re-inserted: dict order is touch order

    def forget(self, *, now: datetime, windows: StateWindows) -> None:
        """Drop duplicate ids and conversations older than their windows (both dicts are in routing order)."""
        dedup_before = now - windows.dedup
        while self.seen:
            event_id, routed_at = next(iter(self.seen.items()))
            if routed_at >= dedup_before:
                break
            del self.seen[event_id]
        memory_before = now - windows.case_memory
        while self.conversations:
            conversation_id, case = next(iter(self.conversations.items()))
            if case.touched_at >= memory_before:
                break
            del self.conversations[conversation_id]

    def current_case(
        self, conversation_id: str, received_at: datetime, quoted: Iterable[str], windows: StateWindows
    ) -> ConversationCase | None:
        """The conversation's case if this message continues it: recent activity, or its reference quoted."""
        case = self.conversations.get(conversation_id)
        if case is None:
            return None
        if received_at - case.last_activity_at <= windows.follow_up or case.case_reference in quoted:
            return case
        return None


_AT = attrgetter("at")


class ComplaintWindow:
    """The complaints on one topic across the held partitions, in time order, with the distinct
    conversations of the trailing window ``(newest - window, newest]`` kept up to date as complaints
    come and age out: each message costs O(log n), not a scan of the window.

    Complaints can arrive out of time order (partitions are processed side by side); one older than
    the window's start is kept (for hindsight) but not counted.
    """

    def __init__(self, window: timedelta, complaints: Iterable[Complaint] = ()) -> None:
        self._window = window
        self._items: list[Complaint] = sorted(complaints, key=_AT)
        self._lo = 0
        self._counts: Counter[str] = Counter()
        self.newest: datetime | None = None
        if self._items:
            self.newest = self._items[-1].at
            limit = self.newest - window
            self._lo = bisect.bisect_right(self._items, limit, key=_AT)
            self._counts.update(c.conversation_id for c in self._items[self._lo :])

    def advance(self, at: datetime) -> None:
        """Move the window's end to ``at`` if that is newer than every complaint held."""
        if self.newest is not None and at <= self.newest:
            return
        self.newest = at
        limit = at - self._window
        items, counts = self._items, self._counts
        while self._lo < len(items) and items[self._lo].at <= limit:
            conversation = items[self._lo].conversation_id
            counts[conversation] -= 1
            if counts[conversation] <= 0:
                del counts[conversation]
            self._lo += 1
        if self._lo > 4096:  # what has aged out is no longer needed
            del items[: self._lo]
            self._lo = 0

    def add(self, complaint: Complaint) -> None:
        self.advance(complaint.at)
        assert self.newest is not None
        position = bisect.bisect_right(self._items, complaint.at, key=_AT)
        self._items.insert(position, complaint)
        if complaint.at <= self.newest - self._window:
            self._lo += 1  # older than the window: held, not counted
        else:
            self._counts[complaint.conversation_id] += 1

    @property
    def distinct(self) -> int:
        """Distinct conversations with a complaint in the window."""
        return len(self._counts)

    def __contains__(self, conversation_id: object) -> bool:
        return conversation_id in self._counts

    def newest_first(self) -> Iterator[Complaint]:
        """The window's complaints, newest first."""
        return (self._items[i] for i in range(len(self._items) - 1, self._lo - 1, -1))


def surging_moments(complaints: Iterable[Complaint], policy: IncidentPolicy) -> Iterator[datetime]:
    """Each complaint's time at which the window ending there held the threshold (one sliding pass)."""
    ordered = sorted(complaints, key=_AT)
    counts: Counter[str] = Counter()
    low = 0
    for complaint in ordered:
        counts[complaint.conversation_id] += 1
        while ordered[low].at <= complaint.at - policy.window:
            gone = ordered[low].conversation_id
            counts[gone] -= 1
            if counts[gone] <= 0:
                del counts[gone]
            low += 1
        if len(counts) >= policy.threshold:
            yield complaint.at


class DispatcherState:
    """The dispatcher's memory across the partitions it holds, and the incidents open on them.

    Incidents count the complaints of the partitions this replica holds. With several replicas,
    each counts only its own share of the stream, so a surge spread over all partitions reaches a
    replica's threshold later (after about ``threshold x replicas`` complaints when spread evenly),
    and two replicas can each raise an incident for the same surge. A rebuild reads back the
    incidents every replica raised, so after a rebalance a surge already reported is not reported
    again. Counting the whole stream in one place would need a topic-keyed stream of complaints
    (or a single consumer of ``intake.routed.v1``); it is not done in this version.
    """

    def __init__(self, windows: StateWindows) -> None:
        self.windows = windows
        self.partitions: dict[int, PartitionState] = {}
        self.incidents: dict[MessageTopic, OpenIncident] = {}
        self._windows_by_topic: dict[MessageTopic, ComplaintWindow] = {}

    def partition(self, number: int) -> PartitionState:
        return self.partitions[number]

    def surge(self, topic: MessageTopic, at: datetime, window: timedelta) -> ComplaintWindow:
        """The complaint window on ``topic``, its end moved to ``at`` if that is newer than the newest complaint.

        Partitions are processed side by side, so a complaint can arrive after newer ones from
        another partition; the window is anchored at the newest, not at the one in hand.
        """
        index = self._windows_by_topic.get(topic)
        if index is None:
            index = ComplaintWindow(window, (c for p in self.partitions.values() for c in p.complaints.get(topic, ())))
            self._windows_by_topic[topic] = index
        index.advance(at)
        return index

    def open_incident(self, topic: MessageTopic, at: datetime, window: timedelta) -> OpenIncident | None:
        incident = self.incidents.get(topic)
        return incident if incident is not None and incident.covers(at, window) else None

    def record(
        self,
        partition: int,
        facts: RoutedFacts,
        *,
        now: datetime,
        incidents: IncidentPolicy,
        raised: Incident | None = None,
    ) -> None:
        """Apply a live decision: the partition's memory, and the incident it raised or extends."""
        complaint = self.partitions[partition].record(facts, now=now, windows=self.windows, incidents=incidents)
        if complaint is None:
            return
        window = self.surge(facts.topic, complaint.at, incidents.window)
        window.add(complaint)
        if raised is not None:
            detected_at = as_utc(raised.detected_at)
            self.incidents[facts.topic] = OpenIncident(raised.incident_id, facts.topic, detected_at, detected_at)
            return
        incident = self.incidents.get(facts.topic)
        if incident is None:
            return
        if window.distinct >= incidents.threshold and window.newest is not None:
            incident.last_surge_at = max(incident.last_surge_at, window.newest)

    def adopt(
        self,
        rebuilt: dict[int, PartitionState],
        raised: Iterable[Incident],
        *,
        incidents: IncidentPolicy,
    ) -> None:
        """Take over rebuilt partitions, and the incidents read back from ``incidents.v1``.

        An incident read back becomes the open one for its topic unless a later one is in memory;
        how long it lasts is worked out from the complaints now held.
        """
        self.partitions.update(rebuilt)
        self._windows_by_topic.clear()
        latest: dict[MessageTopic, Incident] = {}
        for incident in raised:
            known = latest.get(incident.topic)
            if known is None or as_utc(incident.detected_at) >= as_utc(known.detected_at):
                latest[incident.topic] = incident
        for topic, incident in latest.items():
            detected_at = as_utc(incident.detected_at)
            in_memory = self.incidents.get(topic)
            if in_memory is not None and in_memory.detected_at >= detected_at:
                continue
            held = (c for p in self.partitions.values() for c in p.complaints.get(topic, ()))
            last_surge_at = max(
                (at for at in surging_moments(held, incidents) if at > detected_at), default=detected_at
            )
            self.incidents[topic] = OpenIncident(incident.incident_id, topic, detected_at, last_surge_at)

    def drop(self, partitions: Iterable[int]) -> None:
        """Forget revoked partitions, and the incidents in memory.

        Incidents go too: after a failed batch the loop revokes and re-assigns, and an incident
        raised by that batch was never committed, so it must be raised again when the batch is
        retried. The assignment that follows reads back the incidents that were committed.
        """
        for number in partitions:
            self.partitions.pop(number, None)
        self.incidents.clear()
        self._windows_by_topic.clear()
