"""What the notifier knows about one partition of case.updates.v1: updates waiting, in order per case,
and those already delivered (or failed, or suppressed). Pure data, no I/O.

Each case has a queue: only its head is attempted, so a later update of a case waits while an earlier
one is retried, and other cases' queues are not held up. The lowest offset still queued is the
partition's commit floor: a restarted notifier re-reads from there, and skips what notify.updates.v1
(read back on assignment, co-partitioned: the notifier writes each record to the partition number of
the update it answers) says was done.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from switchboard_common.events.models import AckKind, AckOutcome, CaseNotification, CaseUpdate, IntakeMessage
from switchboard_notifier.delivery import Retrying


def work_key(update_id: str, kind: AckKind) -> str:
    """One piece of work per update and kind: an update's status message and the survey after it."""
    return f"{kind.value}:{update_id}"


@dataclass(slots=True)
class PendingUpdate:
    """An update (or the satisfaction request after a "resolved" one) not delivered yet."""

    update: CaseUpdate
    kind: AckKind
    case_reference: str
    origin: IntakeMessage
    offset: int
    retry: Retrying = field(default_factory=Retrying)

    @property
    def key(self) -> str:
        return work_key(self.update.update_id, self.kind)

    def due(self, now: datetime) -> bool:
        return not self.retry.backing_off(now)


@dataclass(slots=True)
class UpdatePartitionState:
    """Queued and done updates of one case.updates.v1 partition."""

    handled: dict[str, datetime] = field(default_factory=dict)
    """Work keys recorded on notify.updates.v1 (delivered, failed or suppressed)."""
    delivered: set[str] = field(default_factory=set)
    """Work keys that reached the customer."""
    surveyed: dict[str, datetime] = field(default_factory=dict)
    """Cases whose customer was sent a satisfaction request."""
    queues: dict[str, list[PendingUpdate]] = field(default_factory=dict)

    def queued(self, update_id: str) -> bool:
        """Whether work of this update is waiting (the update arrived again: a duplicate)."""
        return any(entry.update.update_id == update_id for queue in self.queues.values() for entry in queue)

    def enqueue(self, entry: PendingUpdate) -> None:
        self.queues.setdefault(entry.case_reference, []).append(entry)

    def head(self, case_reference: str) -> PendingUpdate | None:
        queue = self.queues.get(case_reference)
        return queue[0] if queue else None

    def heads(self) -> list[PendingUpdate]:
        return [queue[0] for queue in self.queues.values() if queue]

    def pop(self, case_reference: str) -> None:
        queue = self.queues.get(case_reference)
        if queue:
            queue.pop(0)
        if not queue:
            self.queues.pop(case_reference, None)

    @property
    def pending(self) -> int:
        return sum(len(queue) for queue in self.queues.values())

    def remember(self, record: CaseNotification) -> None:
        """Take in a notification record (read back on assignment, or just produced)."""
        key = work_key(record.update_id, record.kind)
        self.handled[key] = record.recorded_at
        if record.outcome is AckOutcome.SENT:
            self.delivered.add(key)
            if record.kind is AckKind.SURVEY:
                self.surveyed.setdefault(record.case_reference, record.recorded_at)

    def floor(self) -> int | None:
        offsets = [entry.offset for queue in self.queues.values() for entry in queue]
        return min(offsets) if offsets else None

    def forget_before(self, horizon: datetime) -> None:
        self.handled = {k: v for k, v in self.handled.items() if v >= horizon}
        self.delivered &= set(self.handled)
        self.surveyed = {k: v for k, v in self.surveyed.items() if v >= horizon}
