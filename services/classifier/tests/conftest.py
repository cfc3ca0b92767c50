"""Fixtures of the classifier's tests: the service's classifier (packaged taxonomy and model) built once,
the rules alone beside it, intake messages as adapters publish them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from switchboard_classifier.classifier import ClassificationInput, HybridClassifier, RulesClassifier
from switchboard_classifier.model import LinearModel, load_model
from switchboard_classifier.taxonomy import Taxonomy, load_taxonomy
from switchboard_common.events import MESSAGE_RECEIVED, OutgoingRecord, encode_event
from switchboard_common.events.envelope import new_traceparent
from switchboard_common.events.models import (
    AutomatedReason,
    Channel,
    Classification,
    CustomerIdentity,
    IntakeMessage,
    Language,
    MessageText,
    ReplyTarget,
    RoutingHints,
)
from switchboard_common.identity import customer_key, event_id
from switchboard_common.topics import TopicNames

Classify = Callable[..., Classification]


@pytest.fixture(scope="session")
def taxonomy() -> Taxonomy:
    return load_taxonomy()


@pytest.fixture(scope="session")
def model() -> LinearModel:
    return load_model()


@pytest.fixture(scope="session")
def classifier(taxonomy: Taxonomy, model: LinearModel) -> HybridClassifier:
    """The classifier the service runs: the packaged taxonomy's rules and the packaged model."""
    return HybridClassifier(taxonomy, model)


@pytest.fixture(scope="session")
def rules_classifier(taxonomy: Taxonomy) -> RulesClassifier:
    """The taxonomy's rules alone."""
    return RulesClassifier(taxonomy)


@pytest.fixture(scope="session")
def classify(classifier: HybridClassifier) -> Classify:
    """``classify(text, **fields of ClassificationInput)``."""

    def run(text: str, **fields: Any) -> Classification:
        return classifier.classify(ClassificationInput(text=text, **fields))

    return run


def make_intake_message(
    provider_id: str,
    text: str,
    *,
    conversation: str = "conv-1",
    channel: Channel = Channel.WEBCHAT,
    subject: str | None = None,
    automated: AutomatedReason | None = None,
    chosen_language: Language | None = None,
) -> IntakeMessage:
    return IntakeMessage(
        event_id=event_id("test", provider_id),
        channel=channel,
        channel_account="shop-main",
        received_at=datetime.now(UTC),
        conversation_id=conversation,
        customer=CustomerIdentity(key=customer_key(channel.value, "visitor-7"), handle="visitor-7"),
        reply_to=ReplyTarget(channel=channel, account="shop-main", address=conversation),
        subject=subject,
        text=MessageText(original=text, plain=text, new_content=text),
        automated=automated,
        routing_hints=RoutingHints(language=chosen_language),
    )


def make_intake_record(names: TopicNames, message: IntakeMessage, traceparent: str | None = None) -> OutgoingRecord:
    return encode_event(
        MESSAGE_RECEIVED,
        topic=names("intake.messages.v1"),
        event_id=message.event_id,
        source="test/intake",
        key=message.conversation_id,
        data=message,
        traceparent=traceparent or new_traceparent(),
    )


@pytest.fixture(scope="session")
def intake_message() -> Callable[..., IntakeMessage]:
    """``intake_message(provider_id, text, **options)``: an IntakeMessage as an intake adapter builds it."""
    return make_intake_message


@pytest.fixture(scope="session")
def intake_record() -> Callable[..., OutgoingRecord]:
    """``intake_record(names, message, traceparent=None)``: the record an intake adapter publishes."""
    return make_intake_record
