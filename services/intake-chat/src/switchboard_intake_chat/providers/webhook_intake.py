"""Publishing a provider webhook's messages once, and recording everything that is not published.

Every chat provider's webhook (Slack, WhatsApp, Messenger, Telegram, WeChat, WeCom, LINE) goes through
:class:`WebhookIntake`. Providers redeliver: Slack retries after 3 seconds with ``X-Slack-Retry-Num``,
Meta and Telegram retry until they get a 2xx, WeChat retries a push it got no answer to within 5
seconds (three times, same MsgId), LINE redelivers with the same webhookEventId. Event ids derive
from the provider's ids, so a redelivered message has the same event id and is suppressed downstream;
on top of that this replica remembers what it published recently and joins a redelivery to a publish
still in flight, so that a retry does not even reach Kafka twice. A redelivery that reaches another
replica is published again with the same event id and suppressed by the dispatcher and the notifier.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from prometheus_client import Counter

from switchboard_common.events.models import IntakeMessage
from switchboard_common.intake import IntakePublisher
from switchboard_common.producer import KafkaUnavailable
from switchboard_intake_chat.providers.normalised import Ignored, IgnoreReason, Normalised

log = logging.getLogger(__name__)

WEBHOOK_EVENTS = Counter(
    "switchboard_intake_webhook_events_total",
    "Provider webhook events by outcome: published, duplicate (a redelivery), or the reason it was not published.",
    ["channel", "outcome"],
)


_WARNINGS = frozenset({IgnoreReason.UNKNOWN_TYPE, IgnoreReason.NOT_CONFIGURED})


@dataclass(frozen=True, slots=True)
class Accepted:
    """What one webhook delivery amounted to."""

    published: int
    duplicates: int
    recorded: int


class WebhookIntake:
    """Publishes one provider's normalised messages (each once) and records what it does not publish.

    ``deadline`` bounds how long a delivery waits for Kafka (Slack wants an answer within 3 s): past
    it the delivery fails with :class:`KafkaUnavailable` (503, so the provider retries) while the
    publish itself goes on, and the retry joins it.
    """

    def __init__(
        self,
        publisher: IntakePublisher,
        channel: str,
        *,
        deadline: float | None = None,
        remember: int = 20_000,
        remember_seconds: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._publisher = publisher
        self._channel = channel
        self._deadline = deadline
        self._remember = remember
        self._remember_seconds = remember_seconds
        self._clock = clock
        self._published: OrderedDict[str, float] = OrderedDict()
        self._in_flight: dict[str, asyncio.Task[None]] = {}

    async def accept(self, outcomes: Sequence[Normalised]) -> Accepted:
        """Record the ignored events, publish the new messages; raises KafkaUnavailable if they were not stored."""
        messages: dict[str, IntakeMessage] = {}
        recorded = 0
        for outcome in outcomes:
            if isinstance(outcome, Ignored):
                self.record(outcome)
                recorded += 1
            else:
                messages.setdefault(outcome.event_id, outcome)
        self._forget_expired()
        duplicates = [event_id for event_id in messages if event_id in self._published]
        joined = {self._in_flight[e] for e in messages if e in self._in_flight and e not in duplicates}
        fresh = [m for e, m in messages.items() if e not in self._published and e not in self._in_flight]
        waits = list(joined)
        if fresh:
            waits.append(self._start_publish(fresh))
        for event_id in duplicates:
            WEBHOOK_EVENTS.labels(self._channel, "duplicate").inc()
            log.info("redelivered message already published", extra={"channel": self._channel, "event_id": event_id})
        if waits:
            try:
                await asyncio.wait_for(asyncio.shield(asyncio.gather(*waits)), self._deadline)
            except TimeoutError:
                WEBHOOK_EVENTS.labels(self._channel, "deadline_exceeded").inc()
                raise KafkaUnavailable(f"Kafka did not acknowledge within {self._deadline}s") from None
        return Accepted(published=len(fresh), duplicates=len(messages) - len(fresh), recorded=recorded)

    def record(self, ignored: Ignored) -> None:
        """The record of an event that is not a customer message: a log line and a metric."""
        WEBHOOK_EVENTS.labels(self._channel, ignored.reason.value).inc()
        level = logging.WARNING if ignored.reason in _WARNINGS else logging.INFO
        if ignored.reason is IgnoreReason.DELIVERY_STATUS and "failed" in ignored.kind:
            level = logging.WARNING
        log.log(
            level,
            "webhook event recorded, not published",
            extra={
                "channel": self._channel,
                "reason": ignored.reason.value,
                "kind": ignored.kind,
                "detail": ignored.detail[:500],
                "provider_ids": dict(ignored.provider_ids),
            },
        )

    def _start_publish(self, messages: list[IntakeMessage]) -> asyncio.Task[None]:
        task = asyncio.create_task(self._publish(messages))
        for message in messages:
            self._in_flight[message.event_id] = task
        task.add_done_callback(lambda done: self._finished(done, messages))
        return task

    async def _publish(self, messages: list[IntakeMessage]) -> None:
        await self._publisher.publish(messages)

    def _finished(self, task: asyncio.Task[None], messages: list[IntakeMessage]) -> None:
        for message in messages:
            if self._in_flight.get(message.event_id) is task:
                del self._in_flight[message.event_id]
        if task.cancelled():
            return
        error = task.exception()  # retrieved here so that an abandoned publish never logs "never retrieved"
        if error is not None:
            log.warning(
                "publish of a webhook delivery failed; the provider will retry",
                extra={"channel": self._channel, "messages": len(messages), "error": repr(error)[:300]},
            )
            return
        expires = self._clock() + self._remember_seconds
        for message in messages:
            self._published[message.event_id] = expires
            self._published.move_to_end(message.event_id)
            WEBHOOK_EVENTS.labels(self._channel, "published").inc()
        while len(self._published) > self._remember:
            self._published.popitem(last=False)

    def _forget_expired(self) -> None:
        now = self._clock()
        while self._published:
            event_id, expires = next(iter(self._published.items()))
            if expires > now:
                return
            del self._published[event_id]
