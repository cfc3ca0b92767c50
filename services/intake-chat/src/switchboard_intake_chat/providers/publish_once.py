"""Provider retries answered without a second record, on this replica.

WeChat retries a push it got no answer to within 5 seconds (three times, same MsgId); LINE redelivers
with the same webhookEventId. Event ids are deterministic, so duplicates are suppressed downstream
anyway; this keeps them out of intake.messages.v1 too in the common case (a retry that reaches the
same replica, even while the first attempt is still waiting for Kafka).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from switchboard_common.events.models import IntakeMessage
from switchboard_common.intake import IntakePublisher
from switchboard_common.producer import KafkaUnavailable


@dataclass
class _InFlight:
    done: asyncio.Event = field(default_factory=asyncio.Event)
    stored: bool = False


@dataclass(frozen=True, slots=True)
class PublishResult:
    published: int
    duplicates: int


class PublishOnce:
    """Publishes messages whose event ids were not stored (or are not being stored) recently."""

    def __init__(
        self,
        publisher: IntakePublisher,
        *,
        window_seconds: float = 900.0,
        max_remembered: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._publisher = publisher
        self._window = window_seconds
        self._max = max_remembered
        self._clock = clock
        self._stored: OrderedDict[str, float] = OrderedDict()
        self._in_flight: dict[str, _InFlight] = {}

    async def publish(self, messages: Sequence[IntakeMessage], timeout: float) -> PublishResult:
        """Store what is new; wait for concurrent attempts at the same messages. Raises :class:`KafkaUnavailable`."""
        self._forget_old()
        fresh: dict[str, tuple[IntakeMessage, _InFlight]] = {}
        waiting: list[_InFlight] = []
        duplicates = 0
        for message in messages:
            if message.event_id in self._stored or message.event_id in fresh:
                duplicates += 1
            elif (attempt := self._in_flight.get(message.event_id)) is not None:
                duplicates += 1
                waiting.append(attempt)
            else:
                attempt = _InFlight()
                self._in_flight[message.event_id] = attempt
                fresh[message.event_id] = (message, attempt)
        try:
            async with asyncio.timeout(timeout):
                if fresh:
                    await self._publisher.publish([message for message, _ in fresh.values()])
                    now = self._clock()
                    for ident, (_, attempt) in fresh.items():
                        attempt.stored = True
                        self._stored[ident] = now
                for attempt in waiting:
                    await attempt.done.wait()
                    if not attempt.stored:
                        raise KafkaUnavailable("a concurrent delivery of the same message was not stored")
        except TimeoutError:
            raise KafkaUnavailable(f"Kafka did not acknowledge within {timeout:.1f}s") from None
        finally:
            for ident, (_, attempt) in fresh.items():
                self._in_flight.pop(ident, None)
                attempt.done.set()
        return PublishResult(published=len(fresh), duplicates=duplicates)

    def _forget_old(self) -> None:
        horizon = self._clock() - self._window
        while self._stored:
            stored_at = next(iter(self._stored.values()))
            if stored_at >= horizon and len(self._stored) <= self._max:
                break
            self._stored.popitem(last=False)
