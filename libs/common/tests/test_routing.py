from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from switchboard_common.events.models import (
    Channel,
    Classification,
    Entities,
    EscalationReason,
    Language,
    MessageTopic,
    MessageType,
    Money,
    Priority,
    Sentiment,
)
from switchboard_common.routing import (
    MessageFacts,
    RoutingConfigError,
    escalation_reasons,
    load_routing_config,
    parse_duration,
    resolution_deadline,
    route,
)
from switchboard_common.topics import load_topic_plan

CONFIG = load_routing_config()
CHAT = MessageFacts(channel=Channel.WEBCHAT)


def classified(
    type_: MessageType = MessageType.INQUIRY,
    topic: MessageTopic = MessageTopic.OTHER,
    *,
    confidence: float = 0.9,
    priority: Priority = Priority.NORMAL,
    anger: bool = False,
    amounts: tuple[str, ...] = (),
) -> Classification:
    return Classification(
        language=Language.EN,
        type=type_,
        topic=topic,
        priority=priority,
        sentiment=Sentiment(score=-0.5 if anger else 0.0, anger=anger),
        entities=Entities(amounts=[Money(amount=Decimal(a), currency="CNY") for a in amounts]),
        masked_text="...",
        confidence=confidence,
        model="test",
    )


@pytest.mark.parametrize(
    ("topic", "department"),
    [
        (MessageTopic.ORDER, "orders"),
        (MessageTopic.LOGISTICS, "logistics"),
        (MessageTopic.PAYMENT, "billing"),
        (MessageTopic.ACCOUNT, "accounts"),
        (MessageTopic.PROMOTION, "marketing"),
        (MessageTopic.AFTER_SALES, "after_sales"),
    ],
)
def test_topics_route_to_their_departments_first(topic, department):
    assert route(CONFIG, classified(MessageType.COMPLAINT, topic), CHAT).department == department


@pytest.mark.parametrize(
    ("type_", "department"),
    [
        (MessageType.COMPLAINT, "after_sales"),
        (MessageType.FAULT, "tech_support"),
        (MessageType.SUGGESTION, "product_management"),
        (MessageType.INQUIRY, "product"),
    ],
)
def test_without_a_routed_topic_the_type_decides(type_, department):
    assert route(CONFIG, classified(type_, MessageTopic.PRODUCT), CHAT).department == department


def test_low_confidence_goes_to_triage():
    decision = route(CONFIG, classified(MessageType.INQUIRY, MessageTopic.ORDER, confidence=0.2), CHAT)
    assert (decision.department, decision.rule) == ("triage", "low-confidence")


def test_non_actionable_and_automated_messages_are_recorded_not_routed():
    assert route(CONFIG, classified(MessageType.NON_ACTIONABLE), CHAT).department is None
    automated = MessageFacts(channel=Channel.EMAIL, automated=True)
    assert route(CONFIG, classified(MessageType.COMPLAINT, MessageTopic.ORDER), automated).department is None


def test_the_team_a_caller_chose_on_the_keypad_wins():
    facts = MessageFacts(channel=Channel.PHONE, hint="billing")
    decision = route(CONFIG, classified(MessageType.INQUIRY, MessageTopic.LOGISTICS), facts)
    assert (decision.department, decision.rule) == ("billing", "customer-chose-a-team")


def test_a_complaint_over_500_is_escalated():
    reasons = escalation_reasons(
        CONFIG, classified(MessageType.COMPLAINT, amounts=("1299.00",)), earlier_complaints_in_conversation=0
    )
    assert reasons == [EscalationReason.HIGH_VALUE_COMPLAINT]


def test_a_complaint_of_exactly_500_is_not_escalated_for_its_amount():
    assert (
        escalation_reasons(
            CONFIG, classified(MessageType.COMPLAINT, amounts=("500",)), earlier_complaints_in_conversation=0
        )
        == []
    )


def test_the_second_complaint_in_a_conversation_is_escalated():
    reasons = escalation_reasons(CONFIG, classified(MessageType.COMPLAINT), earlier_complaints_in_conversation=1)
    assert reasons == [EscalationReason.REPEATED_COMPLAINT]


def test_urgency_and_anger_escalate():
    reasons = escalation_reasons(
        CONFIG, classified(priority=Priority.URGENT, anger=True), earlier_complaints_in_conversation=0
    )
    assert reasons == [EscalationReason.URGENT_PRIORITY, EscalationReason.ANGER]


def test_deadlines_follow_priority():
    received = datetime(2026, 1, 1, tzinfo=UTC)
    assert resolution_deadline(CONFIG, Priority.URGENT, received) == received + timedelta(hours=2)
    assert resolution_deadline(CONFIG, Priority.NORMAL, received) == received + timedelta(hours=24)
    assert resolution_deadline(CONFIG, Priority.LOW, received) == received + timedelta(hours=48)


def test_the_packaged_rules_only_name_departments_of_the_topic_plan():
    load_routing_config(known_departments=set(load_topic_plan().departments))


def test_rules_naming_an_unknown_department_are_rejected(tmp_path: Path):
    text = (Path(__file__).parents[1] / "src/switchboard_common/config/routing.yaml").read_text()
    path = tmp_path / "routing.yaml"
    path.write_text(text.replace("department: billing", "department: bilingg"))
    with pytest.raises(RoutingConfigError, match="bilingg"):
        load_routing_config(path, known_departments=set(load_topic_plan().departments))


def test_a_rules_file_with_an_unknown_key_is_rejected(tmp_path: Path):
    path = tmp_path / "routing.yaml"
    path.write_text("version: 1\nrules: []\ndeadlines: {urgent: 2h, normal: 1d, low: 2d}\nsurprise: true\n")
    with pytest.raises(RoutingConfigError, match="surprise"):
        load_routing_config(path)


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("10m", 600), ("2h", 7200), ("2d", 172800), (45, 45)])
def test_durations_are_written_with_units(text, seconds):
    assert parse_duration(text) == timedelta(seconds=seconds)
