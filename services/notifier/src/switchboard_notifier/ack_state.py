"""What the notifier knows about one partition: messages awaiting acknowledgement and those handled.

Pure data and decisions, no I/O. The processor keeps one :class:`PartitionState` per partition
number it owns (intake.messages.v1, intake.routed.v1 and notify.acks.v1 are co-partitioned by
conversation id) and rebuilds ``handled`` and ``conversation_acked_at`` from notify.acks.v1 when a
partition is assigned.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from switchboard_common.events.models import (
    AckKind,
    AckOutcome,
    AckRecord,
    IntakeMessage,
    RoutedMessage,
)


@dataclass(slots=True)
class PendingAck:
    """A customer message whose acknowledgement is not delivered yet."""

    message: IntakeMessage
    case_reference: str
    fallback_at: datetime
    intake_offset: int | None = None
    routed: RoutedMessage | None = None
    routed_offset: int | None = None
    next_attempt_at: datetime | None = None
    attempts: int = 0
    breach_recorded: bool = False

    @property
    def kind(self) -> AckKind:
        return AckKind.ACK if self.routed is not None else AckKind.GENERIC_ACK

    def due(self, now: datetime) -> bool:
        """Whether a delivery should be attempted now."""
        if self.next_attempt_at is not None:
            return now >= self.next_attempt_at
        return self.routed is not None or now >= self.fallback_at


@dataclass(slots=True)
class PartitionState:
    """Pending and handled messages of one partition number."""

    pending: dict[str, PendingAck] = field(default_factory=dict)
    handled: dict[str, datetime] = field(default_factory=dict)
    conversation_acked_at: dict[str, datetime] = field(default_factory=dict)
    recipient_sent_at: dict[str, list[datetime]] = field(default_factory=dict)
    """When acknowledgements went to each recipient key: the per-address limit counts these."""

    def add_pending(self, entry: PendingAck) -> None:
        self.pending[entry.message.event_id] = entry

    def drop_pending(self, event_id: str) -> PendingAck | None:
        return self.pending.pop(event_id, None)

    def remember(self, record: AckRecord) -> None:
        """Take in an ack record (read back on assignment, or just produced)."""
        if record.kind in (AckKind.ACK, AckKind.GENERIC_ACK):
            self.handled[record.message_event_id] = record.recorded_at
            self.drop_pending(record.message_event_id)
            if record.outcome is AckOutcome.SENT:
                previous = self.conversation_acked_at.get(record.conversation_id)
                if previous is None or record.recorded_at > previous:
                    self.conversation_acked_at[record.conversation_id] = record.recorded_at
        if record.outcome is AckOutcome.SENT and record.recipient_key:
            self.recipient_sent_at.setdefault(record.recipient_key, []).append(record.recorded_at)

    def sent_to_recipient_since(self, recipient_key: str, since: datetime) -> int:
        """How many acknowledgements and notifications went to this recipient since ``since``."""
        return sum(1 for at in self.recipient_sent_at.get(recipient_key, ()) if at >= since)

    def floor(self, *, routed: bool) -> int | None:
        """Lowest offset still held in intake.messages.v1 (or intake.routed.v1) for pending work."""
        offsets = [(p.routed_offset if routed else p.intake_offset) for p in self.pending.values()]
        present = [o for o in offsets if o is not None]
        return min(present) if present else None

    def forget_before(self, horizon: datetime) -> None:
        """Drop handled ids and conversation times older than the state window (bounded memory)."""
        self.handled = {k: v for k, v in self.handled.items() if v >= horizon}
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
    last = state.conversation_acked_at.get(message.conversation_id)
    if last is not None and message.received_at - last < conversation_window:
        return SuppressReason.CONVERSATION_RECENTLY_ACKNOWLEDGED
    if recipient_limit is not None and recipient_recent >= recipient_limit:
        return SuppressReason.RECIPIENT_LIMIT
    return None


def retry_delay(
    attempts: int, initial: timedelta, maximum: timedelta, retry_after: float | None, jitter: float | None = None
) -> timedelta:
    """Jittered exponential backoff: between half and all of ``initial * 2**(attempts-1)`` (capped), so
    that deliveries failing together do not retry together; the provider's Retry-After wins when longer."""
    ceiling: timedelta = min(maximum, initial * (2 ** max(0, attempts - 1)))
    share = random.uniform(0.5, 1.0) if jitter is None else jitter
    delay = ceiling * share
    if retry_after is not None:
        delay = max(delay, timedelta(seconds=retry_after))
    return delay
