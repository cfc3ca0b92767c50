"""One attempt at delivering a notification, and the backoff between attempts: shared by every kind of
notification the notifier sends (acknowledgements, department updates and replies, satisfaction
requests, the thanks for a rating).

An attempt ends in one of three ways: :class:`Sent` (the channel took it), :class:`Failed` (it can
never be delivered: record it) or :class:`Deferred` (the channel is unavailable or rate-limited: the
caller keeps the work pending, its input offset held, and tries again at ``next_attempt_at``). The
attempt count and the next attempt time live on the pending work itself (:class:`Retrying`), so a
delivery that keeps failing never holds up other work: the consume loop's ``tick`` retries whatever is
due.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from switchboard_notifier.channels import ChannelSender, Delivery, DeliveryFailed, DeliveryRetryable, Notification

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Retrying:
    """Attempts so far and when the next one is due (None: not backing off)."""

    attempts: int = 0
    next_attempt_at: datetime | None = None

    def backing_off(self, now: datetime) -> bool:
        return self.next_attempt_at is not None and now < self.next_attempt_at


@dataclass(frozen=True, slots=True)
class Sent:
    delivery: Delivery
    at: datetime


@dataclass(frozen=True, slots=True)
class Failed:
    reason: str


@dataclass(frozen=True, slots=True)
class Deferred:
    delay: timedelta
    reason: str


Attempt = Sent | Failed | Deferred


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long one send may take, and the backoff between attempts."""

    send_timeout: timedelta
    initial: timedelta
    maximum: timedelta


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


async def attempt_delivery(
    sender: ChannelSender,
    notification: Notification,
    retry: Retrying,
    policy: RetryPolicy,
    clock: Callable[[], datetime],
) -> Attempt:
    """Send once; count the attempt on ``retry`` and, when the channel asks for patience, schedule the next."""
    retry.attempts += 1
    started = clock()
    try:
        if getattr(sender, "immediate", False):
            # Builds records in memory, never waits: no timeout (a task and a timer per message) is needed. The
            # attempt still yields to the loop once, as awaiting the timeout's task did, so that attempts
            # started together (tick's due work, partitions side by side) interleave as they always have.
            await asyncio.sleep(0)
            delivery = await sender.deliver(notification)
        else:
            delivery = await asyncio.wait_for(sender.deliver(notification), policy.send_timeout.total_seconds())
    except (DeliveryRetryable, TimeoutError, OSError) as exc:
        retry_after = exc.retry_after if isinstance(exc, DeliveryRetryable) else None
        delay = retry_delay(retry.attempts, policy.initial, policy.maximum, retry_after)
        retry.next_attempt_at = started + delay
        log.warning(
            "delivery failed, will retry",
            extra={
                "channel": notification.message.reply_to.channel.value,
                "kind": notification.kind.value,
                "attempts": retry.attempts,
                "retry_in_s": delay.total_seconds(),
                "error": str(exc)[:300],
            },
        )
        return Deferred(delay, str(exc)[:300] or type(exc).__name__)
    except DeliveryFailed as exc:
        retry.next_attempt_at = None
        return Failed(exc.reason)
    retry.next_attempt_at = None
    return Sent(delivery, clock())
