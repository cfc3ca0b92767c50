"""Test support: a factory of classified messages and validation against the committed JSON Schemas."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator

from switchboard_common.events.models import (
    AutomatedReason,
    Channel,
    Classification,
    ClassifiedMessage,
    CustomerIdentity,
    Entities,
    IntakeMessage,
    IntakePosition,
    Language,
    MessageText,
    MessageTopic,
    MessageType,
    Money,
    Priority,
    ReplyTarget,
    RoutingHints,
    Sentiment,
    ThreadInfo,
)
from switchboard_common.identity import customer_key
from switchboard_common.schema_catalog import schema_root

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PHONE = "+86 138 0013 8000"


def new_event_id() -> str:
    return str(uuid.uuid4())


def classified(
    *,
    type: MessageType = MessageType.INQUIRY,
    topic: MessageTopic = MessageTopic.OTHER,
    priority: Priority = Priority.NORMAL,
    confidence: float = 0.9,
    conversation_id: str = "conv-1",
    event_id: str | None = None,
    partition: int = 0,
    offset: int = 0,
    received_at: datetime = T0,
    anger: bool = False,
    amounts: Sequence[str] = (),
    hint: str | None = None,
    automated: AutomatedReason | None = None,
    quoted: Sequence[str] = (),
    channel: Channel = Channel.SMS,
    handle: str = PHONE,
    display_name: str | None = None,
    subject: str | None = None,
    masked_subject: str | None = None,
    masked_text: str = "Where is my parcel? Call me on ***8000.",
    phone_numbers: Sequence[str] = (),
    emails: Sequence[str] = (),
) -> ClassifiedMessage:
    """A classified message as the classifier would publish it; every field has a plain default."""
    event_id = event_id or new_event_id()
    message = IntakeMessage(
        event_id=event_id,
        channel=channel,
        channel_account="+15550001000",
        received_at=received_at,
        conversation_id=conversation_id,
        customer=CustomerIdentity(key=customer_key(channel.value, handle), handle=handle, display_name=display_name),
        reply_to=ReplyTarget(channel=channel, account="+15550001000", address=handle),
        subject=subject,
        text=MessageText(original="original text", plain="plain text", new_content="new content"),
        thread=ThreadInfo(quoted_case_references=list(quoted)),
        routing_hints=RoutingHints(department=hint),
        automated=automated,
    )
    return ClassifiedMessage(
        event_id=str(uuid.uuid5(uuid.UUID(event_id), "classified")),
        message=message,
        intake_position=IntakePosition(partition=partition, offset=offset),
        classification=Classification(
            language=Language.EN,
            type=type,
            topic=topic,
            priority=priority,
            sentiment=Sentiment(score=-0.8 if anger else 0.0, anger=anger),
            entities=Entities(
                amounts=[Money(amount=Decimal(a), currency="CNY") for a in amounts],
                phone_numbers=list(phone_numbers),
                emails=list(emails),
                order_numbers=["SO-20260301-0042"],
            ),
            masked_subject=masked_subject,
            masked_text=masked_text,
            confidence=confidence,
            model="test-classifier/1",
        ),
        classified_at=received_at,
    )


@pytest.fixture(scope="session")
def make_classified() -> Callable[..., ClassifiedMessage]:
    """The factory of classified messages (see :func:`classified`)."""
    return classified


@pytest.fixture(scope="session")
def t0() -> datetime:
    """The default receipt time of :func:`classified`."""
    return T0


@dataclass(frozen=True)
class SchemaCheck:
    """Validates event data against the committed schema of its CloudEvents type."""

    validators: dict[str, Draft202012Validator]

    def __call__(self, ce_type: str, data: bytes | dict[str, Any]) -> None:
        payload = orjson.loads(data) if isinstance(data, bytes) else data
        errors = sorted(self.validators[ce_type].iter_errors(payload), key=lambda e: list(e.path))
        assert not errors, f"{ce_type}: " + "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


@pytest.fixture(scope="session")
def schema_check() -> Callable[[str, bytes | dict[str, Any]], None]:
    validators = {}
    for path in (schema_root() / "json").glob("*.json"):
        schema = orjson.loads(path.read_bytes())
        Draft202012Validator.check_schema(schema)
        validators[path.stem] = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return SchemaCheck(validators)
