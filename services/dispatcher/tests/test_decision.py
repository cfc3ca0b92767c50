"""The dispatcher's decisions, without Kafka: routing, escalation, deadlines, cases, duplicates, incidents, masking."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson
import pytest

from switchboard_common.case_reference import IntakePosition, case_reference
from switchboard_common.events import InvalidMessage
from switchboard_common.events.models import (
    AutomatedReason,
    CaseLink,
    ClassifiedMessage,
    EscalationReason,
    MessageTopic,
    MessageType,
    Priority,
)
from switchboard_common.routing import IncidentPolicy, RoutingConfig, load_routing_config
from switchboard_dispatcher.case_directory import QuotedCase
from switchboard_dispatcher.decision import Decision, canonical_references, decide, dispatch
from switchboard_dispatcher.state import DispatcherState, PartitionState, StateWindows

DEFAULT_RULES = load_routing_config()


class Desk:
    """The dispatcher's step on in-memory state: what the processor does for each message."""

    def __init__(
        self,
        config: RoutingConfig = DEFAULT_RULES,
        windows: StateWindows | None = None,
        partitions: tuple[int, ...] = (0,),
    ) -> None:
        self.config = config
        self.state = DispatcherState(windows or StateWindows())
        for number in partitions:
            self.state.partitions[number] = PartitionState()

    def handle(
        self,
        message: ClassifiedMessage,
        *,
        now: datetime | None = None,
        partition: int = 0,
        quoted: QuotedCase | None = None,
    ) -> Decision:
        now = now or message.message.received_at + timedelta(seconds=1)
        return dispatch(message, self.state, self.config, now, partition=partition, quoted=quoted)


def with_incidents(threshold: int, window: timedelta) -> RoutingConfig:
    return DEFAULT_RULES.model_copy(update={"incidents": IncidentPolicy(threshold=threshold, window=window)})


# -- routing rules -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "department", "rule"),
    [
        (MessageTopic.ORDER, "orders", "order"),
        (MessageTopic.LOGISTICS, "logistics", "logistics"),
        (MessageTopic.PAYMENT, "billing", "payment"),
        (MessageTopic.ACCOUNT, "accounts", "account"),
        (MessageTopic.PROMOTION, "marketing", "promotion"),
        (MessageTopic.AFTER_SALES, "after_sales", "after-sales"),
    ],
)
def test_a_message_goes_to_the_department_of_its_topic(make_classified, topic, department, rule):
    decision = Desk().handle(make_classified(topic=topic, type=MessageType.COMPLAINT))

    assert decision.routed is not None
    assert (decision.routed.routing.department, decision.routed.routing.rule) == (department, rule)
    assert decision.department_case is not None
    assert decision.department_case.department == department


@pytest.mark.parametrize(
    ("type_", "department", "rule"),
    [
        (MessageType.COMPLAINT, "after_sales", "complaint"),
        (MessageType.FAULT, "tech_support", "fault-report"),
        (MessageType.SUGGESTION, "product_management", "suggestion"),
        (MessageType.INQUIRY, "product", "inquiry"),
    ],
)
def test_a_message_without_a_topic_rule_goes_by_its_type(make_classified, type_, department, rule):
    for topic in (MessageTopic.PRODUCT, MessageTopic.OTHER):
        decision = Desk().handle(make_classified(topic=topic, type=type_))

        assert decision.routed is not None
        assert (decision.routed.routing.department, decision.routed.routing.rule) == (department, rule)


def test_a_low_confidence_message_goes_to_triage(make_classified):
    decision = Desk().handle(make_classified(topic=MessageTopic.ORDER, confidence=0.3))

    assert decision.routed is not None
    assert decision.routed.routing.department == "triage"
    assert decision.routed.routing.rule == "low-confidence"
    assert decision.department_case is not None
    assert decision.department_case.department == "triage"


def test_a_non_actionable_message_is_recorded_and_not_routed(make_classified):
    decision = Desk().handle(make_classified(type=MessageType.NON_ACTIONABLE, priority=Priority.URGENT, anger=True))

    assert decision.routed is not None
    assert decision.routed.routing.department is None
    assert decision.routed.routing.rule == "non-actionable"
    assert decision.routed.routing.resolution_due_at is None
    assert (decision.department_case, decision.escalation, decision.incident) == (None, None, None)


def test_an_automated_message_is_recorded_and_not_routed_whatever_its_classification(make_classified):
    decision = Desk().handle(make_classified(type=MessageType.COMPLAINT, automated=AutomatedReason.AUTO_REPLY))

    assert decision.routed is not None
    assert decision.routed.routing.department is None
    assert decision.department_case is None


def test_the_team_a_customer_chose_by_ivr_keypad_wins_over_the_topic(make_classified):
    decision = Desk().handle(make_classified(topic=MessageTopic.ORDER, hint="billing", confidence=0.2))

    assert decision.routed is not None
    assert decision.routed.routing.department == "billing"
    assert decision.routed.routing.rule == "customer-chose-a-team"


def test_a_hint_that_names_no_team_of_the_rules_is_ignored(make_classified):
    decision = Desk().handle(make_classified(topic=MessageTopic.ORDER, hint="supervisors"))

    assert decision.routed is not None
    assert decision.routed.routing.department == "orders"


# -- escalation ----------------------------------------------------------------------------------


def test_a_complaint_over_500_is_escalated_and_keeps_its_department_route(make_classified):
    decision = Desk().handle(make_classified(type=MessageType.COMPLAINT, topic=MessageTopic.ORDER, amounts=["500.01"]))

    assert decision.routed is not None
    assert decision.routed.routing.escalation_reasons == [EscalationReason.HIGH_VALUE_COMPLAINT]
    assert decision.department_case is not None
    assert decision.department_case.department == "orders"
    assert decision.escalation is not None
    assert decision.escalation.escalation_reasons == [EscalationReason.HIGH_VALUE_COMPLAINT]
    assert decision.escalation.department == "orders"
    assert decision.escalation.event_id != decision.department_case.event_id


def test_the_escalation_is_the_department_case_under_its_own_event_id(make_classified):
    message = make_classified(
        type=MessageType.COMPLAINT,
        topic=MessageTopic.ORDER,
        amounts=["900.00"],
        display_name="Wang Fang",
        subject="Order SO-1 call me on 13800138000",
        emails=["wang.fang@example.com"],
        phone_numbers=["+86 138 0013 8000"],
    )
    decision = Desk().handle(message)
    assert decision.department_case is not None and decision.escalation is not None
    event_id = message.message.event_id
    assert decision.escalation.event_id == str(uuid.uuid5(uuid.UUID(event_id), "escalation"))
    assert decision.department_case.event_id == str(uuid.uuid5(uuid.UUID(event_id), "dept"))
    as_json = {k: v for k, v in orjson.loads(decision.escalation.model_dump_json()).items() if k != "event_id"}
    assert as_json == {
        k: v for k, v in orjson.loads(decision.department_case.model_dump_json()).items() if k != "event_id"
    }
    assert "13800138000" not in decision.escalation.model_dump_json()


def test_a_complaint_of_exactly_500_is_not_escalated(make_classified):
    decision = Desk().handle(make_classified(type=MessageType.COMPLAINT, amounts=["500.00"]))

    assert decision.routed is not None
    assert decision.routed.routing.escalated is False
    assert decision.escalation is None


def test_an_inquiry_about_a_large_amount_is_not_escalated(make_classified):
    decision = Desk().handle(make_classified(type=MessageType.INQUIRY, amounts=["9999"]))

    assert decision.escalation is None


def test_the_second_complaint_in_a_conversation_is_escalated_as_repeated(make_classified):
    desk = Desk()
    first = desk.handle(make_classified(type=MessageType.COMPLAINT, offset=1))
    second = desk.handle(make_classified(type=MessageType.COMPLAINT, offset=2))

    assert first.escalation is None
    assert second.escalation is not None
    assert second.escalation.escalation_reasons == [EscalationReason.REPEATED_COMPLAINT]


def test_complaints_in_different_conversations_are_not_repeated_complaints(make_classified):
    desk = Desk()
    desk.handle(make_classified(type=MessageType.COMPLAINT, conversation_id="a"))
    other = desk.handle(make_classified(type=MessageType.COMPLAINT, conversation_id="b"))

    assert other.escalation is None


def test_an_urgent_message_is_escalated(make_classified):
    decision = Desk().handle(make_classified(priority=Priority.URGENT))

    assert decision.escalation is not None
    assert decision.escalation.escalation_reasons == [EscalationReason.URGENT_PRIORITY]


def test_an_angry_message_is_escalated(make_classified):
    decision = Desk().handle(make_classified(anger=True))

    assert decision.escalation is not None
    assert decision.escalation.escalation_reasons == [EscalationReason.ANGER]


def test_a_calm_normal_inquiry_is_not_escalated(make_classified):
    decision = Desk().handle(make_classified())

    assert decision.routed is not None
    assert decision.routed.routing.escalated is False
    assert decision.escalation is None


# -- deadlines -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("priority", "hours"), [(Priority.URGENT, 2), (Priority.NORMAL, 24), (Priority.LOW, 48)])
def test_the_resolution_deadline_follows_the_priority(make_classified, t0, priority, hours):
    decision = Desk().handle(make_classified(priority=priority, received_at=t0), now=t0 + timedelta(minutes=5))

    assert decision.routed is not None
    assert decision.routed.routing.resolution_due_at == t0 + timedelta(hours=hours)
    assert decision.department_case is not None
    assert decision.department_case.resolution_due_at == t0 + timedelta(hours=hours)


def test_the_routing_time_is_the_decision_time(make_classified, t0):
    now = t0 + timedelta(minutes=3)
    decision = Desk().handle(make_classified(received_at=t0), now=now)

    assert decision.routed is not None
    assert decision.routed.routing.routed_at == now


# -- case references and follow-ups --------------------------------------------------------------


def test_a_new_conversation_opens_a_case_named_by_its_intake_position(make_classified):
    decision = Desk(partitions=(2,)).handle(make_classified(partition=4, offset=1234), partition=2)

    assert decision.routed is not None
    assert decision.routed.routing.case_reference == case_reference(IntakePosition(4, 1234))
    assert decision.routed.routing.is_follow_up is False
    assert decision.department_case is not None
    assert decision.department_case.case_reference == decision.routed.routing.case_reference


def test_a_follow_up_keeps_the_case_reference_of_its_conversation(make_classified, t0):
    desk = Desk()
    first = desk.handle(make_classified(offset=10, received_at=t0))
    later = desk.handle(make_classified(offset=99, received_at=t0 + timedelta(days=6)))

    assert first.routed is not None
    assert later.routed is not None
    assert later.routed.routing.case_reference == first.routed.routing.case_reference
    assert later.routed.routing.is_follow_up is True
    assert later.department_case is not None
    assert later.department_case.is_follow_up is True


def test_the_follow_up_window_runs_from_the_last_activity(make_classified, t0):
    desk = Desk(windows=StateWindows(follow_up=timedelta(days=7)))
    first = desk.handle(make_classified(offset=1, received_at=t0))
    desk.handle(make_classified(offset=2, received_at=t0 + timedelta(days=6)))
    third = desk.handle(make_classified(offset=3, received_at=t0 + timedelta(days=12)))

    assert first.routed is not None
    assert third.routed is not None
    assert third.routed.routing.case_reference == first.routed.routing.case_reference


def test_a_message_after_the_follow_up_window_opens_a_new_case(make_classified, t0):
    desk = Desk(windows=StateWindows(follow_up=timedelta(days=7)))
    desk.handle(make_classified(offset=1, received_at=t0))
    later = desk.handle(make_classified(offset=2, received_at=t0 + timedelta(days=8)))

    assert later.routed is not None
    assert later.routed.routing.case_reference == case_reference(IntakePosition(0, 2))
    assert later.routed.routing.is_follow_up is False


def test_quoting_the_conversations_case_reference_continues_the_case_after_the_follow_up_window(make_classified, t0):
    desk = Desk(windows=StateWindows(follow_up=timedelta(days=2), case_memory=timedelta(days=14)))
    first = desk.handle(make_classified(offset=1, received_at=t0))
    assert first.routed is not None
    reference = first.routed.routing.case_reference
    typed = reference.lower().replace("-", " ")  # customers type references loosely
    later = desk.handle(make_classified(offset=2, received_at=t0 + timedelta(days=5), quoted=[typed]))

    assert later.routed is not None
    assert later.routed.routing.case_reference == reference
    assert later.routed.routing.is_follow_up is True


def test_quoting_another_reference_does_not_continue_the_conversations_old_case(make_classified, t0):
    desk = Desk(windows=StateWindows(follow_up=timedelta(days=2)))
    desk.handle(make_classified(offset=1, received_at=t0))
    other = case_reference(IntakePosition(1, 77))
    later = desk.handle(make_classified(offset=2, received_at=t0 + timedelta(days=5), quoted=[other]))

    assert later.routed is not None
    assert later.routed.routing.is_follow_up is False
    assert later.routed.routing.case_reference == case_reference(IntakePosition(0, 2))


def test_a_follow_up_in_its_conversation_says_it_was_linked_by_the_conversation(make_classified, t0):
    desk = Desk()
    first = desk.handle(make_classified(offset=1, received_at=t0))
    later = desk.handle(make_classified(offset=2, received_at=t0 + timedelta(hours=1)))

    assert first.routed is not None and later.routed is not None
    assert first.routed.routing.linked_by is None
    assert later.routed.routing.linked_by is CaseLink.CONVERSATION
    assert later.department_case is not None and later.department_case.linked_by is CaseLink.CONVERSATION


def test_a_conversations_case_quoted_after_the_follow_up_window_is_linked_by_the_quote(make_classified, t0):
    desk = Desk(windows=StateWindows(follow_up=timedelta(days=2), case_memory=timedelta(days=14)))
    first = desk.handle(make_classified(offset=1, received_at=t0))
    assert first.routed is not None
    reference = first.routed.routing.case_reference
    later = desk.handle(make_classified(offset=2, received_at=t0 + timedelta(days=5), quoted=[reference]))

    assert later.routed is not None
    assert later.routed.routing.linked_by is CaseLink.QUOTED_REFERENCE


def test_a_message_quoting_a_case_of_another_conversation_goes_to_the_department_owning_it(make_classified, t0):
    desk = Desk(partitions=(0, 1))
    owned = case_reference(IntakePosition(1, 40))
    quoting = make_classified(
        conversation_id="new-session", topic=MessageTopic.PAYMENT, offset=7, received_at=t0, quoted=[owned]
    )
    decision = desk.handle(quoting, quoted=QuotedCase(owned, "logistics"))

    assert decision.routed is not None
    routing = decision.routed.routing
    assert (routing.case_reference, routing.is_follow_up, routing.linked_by) == (
        owned,
        True,
        CaseLink.QUOTED_REFERENCE,
    )
    assert (routing.department, routing.rule) == ("logistics", "follow-up")
    assert decision.department_case is not None
    assert decision.department_case.case_reference == owned
    assert decision.department_case.linked_by is CaseLink.QUOTED_REFERENCE


def test_a_quoted_case_wins_over_the_conversations_own_case(make_classified, t0):
    desk = Desk()
    desk.handle(make_classified(topic=MessageTopic.ORDER, offset=1, received_at=t0))
    other = case_reference(IntakePosition(2, 5))
    later = desk.handle(
        make_classified(offset=2, received_at=t0 + timedelta(minutes=5), quoted=[other]),
        quoted=QuotedCase(other, "billing"),
    )
    after = desk.handle(make_classified(offset=3, received_at=t0 + timedelta(minutes=6)))

    assert later.routed is not None and after.routed is not None
    assert (later.routed.routing.case_reference, later.routed.routing.department) == (other, "billing")
    # The conversation now continues the case it quoted.
    assert (after.routed.routing.case_reference, after.routed.routing.department) == (other, "billing")
    assert after.routed.routing.linked_by is CaseLink.CONVERSATION


def test_a_quoted_case_whose_owner_is_unknown_keeps_its_reference_and_goes_by_the_rules(make_classified, t0):
    desk = Desk()
    quoted = case_reference(IntakePosition(1, 3))
    decision = desk.handle(
        make_classified(topic=MessageTopic.PAYMENT, offset=9, received_at=t0, quoted=[quoted]),
        quoted=QuotedCase(quoted, None),
    )

    assert decision.routed is not None
    routing = decision.routed.routing
    assert (routing.case_reference, routing.is_follow_up, routing.linked_by) == (
        quoted,
        True,
        CaseLink.QUOTED_REFERENCE,
    )
    assert (routing.department, routing.rule) == ("billing", "payment")


def test_a_message_quoting_a_case_still_goes_to_the_team_the_customer_chose(make_classified, t0):
    quoted = case_reference(IntakePosition(1, 3))
    decision = Desk().handle(
        make_classified(hint="billing", offset=9, received_at=t0, quoted=[quoted]), quoted=QuotedCase(quoted, "orders")
    )

    assert decision.routed is not None
    assert decision.routed.routing.department == "billing"
    assert decision.routed.routing.case_reference == quoted


def test_a_non_actionable_message_quoting_a_case_is_recorded_against_it_and_not_routed(make_classified, t0):
    quoted = case_reference(IntakePosition(1, 3))
    decision = Desk().handle(
        make_classified(type=MessageType.NON_ACTIONABLE, offset=9, received_at=t0, quoted=[quoted]),
        quoted=QuotedCase(quoted, "orders"),
    )

    assert decision.routed is not None
    assert decision.routed.routing.department is None
    assert decision.routed.routing.case_reference == quoted
    assert decision.department_case is None


def test_quoted_references_are_canonical_in_the_order_quoted_without_repeats_or_mistypes():
    first, second = case_reference(IntakePosition(0, 1)), case_reference(IntakePosition(3, 99))
    mistyped = first[:-1] + ("0" if first[-1] != "0" else "1")
    assert canonical_references([mistyped, second.lower(), first, second]) == [second, first]


def test_a_follow_up_goes_to_the_department_that_owns_the_case(make_classified, t0):
    desk = Desk()
    desk.handle(make_classified(topic=MessageTopic.LOGISTICS, offset=1, received_at=t0))
    vague = desk.handle(make_classified(topic=MessageTopic.OTHER, confidence=0.2, offset=2, received_at=t0))

    assert vague.routed is not None
    assert (vague.routed.routing.department, vague.routed.routing.rule) == ("logistics", "follow-up")


def test_a_follow_up_goes_to_the_team_the_customer_chose(make_classified, t0):
    desk = Desk()
    desk.handle(make_classified(topic=MessageTopic.LOGISTICS, offset=1, received_at=t0))
    chosen = desk.handle(make_classified(hint="billing", offset=2, received_at=t0))

    assert chosen.routed is not None
    assert chosen.routed.routing.department == "billing"
    assert chosen.routed.routing.is_follow_up is True


def test_a_follow_up_goes_by_the_rules_when_the_rules_no_longer_route_to_the_case_owner(make_classified, t0):
    desk = Desk()
    desk.handle(make_classified(topic=MessageTopic.PROMOTION, offset=1, received_at=t0))
    desk.config = DEFAULT_RULES.model_copy(
        update={"rules": [r for r in DEFAULT_RULES.rules if r.department != "marketing"]}
    )
    later = desk.handle(make_classified(topic=MessageTopic.PROMOTION, offset=2, received_at=t0))

    assert later.routed is not None
    assert later.routed.routing.is_follow_up is True
    assert (later.routed.routing.department, later.routed.routing.rule) == ("product", "inquiry")


def test_a_non_actionable_message_neither_opens_nor_extends_a_case(make_classified, t0):
    desk = Desk(windows=StateWindows(follow_up=timedelta(days=7)))
    bounce = desk.handle(make_classified(type=MessageType.NON_ACTIONABLE, offset=1, received_at=t0))
    first = desk.handle(make_classified(offset=2, received_at=t0 + timedelta(days=1)))
    desk.handle(make_classified(type=MessageType.NON_ACTIONABLE, offset=3, received_at=t0 + timedelta(days=6)))
    later = desk.handle(make_classified(offset=4, received_at=t0 + timedelta(days=9)))

    assert bounce.routed is not None
    assert first.routed is not None
    assert later.routed is not None
    assert first.routed.routing.is_follow_up is False
    assert later.routed.routing.is_follow_up is False


def test_repeated_complaints_count_within_the_case_only(make_classified, t0):
    desk = Desk(windows=StateWindows(follow_up=timedelta(days=7)))
    desk.handle(make_classified(type=MessageType.COMPLAINT, offset=1, received_at=t0))
    next_case = desk.handle(make_classified(type=MessageType.COMPLAINT, offset=2, received_at=t0 + timedelta(days=8)))

    assert next_case.escalation is None


# -- duplicates ----------------------------------------------------------------------------------


def test_a_message_event_id_already_routed_is_suppressed(make_classified):
    desk = Desk()
    original = make_classified(type=MessageType.COMPLAINT, priority=Priority.URGENT, offset=1)
    redelivered = original.model_copy(
        update={"intake_position": original.intake_position.model_copy(update={"offset": 9})}
    )

    first = desk.handle(original)
    again = desk.handle(redelivered)

    assert first.is_duplicate is False
    assert again.is_duplicate is True
    assert (again.routed, again.department_case, again.escalation, again.incident) == (None, None, None, None)


def test_a_suppressed_duplicate_changes_nothing(make_classified):
    desk = Desk()
    original = make_classified(type=MessageType.COMPLAINT, offset=1)
    desk.handle(original)
    desk.handle(original)
    second_complaint = desk.handle(make_classified(type=MessageType.COMPLAINT, offset=2))

    assert second_complaint.escalation is not None  # the repeat counts as one earlier complaint, not two
    assert desk.state.partition(0).conversations["conv-1"].complaints == 2


def test_a_non_actionable_duplicate_is_suppressed_too(make_classified):
    desk = Desk()
    original = make_classified(type=MessageType.NON_ACTIONABLE)
    desk.handle(original)

    assert desk.handle(original).is_duplicate is True


def test_a_duplicate_is_forgotten_after_the_dedup_window(make_classified, t0):
    desk = Desk(windows=StateWindows(dedup=timedelta(hours=24)))
    original = make_classified(received_at=t0)
    desk.handle(original, now=t0)
    desk.handle(make_classified(conversation_id="other"), now=t0 + timedelta(hours=25))

    assert desk.handle(original, now=t0 + timedelta(hours=25)).is_duplicate is False


def test_a_message_whose_event_id_is_not_a_uuid_is_invalid(make_classified):
    message = make_classified()
    broken = message.model_copy(update={"message": message.message.model_copy(update={"event_id": "not-a-uuid"})})

    with pytest.raises(InvalidMessage, match="not a UUID"):
        Desk().handle(broken)


def test_a_message_whose_intake_position_cannot_name_a_case_is_invalid(make_classified):
    with pytest.raises(InvalidMessage, match="case reference"):
        Desk().handle(make_classified(partition=5000))


# -- incidents -----------------------------------------------------------------------------------


def complaint_from(make_classified, n: int, at: datetime, topic: MessageTopic = MessageTopic.LOGISTICS):
    return make_classified(type=MessageType.COMPLAINT, topic=topic, conversation_id=f"c{n}", offset=n, received_at=at)


def test_an_incident_is_raised_once_when_complaints_on_a_topic_reach_the_threshold(make_classified, t0):
    desk = Desk(config=with_incidents(3, timedelta(minutes=10)))
    decisions = [desk.handle(complaint_from(make_classified, n, t0 + timedelta(minutes=n))) for n in range(6)]

    raised = [d.incident for d in decisions if d.incident is not None]
    assert [d.incident is not None for d in decisions] == [False, False, True, False, False, False]
    incident = raised[0]
    assert (incident.topic, incident.type, incident.count, incident.threshold) == (
        MessageTopic.LOGISTICS,
        MessageType.COMPLAINT,
        3,
        3,
    )
    assert incident.window_seconds == 600
    assert incident.department == "logistics"
    assert incident.detected_at == t0 + timedelta(minutes=2)
    assert incident.sample_case_references == [case_reference(IntakePosition(0, n)) for n in range(3)]


def test_an_incident_id_is_the_same_when_the_same_surge_is_decided_again(make_classified, t0):
    messages = [complaint_from(make_classified, n, t0 + timedelta(minutes=n)) for n in range(3)]

    one, other = (Desk(config=with_incidents(3, timedelta(minutes=10))) for _ in range(2))
    first = [one.handle(m) for m in messages]
    second = [other.handle(m, now=datetime.now(UTC)) for m in messages]

    assert first[2].incident is not None
    assert second[2].incident is not None
    assert first[2].incident.incident_id == second[2].incident.incident_id


def test_complaints_spread_wider_than_the_window_are_no_incident(make_classified, t0):
    desk = Desk(config=with_incidents(3, timedelta(minutes=10)))
    decisions = [desk.handle(complaint_from(make_classified, n, t0 + timedelta(minutes=6 * n))) for n in range(5)]

    assert all(d.incident is None for d in decisions)


def test_complaints_that_arrive_out_of_time_order_still_add_up_to_an_incident(make_classified, t0):
    desk = Desk(config=with_incidents(3, timedelta(minutes=10)), partitions=(0, 1, 2))
    arrivals = [(2, 1), (0, 0), (1, 2)]  # (minute received, partition), in the order they are processed
    decisions = [
        desk.handle(complaint_from(make_classified, n, t0 + timedelta(minutes=minute)), partition=partition)
        for n, (minute, partition) in enumerate(arrivals)
    ]

    assert [d.incident is not None for d in decisions] == [False, False, True]
    assert decisions[2].incident is not None
    assert decisions[2].incident.count == 3
    assert decisions[2].incident.detected_at == t0 + timedelta(minutes=2)


def test_a_complaint_older_than_the_window_of_the_newest_does_not_count(make_classified, t0):
    desk = Desk(config=with_incidents(3, timedelta(minutes=10)), partitions=(0, 1))
    desk.handle(complaint_from(make_classified, 1, t0 + timedelta(minutes=30)), partition=1)
    desk.handle(complaint_from(make_classified, 2, t0 + timedelta(minutes=31)), partition=1)
    late = desk.handle(complaint_from(make_classified, 3, t0), partition=0)

    assert late.incident is None


def test_many_complaints_from_one_conversation_are_no_incident(make_classified, t0):
    desk = Desk(config=with_incidents(3, timedelta(minutes=10)))
    decisions = [
        desk.handle(make_classified(type=MessageType.COMPLAINT, topic=MessageTopic.LOGISTICS, offset=n, received_at=t0))
        for n in range(5)
    ]

    assert all(d.incident is None for d in decisions)


def test_complaints_on_other_topics_do_not_add_up_to_an_incident(make_classified, t0):
    desk = Desk(config=with_incidents(3, timedelta(minutes=10)))
    topics = [MessageTopic.LOGISTICS, MessageTopic.PAYMENT, MessageTopic.ORDER, MessageTopic.LOGISTICS]
    decisions = [desk.handle(complaint_from(make_classified, n, t0, topic)) for n, topic in enumerate(topics)]

    assert all(d.incident is None for d in decisions)


def test_inquiries_do_not_count_towards_an_incident(make_classified, t0):
    desk = Desk(config=with_incidents(2, timedelta(minutes=10)))
    desk.handle(make_classified(type=MessageType.INQUIRY, topic=MessageTopic.LOGISTICS, conversation_id="a"))
    decision = desk.handle(complaint_from(make_classified, 1, t0))

    assert decision.incident is None


def test_an_incident_lasts_while_the_surge_lasts_and_a_later_surge_is_a_new_incident(make_classified, t0):
    desk = Desk(config=with_incidents(3, timedelta(minutes=10)))
    minute = timedelta(minutes=1)
    surge = [desk.handle(complaint_from(make_classified, n, t0 + n * minute)) for n in range(20)]  # 20 minutes long
    quiet_then_new = [
        desk.handle(complaint_from(make_classified, 100 + n, t0 + 60 * minute + n * minute)) for n in range(3)
    ]

    assert sum(d.incident is not None for d in surge) == 1
    assert [d.incident is not None for d in quiet_then_new] == [False, False, True]


def test_complaints_are_counted_across_the_partitions_held(make_classified, t0):
    desk = Desk(config=with_incidents(3, timedelta(minutes=10)), partitions=(0, 1, 2))
    decisions = [
        desk.handle(complaint_from(make_classified, n, t0 + timedelta(seconds=n)), partition=n) for n in range(3)
    ]

    assert decisions[2].incident is not None


# -- masking in department events ----------------------------------------------------------------


def test_department_and_escalation_events_carry_no_raw_phone_number_or_email(make_classified):
    phone, email = "+86 138 0013 8000", "jane.doe@example.com"
    message = make_classified(
        type=MessageType.COMPLAINT,
        priority=Priority.URGENT,
        handle=phone,
        display_name=f"Jane <{email}>",
        subject=f"Refund for {email}",
        masked_subject=None,
        # What the classifier missed is masked too:
        masked_text=f"Call me on {phone} or 021-6123-4567, or write to {email}.",
        phone_numbers=[phone, "021-6123-4567"],
        emails=[email],
    )
    decision = Desk().handle(message)

    assert decision.department_case is not None
    assert decision.escalation is not None
    for case in (decision.department_case, decision.escalation):
        body = orjson.dumps(case.model_dump(mode="json")).decode()
        for raw in (phone, "13800138000", "138 0013", email, "jane.doe", "6123-4567"):
            assert raw not in body
        assert case.customer.handle_masked == "***8000"
        assert case.entities.phone_numbers == ["***8000", "***4567"]
        assert case.entities.emails == ["j***@example.com"]
        assert case.subject_masked == "Refund for j***@example.com"
        assert "***8000" in case.text_masked
        assert "j***@example.com" in case.text_masked


def test_department_events_keep_what_departments_work_with(make_classified):
    decision = Desk().handle(make_classified(type=MessageType.COMPLAINT, amounts=["120.50"], masked_subject="Parcel"))

    case = decision.department_case
    assert case is not None
    assert case.entities.order_numbers == ["SO-20260301-0042"]
    assert [m.amount for m in case.entities.amounts] == [Decimal("120.50")]
    assert case.subject_masked == "Parcel"
    assert case.message_event_id == decision.message_event_id
    assert case.customer.key.startswith("cust_")


def test_the_routing_record_keeps_the_reply_address(make_classified):
    decision = Desk().handle(make_classified(handle="+86 138 0013 8000"))

    assert decision.routed is not None
    assert decision.routed.message.reply_to.address == "+86 138 0013 8000"


# -- events match the published schemas ----------------------------------------------------------


def test_every_event_of_a_decision_matches_its_committed_schema(make_classified, schema_check, t0):
    desk = Desk(config=with_incidents(2, timedelta(minutes=10)))
    desk.handle(complaint_from(make_classified, 1, t0))
    decision = desk.handle(
        make_classified(
            type=MessageType.COMPLAINT,
            topic=MessageTopic.LOGISTICS,
            conversation_id="c2",
            offset=2,
            amounts=["999.99"],
            anger=True,
            received_at=t0,
        )
    )

    assert decision.routed
    assert decision.department_case
    assert decision.escalation
    assert decision.incident
    schema_check("switchboard.message.routed.v1", decision.routed.model_dump(mode="json"))
    schema_check("switchboard.case.routed.v1", decision.department_case.model_dump(mode="json"))
    schema_check("switchboard.case.escalated.v1", decision.escalation.model_dump(mode="json"))
    schema_check("switchboard.incident.detected.v1", decision.incident.model_dump(mode="json"))


def test_decide_alone_changes_no_state(make_classified):
    desk = Desk()
    message = make_classified()
    decide(message, desk.state, desk.config, message.message.received_at, partition=0)

    assert desk.state.partition(0).seen == {}
    assert desk.handle(message).is_duplicate is False
