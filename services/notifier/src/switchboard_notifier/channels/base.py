"""The interface every channel sender implements, and the registry the notifier looks senders up in."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from switchboard_common.events import OutgoingRecord
from switchboard_common.events.models import AckKind, Channel, IntakeMessage, Language


@dataclass(frozen=True, slots=True)
class NotificationAction:
    """A choice offered with a notification (a satisfaction request's scores).

    ``value`` is what a button sends back (``sb-rating:<case>:<n>``); ``url`` is set instead where the
    channel answers by link (email: a signed rating link).
    """

    label: str
    value: str
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Notification:
    """One message for one customer, rendered and ready for a channel.

    ``actions``: buttons (or links) to show with the text, on channels that have them; a sender of a
    channel without buttons never gets any (the text then says how to answer).
    """

    notification_id: str
    kind: AckKind
    message: IntakeMessage
    case_reference: str | None
    department: str | None
    language: Language
    text: str
    subject: str | None = None
    html: str | None = None
    actions: tuple[NotificationAction, ...] = ()
    action_prompt: str | None = None
    """The label of the control that opens the choices, where a channel needs one (WhatsApp's list button)."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """What a successful send produced: Kafka records to publish with the ack record (may be none)."""

    records: Sequence[OutgoingRecord] = ()
    provider_id: str | None = None
    details: dict[str, str] = field(default_factory=dict)


class DeliveryRetryable(Exception):
    """The channel is unavailable or rate-limited now; try again later (after ``retry_after`` if given)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class DeliveryFailed(Exception):
    """The notification can never be delivered (invalid address, recipient cannot receive): record it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ChannelSender(Protocol):
    """Delivers notifications on some channels. Adapters are thin: rendering happens before them.

    A sender whose ``deliver`` never waits on I/O (it only builds Kafka records, as web chat's does) may
    say so with a class attribute ``immediate = True``: its deliveries are then not wrapped in the send
    timeout (see :func:`~switchboard_notifier.delivery.attempt_delivery`).
    """

    channels: frozenset[Channel]

    async def deliver(self, notification: Notification) -> Delivery: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class SenderRegistry:
    """Channel to sender."""

    def __init__(self, senders: Iterable[ChannelSender] = ()) -> None:
        self._senders: dict[Channel, ChannelSender] = {}
        self._all: list[ChannelSender] = []
        for sender in senders:
            self.add(sender)

    def add(self, sender: ChannelSender) -> None:
        self._all.append(sender)
        for channel in sender.channels:
            self._senders[channel] = sender

    def for_channel(self, channel: Channel) -> ChannelSender | None:
        return self._senders.get(channel)

    @property
    def channels(self) -> frozenset[Channel]:
        return frozenset(self._senders)

    async def start(self) -> None:
        for sender in self._all:
            await sender.start()

    async def stop(self) -> None:
        for sender in self._all:
            await sender.stop()
