"""Event families of the data flow: topic, CloudEvents type, data model and record key."""

from __future__ import annotations

from typing import Any

from switchboard_common.events.envelope import (
    ConsumedRecord,
    Event,
    EventSpec,
    InvalidMessage,
    OutgoingRecord,
    decode_event,
    encode_event,
)
from switchboard_common.events.models import (
    AckRecord,
    CaseEvent,
    CaseNotification,
    CaseSatisfaction,
    CaseUpdate,
    ChatOutbound,
    ClassifiedMessage,
    Incident,
    IntakeMessage,
    RoutedMessage,
)

MESSAGE_RECEIVED = EventSpec(
    topic="intake.messages.v1",
    ce_type="switchboard.message.received.v1",
    model=IntakeMessage,
    key="conversation_id",
    description="Every customer message from every channel, normalised by the intake adapters.",
)
MESSAGE_CLASSIFIED = EventSpec(
    topic="intake.classified.v1",
    ce_type="switchboard.message.classified.v1",
    model=ClassifiedMessage,
    key="conversation_id",
    description="A message with its language, type, topic, priority, sentiment and entities.",
)
MESSAGE_ROUTED = EventSpec(
    topic="intake.routed.v1",
    ce_type="switchboard.message.routed.v1",
    model=RoutedMessage,
    key="conversation_id",
    description="Internal record of every routing decision, with the reply address (not for departments).",
)
CASE_OPENED = EventSpec(
    topic="dept.{department}.v1",
    ce_type="switchboard.case.routed.v1",
    model=CaseEvent,
    key="conversation_id",
    description="A department's work: one event per customer message routed to it, contact details masked.",
)
CASE_ESCALATED = EventSpec(
    topic="escalations.v1",
    ce_type="switchboard.case.escalated.v1",
    model=CaseEvent,
    key="conversation_id",
    description="Cases that supervisors must see; they keep their department route too.",
)
CASE_UPDATED = EventSpec(
    topic="case.updates.v1",
    ce_type="switchboard.case.updated.v1",
    model=CaseUpdate,
    key="case_reference",
    description="Departments' status changes and replies for the customer, keyed by case reference.",
)
ACK_RECORDED = EventSpec(
    topic="notify.acks.v1",
    ce_type="switchboard.ack.recorded.v1",
    model=AckRecord,
    key="conversation_id",
    description="Every acknowledgement and notification the notifier sent or suppressed, with its SLA outcome.",
)
CHAT_OUTBOUND = EventSpec(
    topic="chat.outbound.v1",
    ce_type="switchboard.chat.outbound.v1",
    model=ChatOutbound,
    key="conversation_id",
    description="Messages for web-chat customers, delivered by whichever intake-chat replica holds the socket.",
)
INCIDENT_DETECTED = EventSpec(
    topic="incidents.v1",
    ce_type="switchboard.incident.detected.v1",
    model=Incident,
    key="topic",
    description="A surge of similar complaints: supervisors are alerted once per incident.",
)

CASE_NOTIFIED = EventSpec(
    topic="notify.updates.v1",
    ce_type="switchboard.case.notified.v1",
    model=CaseNotification,
    key="case_reference",
    description="Every department update or reply delivered (or not) to the customer, and satisfaction requests.",
)
CASE_SATISFIED = EventSpec(
    topic="case.satisfaction.v1",
    ce_type="switchboard.case.satisfaction.v1",
    model=CaseSatisfaction,
    key="case_reference",
    description="Customers' ratings (1 to 5) of their resolved cases.",
)

ALL_SPECS: tuple[EventSpec[Any], ...] = (
    MESSAGE_RECEIVED,
    MESSAGE_CLASSIFIED,
    MESSAGE_ROUTED,
    CASE_OPENED,
    CASE_ESCALATED,
    CASE_UPDATED,
    ACK_RECORDED,
    CHAT_OUTBOUND,
    INCIDENT_DETECTED,
    CASE_NOTIFIED,
    CASE_SATISFIED,
)

__all__ = [
    "ACK_RECORDED",
    "ALL_SPECS",
    "CASE_ESCALATED",
    "CASE_NOTIFIED",
    "CASE_OPENED",
    "CASE_SATISFIED",
    "CASE_UPDATED",
    "CHAT_OUTBOUND",
    "INCIDENT_DETECTED",
    "MESSAGE_CLASSIFIED",
    "MESSAGE_RECEIVED",
    "MESSAGE_ROUTED",
    "ConsumedRecord",
    "Event",
    "EventSpec",
    "InvalidMessage",
    "OutgoingRecord",
    "decode_event",
    "encode_event",
]
