"""The data of every event in the data flow, one pydantic model per topic family.

Compatibility rule within a major version (``.v1``): fields are only ever added, with defaults, and
consumers ignore fields they do not know. Removing or changing the meaning of a field is a new major
version on a new topic.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class EventModel(BaseModel):
    """Base of all event data: unknown fields are ignored so that additive changes stay compatible."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, use_enum_values=False)


class Channel(StrEnum):
    """The channel a customer used, which is also the channel the answer goes back on."""

    WEBCHAT = "webchat"
    EMAIL = "email"
    PHONE = "phone"
    SMS = "sms"
    SLACK = "slack"
    WECHAT = "wechat"
    WECOM = "wecom"
    WHATSAPP = "whatsapp"
    MESSENGER = "messenger"
    LINE = "line"
    TELEGRAM = "telegram"


class MessageKind(StrEnum):
    """What the customer's contact was."""

    MESSAGE = "message"
    VOICEMAIL = "voicemail"
    CALLBACK_REQUEST = "callback_request"
    SATISFACTION_RESPONSE = "satisfaction_response"


class AutomatedReason(StrEnum):
    """Why an intake recognised a message as automated rather than written by a customer."""

    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"
    DELIVERY_STATUS = "delivery_status"
    MAILING_LIST = "mailing_list"
    OWN_MESSAGE = "own_message"
    BOT = "bot"


class Language(StrEnum):
    """Languages the gateway classifies and answers in (BCP 47 tags); ``und`` when undetermined."""

    ZH_HANS = "zh-Hans"
    ZH_HANT = "zh-Hant"
    EN = "en"
    UND = "und"


class MessageType(StrEnum):
    """Message type from the customer-service process (咨询, 投诉, 建议, 故障/报修)."""

    INQUIRY = "inquiry"
    COMPLAINT = "complaint"
    SUGGESTION = "suggestion"
    FAULT = "fault"
    NON_ACTIONABLE = "non_actionable"


class MessageTopic(StrEnum):
    """What the message is about (e-commerce taxonomy)."""

    ORDER = "order"
    LOGISTICS = "logistics"
    AFTER_SALES = "after_sales"
    PAYMENT = "payment"
    ACCOUNT = "account"
    PROMOTION = "promotion"
    PRODUCT = "product"
    OTHER = "other"


class Priority(StrEnum):
    """Priority; each has a resolution deadline (urgent 2 h, normal 24 h, low 48 h by default)."""

    URGENT = "urgent"
    NORMAL = "normal"
    LOW = "low"


class EscalationReason(StrEnum):
    """Why a case also goes to the supervisors."""

    HIGH_VALUE_COMPLAINT = "high_value_complaint"
    REPEATED_COMPLAINT = "repeated_complaint"
    URGENT_PRIORITY = "urgent_priority"
    ANGER = "anger"
    INCIDENT = "incident"


class CaseLink(StrEnum):
    """How a follow-up was attached to an existing case."""

    CONVERSATION = "conversation"
    QUOTED_REFERENCE = "quoted_reference"


class CustomerIdentity(EventModel):
    """The customer as seen on the channel."""

    key: str = Field(description="Stable, non-reversible key of this identity on this channel.")
    handle: str = Field(description="Address as seen on the channel: email, phone number, user id.")
    display_name: str | None = None
    locale: str | None = Field(default=None, description="Locale the channel reported, if any.")


class ReplyTarget(EventModel):
    """Where and how to answer the customer. Holds the original address: never copied to department events."""

    channel: Channel
    account: str = Field(description="Our account that answers: mailbox, phone number, bot, workspace.")
    address: str = Field(description="Recipient on the channel: email, phone number, chat conversation, user id.")
    thread: str | None = Field(default=None, description="Provider thread to answer in (Message-ID, Slack ts).")
    metadata: dict[str, str] = Field(default_factory=dict, description="Provider-specific reply parameters.")


class MessageText(EventModel):
    """The text in three forms."""

    original: str = Field(description="The body as received (HTML for HTML-only mail), size-capped.")
    original_content_type: str = "text/plain"
    plain: str = Field(description="Safe plain text of the whole message.")
    new_content: str = Field(
        description="What the customer wrote this time: quoted replies and signatures stripped. Classified."
    )
    truncated: bool = False


class TranscriptStatus(StrEnum):
    """For a recording (a voicemail): whether the message text is its transcript."""

    TRANSCRIBED = "transcribed"
    FAILED = "failed"
    MISSING = "missing"


class Attachment(EventModel):
    """Metadata of an attachment; the content itself never travels on Kafka."""

    filename: str | None = None
    content_type: str
    size_bytes: int | None = None
    sha256: str | None = None
    disposition: str = "attachment"
    url: str | None = Field(default=None, description="Provider URL of the media, where the provider hosts it.")
    duration_seconds: float | None = None
    rejected_reason: str | None = Field(default=None, description="Why the content was not accepted.")
    transcript: TranscriptStatus | None = Field(
        default=None,
        description="Recordings only: transcribed (the message text is the transcript), failed (the provider could "
        "not transcribe it) or missing (no transcript arrived in time; it may follow as a follow-up message).",
    )


class ThreadInfo(EventModel):
    """How this message links to earlier ones."""

    in_reply_to: str | None = None
    references: list[str] = Field(default_factory=list)
    quoted_case_references: list[str] = Field(
        default_factory=list, description="Valid case references the customer quoted (subject or text)."
    )


class RoutingHints(EventModel):
    """Choices the customer made on the channel (IVR keypad, chat widget menu)."""

    department: str | None = None
    language: Language | None = None


class IntakePosition(EventModel):
    """Where the message sits in intake.messages.v1; the case reference derives from it."""

    partition: int = Field(ge=0)
    offset: int = Field(ge=0)


class SatisfactionAnswer(EventModel):
    """A customer's answer to a satisfaction request, as a channel carried it explicitly (a button, a link).

    A rating written as plain text ("4", "五分") is recognised later, by the notifier, which knows
    whether a request is waiting in the conversation.
    """

    case_reference: str
    score: int = Field(ge=1, le=5)
    via: Literal["button", "link"]


class IntakeMessage(EventModel):
    """intake.messages.v1: one customer message, normalised by an intake adapter."""

    event_id: str
    channel: Channel
    channel_account: str
    kind: MessageKind = MessageKind.MESSAGE
    received_at: datetime
    sent_at: datetime | None = Field(default=None, description="When the customer sent it, per the provider.")
    conversation_id: str
    customer: CustomerIdentity
    reply_to: ReplyTarget
    subject: str | None = None
    text: MessageText
    language_hint: Language | None = None
    attachments: list[Attachment] = Field(default_factory=list)
    thread: ThreadInfo = Field(default_factory=ThreadInfo)
    routing_hints: RoutingHints = Field(default_factory=RoutingHints)
    automated: AutomatedReason | None = Field(
        default=None, description="Set when the intake recognised an automated message: never acknowledged."
    )
    provider_ids: dict[str, str] = Field(default_factory=dict)
    raw_ref: str | None = Field(default=None, description="Reference to the raw payload, for audit.")
    satisfaction: SatisfactionAnswer | None = Field(
        default=None,
        description="Set (with kind satisfaction_response) when the customer answered a satisfaction request "
        "by button or link.",
    )


class Money(EventModel):
    """An amount the customer mentioned."""

    amount: Decimal = Field(
        description='Decimal amount, written as a string: "1299.00".',
        json_schema_extra={"pattern": r"^-?[0-9]+(\.[0-9]+)?$"},
    )
    currency: str = Field(description="ISO 4217 code, or XXX when the text named none.")


class Entities(EventModel):
    """Things found in the text."""

    order_numbers: list[str] = Field(default_factory=list)
    tracking_numbers: list[str] = Field(default_factory=list)
    amounts: list[Money] = Field(default_factory=list)
    phone_numbers: list[str] = Field(default_factory=list)
    emails: list[str] = Field(default_factory=list)


class Sentiment(EventModel):
    """How the customer feels, as far as the text shows."""

    score: float = Field(ge=-1.0, le=1.0, description="-1 very negative .. 1 very positive.")
    anger: bool = False
    stated_urgency: bool = Field(default=False, description="The customer said the matter is urgent.")


class Classification(EventModel):
    """What the classifier decided."""

    language: Language
    type: MessageType
    topic: MessageTopic
    priority: Priority
    sentiment: Sentiment
    entities: Entities = Field(default_factory=Entities)
    masked_subject: str | None = None
    masked_text: str
    confidence: float = Field(ge=0.0, le=1.0)
    model: str = Field(description="Classifier name and version that produced this.")
    evidence: list[str] = Field(default_factory=list, description="Rules and signals that decided.")


class ClassifiedMessage(EventModel):
    """intake.classified.v1: a message with its classification."""

    event_id: str
    message: IntakeMessage
    intake_position: IntakePosition
    classification: Classification
    classified_at: datetime


class Routing(EventModel):
    """Where a message went and why."""

    department: str | None = Field(description="Department topic it was routed to; null when only recorded.")
    case_reference: str
    is_follow_up: bool = False
    linked_by: CaseLink | None = Field(
        default=None,
        description="For a follow-up: how it was attached to the case: the same conversation (email thread, chat "
        "session) or a case reference the customer quoted (any channel, any conversation).",
    )
    escalated: bool = False
    escalation_reasons: list[EscalationReason] = Field(default_factory=list)
    rule: str = Field(description="Name of the routing rule that matched.")
    priority: Priority
    resolution_due_at: datetime | None = None
    routed_at: datetime


class RoutedMessage(EventModel):
    """intake.routed.v1: the internal record of a routing decision (holds the reply address)."""

    event_id: str
    message: IntakeMessage
    intake_position: IntakePosition
    classification: Classification
    routing: Routing


class MaskedCustomer(EventModel):
    """A customer as departments see them: contact details masked."""

    key: str
    handle_masked: str
    display_name: str | None = None


class CaseEvent(EventModel):
    """dept.<department>.v1 and escalations.v1: a case a department works, contact details masked.

    Departments answer through case.updates.v1 with the case reference; they never need the
    customer's address.
    """

    event_id: str
    case_reference: str
    message_event_id: str
    department: str
    is_follow_up: bool = False
    linked_by: CaseLink | None = Field(
        default=None,
        description="For a follow-up: how it was attached to the case: the same conversation (email thread, chat "
        "session) or a case reference the customer quoted (any channel, any conversation).",
    )
    channel: Channel
    kind: MessageKind = MessageKind.MESSAGE
    received_at: datetime
    routed_at: datetime
    conversation_id: str
    customer: MaskedCustomer
    language: Language
    type: MessageType
    topic: MessageTopic
    priority: Priority
    resolution_due_at: datetime | None = None
    sentiment: Sentiment
    escalated: bool = False
    escalation_reasons: list[EscalationReason] = Field(default_factory=list)
    subject_masked: str | None = None
    text_masked: str
    entities: Entities = Field(default_factory=Entities)
    attachments: list[Attachment] = Field(default_factory=list)
    confidence: float = Field(ge=0.0, le=1.0)


class CaseStatus(StrEnum):
    """Status changes a department reports."""

    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    WAITING_FOR_CUSTOMER = "waiting_for_customer"
    DELAYED = "delayed"
    RESOLVED = "resolved"
    CLOSED = "closed"


class CaseUpdateKind(StrEnum):
    """A status change (with an optional message) or a plain reply."""

    STATUS = "status"
    REPLY = "reply"


class CaseUpdate(EventModel):
    """case.updates.v1: what a department tells the customer, keyed by case reference."""

    update_id: str = Field(description="Unique per update; a redelivered update with the same id is sent once.")
    case_reference: str
    kind: CaseUpdateKind
    status: CaseStatus | None = None
    message: str | None = Field(default=None, description="Text for the customer, in their language.")
    expected_at: datetime | None = Field(default=None, description="New expected time (delayed, accepted).")
    department: str
    author: str | None = None
    sent_at: datetime

    @model_validator(mode="after")
    def _complete(self) -> CaseUpdate:
        if self.kind is CaseUpdateKind.STATUS and self.status is None:
            raise ValueError("a status update needs a status")
        if self.kind is CaseUpdateKind.REPLY and not (self.message and self.message.strip()):
            raise ValueError("a reply needs a message")
        if self.status is CaseStatus.DELAYED and self.expected_at is None:
            raise ValueError("a delay needs the new expected time (expected_at)")
        return self


class AckKind(StrEnum):
    """What the notifier sent."""

    ACK = "ack"
    GENERIC_ACK = "generic_ack"
    UPDATE = "update"
    REPLY = "reply"
    SURVEY = "survey"


class AckOutcome(StrEnum):
    """How a notification ended."""

    SENT = "sent"
    FAILED = "failed"
    SUPPRESSED = "suppressed"


class AckRecord(EventModel):
    """notify.acks.v1: every acknowledgement (or decision not to send one) and its SLA outcome."""

    event_id: str
    message_event_id: str
    conversation_id: str
    case_reference: str | None = None
    channel: Channel
    kind: AckKind
    outcome: AckOutcome
    reason: str | None = Field(default=None, description="Why it was suppressed or failed.")
    language: Language | None = None
    department: str | None = None
    recipient_masked: str | None = None
    recipient_key: str | None = Field(
        default=None,
        description="Stable, non-reversible key of the recipient's address on the channel (per-address limits).",
    )
    received_at: datetime
    recorded_at: datetime
    latency_ms: float = Field(description="From the message's arrival to the acknowledgement's delivery.")
    sla_seconds: float
    sla_met: bool
    attempts: int = 1


class ChatAction(EventModel):
    """A button offered with a chat message; pressing it sends ``value`` back as the answer."""

    label: str
    value: str


class ChatOutbound(EventModel):
    """chat.outbound.v1: a message for a web-chat conversation, delivered by whichever replica holds the socket."""

    message_id: str
    conversation_id: str
    in_reply_to: str | None = Field(default=None, description="Event id of the customer message answered.")
    kind: AckKind
    text: str
    case_reference: str | None = None
    department: str | None = None
    language: Language | None = None
    sent_at: datetime
    actions: list[ChatAction] = Field(
        default_factory=list, description="Buttons offered with the message (a satisfaction request's 1-5)."
    )


class CaseNotification(EventModel):
    """notify.updates.v1: every department update or reply delivered (or not) to a customer, keyed by case
    reference (co-partitioned with case.updates.v1), and every satisfaction request that followed one."""

    event_id: str
    update_id: str
    case_reference: str
    conversation_id: str | None = None
    channel: Channel | None = None
    kind: AckKind
    status: CaseStatus | None = None
    outcome: AckOutcome
    reason: str | None = None
    language: Language | None = None
    recipient_masked: str | None = None
    recorded_at: datetime
    latency_ms: float = Field(description="From the update's sent_at to its delivery.")
    attempts: int = 1


class CaseSatisfaction(EventModel):
    """case.satisfaction.v1: a customer's rating of a resolved case (1 to 5), keyed by case reference."""

    event_id: str
    case_reference: str
    score: int = Field(ge=1, le=5)
    via: Literal["button", "link", "text"]
    channel: Channel
    conversation_id: str
    message_event_id: str
    answered_at: datetime


class Incident(EventModel):
    """incidents.v1: many similar complaints in a short window; supervisors are alerted once."""

    incident_id: str
    detected_at: datetime
    type: MessageType
    topic: MessageTopic
    department: str | None = None
    window_seconds: int
    count: int
    threshold: int
    sample_case_references: list[str] = Field(default_factory=list)
