"""Builders shared by the cross-service tests: intake and routed events as the services produce them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from switchboard_common.case_reference import IntakePosition as Position
from switchboard_common.case_reference import case_reference
from switchboard_common.events import MESSAGE_RECEIVED, MESSAGE_ROUTED, OutgoingRecord, encode_event
from switchboard_common.events.models import (
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
from switchboard_common.identity import derived_event_id, event_id
from switchboard_common.topics import TopicNames


def chat_message(conversation: str, n: int = 0, text: str = "Where is my parcel?") -> IntakeMessage:
    return IntakeMessage(
        event_id=event_id("webchat", "test", conversation, str(n)),
        channel=Channel.WEBCHAT,
        channel_account="webchat:test",
        received_at=datetime.now(UTC),
        conversation_id=conversation,
        customer=CustomerIdentity(key=f"cust_{conversation}", handle=conversation),
        reply_to=ReplyTarget(channel=Channel.WEBCHAT, account="webchat:test", address=conversation),
        text=MessageText(original=text, plain=text, new_content=text),
    )


def intake_record(names: TopicNames, message: IntakeMessage) -> OutgoingRecord:
    return encode_event(
        MESSAGE_RECEIVED,
        topic=names("intake.messages.v1"),
        event_id=message.event_id,
        source="test",
        key=message.conversation_id,
        data=message,
    )


def routed_record(names: TopicNames, message: IntakeMessage, department: str = "logistics") -> OutgoingRecord:
    routed = RoutedMessage(
        event_id=derived_event_id(message.event_id, "routed"),
        message=message,
        intake_position=IntakePosition(partition=0, offset=0),
        classification=Classification(
            language=Language.EN,
            type=MessageType.INQUIRY,
            topic=MessageTopic.LOGISTICS,
            priority=Priority.NORMAL,
            sentiment=Sentiment(score=0.0),
            masked_text=message.text.plain,
            confidence=0.9,
            model="test",
        ),
        routing=Routing(
            department=department,
            case_reference=case_reference(Position(0, 0)),
            rule="test",
            priority=Priority.NORMAL,
            resolution_due_at=message.received_at + timedelta(hours=24),
            routed_at=datetime.now(UTC),
        ),
    )
    return encode_event(
        MESSAGE_ROUTED,
        topic=names("intake.routed.v1"),
        event_id=routed.event_id,
        source="test",
        key=message.conversation_id,
        data=routed,
    )
