"""Builders for notifier tests: events as they arrive from Kafka, a fake clock, a recording sender."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from switchboard_common.case_reference import IntakePosition as Position
from switchboard_common.events import (
    ACK_RECORDED,
    CHAT_OUTBOUND,
    MESSAGE_RECEIVED,
    MESSAGE_ROUTED,
    ConsumedRecord,
    OutgoingRecord,
    decode_event,
    encode_event,
)
from switchboard_common.events.models import (
    AutomatedReason,
    Channel,
    Classification,
    CustomerIdentity,
    IntakeMessage,
    IntakePosition,
    Language,
    MessageText,
    MessageTopic,
    MessageType,
    Priority,
    ReplyTarget,
    RoutedMessage,
    Routing,
    Sentiment,
)
from switchboard_common.identity import event_id
from switchboard_common.settings import KafkaSettings
from switchboard_notifier.case_origin import UnknownCase
from switchboard_notifier.channels import Delivery, DeliveryFailed, DeliveryRetryable, Notification, SenderRegistry
from switchboard_notifier.processor import NotifierProcessor
from switchboard_notifier.settings import NotifierSettings
from switchboard_notifier.templates import AckTemplates

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class RecordingSender:
    """Stands in for a channel API: records what it was asked to send, fails as told."""

    channels: frozenset[Channel] = frozenset({Channel.WEBCHAT, Channel.EMAIL})
    sent: list[Notification] = field(default_factory=list)
    fail_retryable: int = 0
    fail_permanently: bool = False

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def deliver(self, notification: Notification) -> Delivery:
        if self.fail_permanently:
            raise DeliveryFailed("recipient cannot receive messages")
        if self.fail_retryable > 0:
            self.fail_retryable -= 1
            raise DeliveryRetryable("provider unavailable")
        self.sent.append(notification)
        return Delivery()


@dataclass
class StaticOrigins:
    """Case origins from a dict, for the processor's unit tests (the Kafka reader is tested on the broker)."""

    messages: dict[Position, IntakeMessage] = field(default_factory=dict)
    gone: set[Position] = field(default_factory=set)
    lookups: int = 0

    async def find(self, position: Position) -> IntakeMessage | None:
        self.lookups += 1
        if position in self.gone:
            return None
        if position not in self.messages:
            raise UnknownCase(f"no message at intake position {position.partition}:{position.offset}")
        return self.messages[position]

    async def close(self) -> None:
        return None


def notifier_with(clock: Clock, sender: Any, **overrides: Any) -> NotifierProcessor:
    """A notifier with one sender, topics prefixed ``p.``, cases from an empty :class:`StaticOrigins`."""
    settings = NotifierSettings(kafka=KafkaSettings(topic_prefix="p."), **overrides)
    return NotifierProcessor(settings, AckTemplates.load(), SenderRegistry([sender]), StaticOrigins(), clock=clock)


def message(
    n: int = 1,
    *,
    conversation: str = "wc_conv1",
    channel: Channel = Channel.WEBCHAT,
    received_at: datetime = T0,
    automated: AutomatedReason | None = None,
    text: str = "Where is my parcel?",
    name: str | None = None,
) -> IntakeMessage:
    return IntakeMessage(
        event_id=event_id("test", conversation, str(n)),
        channel=channel,
        channel_account="test",
        received_at=received_at,
        conversation_id=conversation,
        customer=CustomerIdentity(key="cust_1", handle=conversation, display_name=name),
        reply_to=ReplyTarget(channel=channel, account="test", address=conversation),
        text=MessageText(original=text, plain=text, new_content=text),
        automated=automated,
    )


def routed(
    msg: IntakeMessage,
    *,
    department: str | None = "logistics",
    reference: str = "SB-TST-REF-001",
    language: Language = Language.EN,
    priority: Priority = Priority.NORMAL,
) -> RoutedMessage:
    due = {Priority.URGENT: 2, Priority.NORMAL: 24, Priority.LOW: 48}[priority]
    return RoutedMessage(
        event_id=f"r-{msg.event_id}",
        message=msg,
        intake_position=IntakePosition(partition=0, offset=0),
        classification=Classification(
            language=language,
            type=MessageType.INQUIRY,
            topic=MessageTopic.LOGISTICS,
            priority=priority,
            sentiment=Sentiment(score=0.0),
            masked_text=msg.text.plain,
            confidence=0.9,
            model="test",
        ),
        routing=Routing(
            department=department,
            case_reference=reference,
            rule="test",
            priority=priority,
            resolution_due_at=msg.received_at + timedelta(hours=due),
            routed_at=msg.received_at,
        ),
    )


def as_consumed(record: OutgoingRecord, partition: int, offset: int) -> ConsumedRecord:
    return ConsumedRecord(record.topic, partition, offset, record.key, record.value, dict(record.headers), 0)


def intake_event(msg: IntakeMessage, topic: str, offset: int, partition: int = 0) -> tuple[Any, ConsumedRecord]:
    record = as_consumed(
        encode_event(
            MESSAGE_RECEIVED, topic=topic, event_id=msg.event_id, source="t", key=msg.conversation_id, data=msg
        ),
        partition,
        offset,
    )
    return decode_event(record, [MESSAGE_RECEIVED]), record


def routed_event(r: RoutedMessage, topic: str, offset: int, partition: int = 0) -> tuple[Any, ConsumedRecord]:
    record = as_consumed(
        encode_event(
            MESSAGE_ROUTED, topic=topic, event_id=r.event_id, source="t", key=r.message.conversation_id, data=r
        ),
        partition,
        offset,
    )
    return decode_event(record, [MESSAGE_ROUTED]), record


def acks(outputs: list[OutgoingRecord]) -> list[Any]:
    return [
        decode_event(as_consumed(o, 0, 0), [ACK_RECORDED]).data for o in outputs if o.topic.endswith("notify.acks.v1")
    ]


def chat_messages(outputs: list[OutgoingRecord]) -> list[Any]:
    return [
        decode_event(as_consumed(o, 0, 0), [CHAT_OUTBOUND]).data
        for o in outputs
        if o.topic.endswith("chat.outbound.v1")
    ]
