"""The dispatcher on the shared consume loop against the real broker."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2
from prometheus_client import REGISTRY

from switchboard_common.case_reference import IntakePosition as Position
from switchboard_common.case_reference import case_reference
from switchboard_common.consume_loop import ConsumeLoop, RetryLater
from switchboard_common.events import (
    CASE_ESCALATED,
    CASE_OPENED,
    INCIDENT_DETECTED,
    MESSAGE_CLASSIFIED,
    MESSAGE_RECEIVED,
    MESSAGE_ROUTED,
    OutgoingRecord,
    encode_event,
)
from switchboard_common.events.envelope import ConsumedRecord, Event, new_traceparent, trace_id_of
from switchboard_common.events.models import (
    CaseEvent,
    CaseLink,
    ClassifiedMessage,
    EscalationReason,
    Incident,
    IntakePosition,
    MessageTopic,
    MessageType,
    Priority,
    RoutedMessage,
)
from switchboard_common.identity import derived_event_id
from switchboard_common.routing import load_routing_config
from switchboard_common.settings import ConsumerSettings, KafkaSettings
from switchboard_common.topics import TopicNames
from switchboard_devenv.kafka_testing import decode_all, publish, read_topic
from switchboard_dispatcher.app import build_processor
from switchboard_dispatcher.decision import dispatch
from switchboard_dispatcher.processor import SOURCE, DispatcherProcessor
from switchboard_dispatcher.settings import DispatcherSettings
from switchboard_dispatcher.state import DispatcherState, PartitionState, StateWindows

pytestmark = pytest.mark.kafka

PACKAGED_RULES = resources.files("switchboard_common.config").joinpath("routing.yaml").read_text("utf-8")


def as_record(names: TopicNames, message: ClassifiedMessage, traceparent: str | None = None) -> OutgoingRecord:
    return encode_event(
        MESSAGE_CLASSIFIED,
        topic=names("intake.classified.v1"),
        event_id=message.event_id,
        source="test/classifier",
        key=message.message.conversation_id,
        data=message,
        traceparent=traceparent,
    )


def fresh(make_classified: Callable[..., ClassifiedMessage], offset: int, **fields: Any) -> ClassifiedMessage:
    """A message received just now, so that it lies inside every rebuild window."""
    return make_classified(offset=offset, received_at=datetime.now(UTC) - timedelta(seconds=1), **fields)


def dispatcher_settings(kafka: KafkaSettings, rules: Path | None = None, poll: float = 5.0) -> DispatcherSettings:
    return DispatcherSettings(
        kafka=kafka,
        consumer=ConsumerSettings(instance_id="test-dispatcher", poll_timeout_ms=100),
        routing_path=rules,
        rules_poll_seconds=poll,
    )


@contextlib.asynccontextmanager
async def running(
    settings: DispatcherSettings, processor: DispatcherProcessor | None = None
) -> AsyncIterator[DispatcherProcessor]:
    """A dispatcher on a consume loop, as the service runs it; drained and stopped on exit."""
    processor = processor or build_processor(settings)
    loop = ConsumeLoop(
        processor=processor,
        group_id=settings.group_id,
        kafka=settings.kafka,
        consumer=settings.consumer,
        names=TopicNames(settings.kafka.topic_prefix),
        source=SOURCE,
    )
    await loop.start()
    loop.start_background()
    try:
        yield processor
    finally:
        await loop.stop()
        await processor.directory.close()


async def routed_records(kafka: KafkaSettings, names: TopicNames, count: int) -> list[ConsumedRecord]:
    records = await read_topic(kafka, names("intake.routed.v1"), count=count, timeout=60)
    assert len(records) >= count, f"only {len(records)} of {count} routing records arrived"
    return records


def by_message(records: Sequence[ConsumedRecord]) -> dict[str, RoutedMessage]:
    return {r.message.event_id: r for r in decode_all(records, MESSAGE_ROUTED)}


def schema_valid(schema_check, records: Sequence[ConsumedRecord], ce_type: str) -> None:
    for record in records:
        assert record.header("ce_type") == ce_type
        assert record.value is not None
        schema_check(ce_type, record.value)


def counter(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


async def test_messages_reach_their_department_topics_escalations_and_the_routing_record(
    kafka_settings, kafka_topics, make_classified, schema_check
):
    order = fresh(make_classified, 1, topic=MessageTopic.ORDER, conversation_id="conv-order")
    fault = fresh(make_classified, 2, type=MessageType.FAULT, priority=Priority.URGENT, conversation_id="conv-fault")
    spam = fresh(make_classified, 3, type=MessageType.NON_ACTIONABLE, conversation_id="conv-spam")
    traceparent = new_traceparent()
    await publish(kafka_settings, [as_record(kafka_topics, m, traceparent) for m in (order, fault, spam)])

    async with running(dispatcher_settings(kafka_settings)):
        routed = await routed_records(kafka_settings, kafka_topics, 3)
        orders = await read_topic(kafka_settings, kafka_topics.department("orders"), count=1)
        tech = await read_topic(kafka_settings, kafka_topics.department("tech_support"), count=1)
        escalations = await read_topic(kafka_settings, kafka_topics("escalations.v1"), count=1)

    decided = by_message(routed)
    assert decided[order.message.event_id].routing.department == "orders"
    assert decided[fault.message.event_id].routing.department == "tech_support"
    assert decided[spam.message.event_id].routing.department is None
    assert decided[spam.message.event_id].routing.rule == "non-actionable"
    assert decided[spam.message.event_id].message.reply_to.address == spam.message.reply_to.address

    [order_case] = decode_all(orders, CASE_OPENED)
    assert order_case.message_event_id == order.message.event_id
    assert orders[0].header("ce_id") == derived_event_id(order.message.event_id, "dept")
    assert orders[0].key == b"conv-order"
    [fault_case] = decode_all(tech, CASE_OPENED)
    assert fault_case.message_event_id == fault.message.event_id
    [escalation] = decode_all(escalations, CASE_ESCALATED)
    assert escalation.message_event_id == fault.message.event_id
    assert escalation.escalation_reasons == [EscalationReason.URGENT_PRIORITY]
    assert escalations[0].header("ce_id") == derived_event_id(fault.message.event_id, "escalation")

    for record in [*routed, *orders, *tech, *escalations]:
        assert record.header("ce_source") == SOURCE
        assert trace_id_of(record.header("traceparent")) == trace_id_of(traceparent)
    routed_ids = {r.header("ce_id") for r in routed}
    assert routed_ids == {derived_event_id(m.message.event_id, "routed") for m in (order, fault, spam)}
    schema_valid(schema_check, routed, "switchboard.message.routed.v1")
    schema_valid(schema_check, orders + tech, "switchboard.case.routed.v1")
    schema_valid(schema_check, escalations, "switchboard.case.escalated.v1")


async def test_routing_records_land_on_the_partition_of_their_input(kafka_settings, kafka_topics, make_classified):
    messages = [fresh(make_classified, n, conversation_id=f"conversation-{n}") for n in range(12)]
    await publish(kafka_settings, [as_record(kafka_topics, m) for m in messages])

    async with running(dispatcher_settings(kafka_settings)):
        routed = await routed_records(kafka_settings, kafka_topics, 12)
    inputs = await read_topic(kafka_settings, kafka_topics("intake.classified.v1"), count=12)

    input_partition = {r.key: r.partition for r in inputs}
    assert {r.key: r.partition for r in routed} == input_partition
    assert len(set(input_partition.values())) > 1


async def test_the_same_message_event_id_twice_gives_one_department_event(
    kafka_settings, kafka_topics, make_classified
):
    original = fresh(make_classified, 1, topic=MessageTopic.PAYMENT, conversation_id="conv-dup")
    redelivered = original.model_copy(
        update={"intake_position": original.intake_position.model_copy(update={"offset": 7})}
    )
    marker = fresh(make_classified, 2, topic=MessageTopic.PAYMENT, conversation_id="conv-dup")
    suppressed = counter("switchboard_dispatcher_duplicates_suppressed_total")
    await publish(kafka_settings, [as_record(kafka_topics, m) for m in (original, original, redelivered, marker)])

    async with running(dispatcher_settings(kafka_settings)):
        routed = await routed_records(kafka_settings, kafka_topics, 2)  # the marker comes after the duplicates
        billing = await read_topic(kafka_settings, kafka_topics.department("billing"), count=2, settle=0.5)

    assert sorted(r.message.event_id for r in decode_all(routed, MESSAGE_ROUTED)) == sorted(
        [original.message.event_id, marker.message.event_id]
    )
    cases = decode_all(billing, CASE_OPENED)
    assert [c.message_event_id for c in cases].count(original.message.event_id) == 1
    assert len(cases) == 2
    assert counter("switchboard_dispatcher_duplicates_suppressed_total") == suppressed + 2


async def test_after_a_restart_a_redelivered_message_is_still_suppressed_and_a_follow_up_keeps_its_case(
    kafka_settings, kafka_topics, make_classified
):
    settings = dispatcher_settings(kafka_settings)
    first = fresh(make_classified, 1, type=MessageType.COMPLAINT, topic=MessageTopic.LOGISTICS, conversation_id="c-x")
    await publish(kafka_settings, [as_record(kafka_topics, first)])
    async with running(settings):
        await routed_records(kafka_settings, kafka_topics, 1)

    redelivered = first.model_copy(update={"intake_position": first.intake_position.model_copy(update={"offset": 40})})
    follow_up = fresh(make_classified, 41, type=MessageType.COMPLAINT, topic=MessageTopic.OTHER, conversation_id="c-x")
    await publish(kafka_settings, [as_record(kafka_topics, m) for m in (redelivered, follow_up)])
    async with running(settings) as restarted:
        routed = await routed_records(kafka_settings, kafka_topics, 2)
        logistics = await read_topic(kafka_settings, kafka_topics.department("logistics"), count=2, settle=0.5)
        escalations = await read_topic(kafka_settings, kafka_topics("escalations.v1"), count=1)
        assert restarted.state.partitions  # it did rebuild

    decided = decode_all(routed, MESSAGE_ROUTED)
    assert [r.message.event_id for r in decided] == [first.message.event_id, follow_up.message.event_id]
    opened, continued = decided
    assert continued.routing.case_reference == opened.routing.case_reference
    assert continued.routing.is_follow_up is True
    assert continued.routing.department == "logistics"
    assert continued.routing.escalation_reasons == [EscalationReason.REPEATED_COMPLAINT]
    assert [c.message_event_id for c in decode_all(logistics, CASE_OPENED)] == [
        first.message.event_id,
        follow_up.message.event_id,
    ]
    [escalation] = decode_all(escalations, CASE_ESCALATED)
    assert escalation.case_reference == opened.routing.case_reference


async def test_an_invalid_record_lands_on_the_dead_letter_topic_with_the_reason(
    kafka_settings, kafka_topics, make_classified
):
    source = kafka_topics("intake.classified.v1")
    valid = fresh(make_classified, 1, conversation_id="conv-dlq")
    garbage = OutgoingRecord(
        topic=source, key=b"conv-dlq", value=b"{oops", headers=as_record(kafka_topics, valid).headers
    )
    not_a_uuid = valid.model_copy(update={"message": valid.message.model_copy(update={"event_id": "twilio-SM123"})})
    await publish(kafka_settings, [garbage, as_record(kafka_topics, not_a_uuid), as_record(kafka_topics, valid)])

    async with running(dispatcher_settings(kafka_settings)):
        routed = await routed_records(kafka_settings, kafka_topics, 1)
        dead = await read_topic(kafka_settings, f"{source}.dlq", count=2)

    assert [r.message.event_id for r in decode_all(routed, MESSAGE_ROUTED)] == [valid.message.event_id]
    reasons = [r.header("dlq_reason") or "" for r in dead]
    assert reasons[0].startswith("value is not valid JSON")
    assert "is not a UUID" in reasons[1]
    assert dead[0].value == b"{oops"
    assert all(r.header("dlq_source_topic") == source for r in dead)


async def test_a_changed_rules_file_is_picked_up_by_the_running_service(
    kafka_settings, kafka_topics, make_classified, tmp_path
):
    rules = tmp_path / "routing.yaml"
    rules.write_text(PACKAGED_RULES, "utf-8")
    settings = dispatcher_settings(kafka_settings, rules, poll=0.2)
    await publish(kafka_settings, [as_record(kafka_topics, fresh(make_classified, 1, conversation_id="r1"))])

    async with running(settings) as processor:
        await routed_records(kafka_settings, kafka_topics, 1)
        rules.write_text(PACKAGED_RULES.replace("department: product\n", "department: triage\n"), "utf-8")
        await wait_for(lambda: processor.rules.current.rules[-1].department == "triage")
        await publish(kafka_settings, [as_record(kafka_topics, fresh(make_classified, 2, conversation_id="r2"))])
        await routed_records(kafka_settings, kafka_topics, 2)

        rejected = counter("switchboard_dispatcher_rules_reloads_total", {"outcome": "rejected"})
        rules.write_text("rules: [broken", "utf-8")
        await wait_for(
            lambda: counter("switchboard_dispatcher_rules_reloads_total", {"outcome": "rejected"}) > rejected
        )
        await publish(kafka_settings, [as_record(kafka_topics, fresh(make_classified, 3, conversation_id="r3"))])
        routed = await routed_records(kafka_settings, kafka_topics, 3)

    departments = {r.message.conversation_id: r.routing.department for r in decode_all(routed, MESSAGE_ROUTED)}
    assert departments == {"r1": "product", "r2": "triage", "r3": "triage"}


async def test_a_surge_raises_one_incident_also_across_a_restart(
    kafka_settings, kafka_topics, make_classified, tmp_path, schema_check
):
    rules = tmp_path / "routing.yaml"
    rules.write_text(PACKAGED_RULES.replace("threshold: 20", "threshold: 3"), "utf-8")
    settings = dispatcher_settings(kafka_settings, rules)

    def complaint(n: int) -> ClassifiedMessage:
        return fresh(
            make_classified, n, type=MessageType.COMPLAINT, topic=MessageTopic.LOGISTICS, conversation_id=f"s{n}"
        )

    await publish(kafka_settings, [as_record(kafka_topics, complaint(n)) for n in range(5)])
    async with running(settings):
        await routed_records(kafka_settings, kafka_topics, 5)
    await publish(kafka_settings, [as_record(kafka_topics, complaint(n)) for n in range(5, 8)])
    async with running(settings):
        await routed_records(kafka_settings, kafka_topics, 8)
        incidents = await read_topic(kafka_settings, kafka_topics("incidents.v1"), count=1, settle=0.5)

    [incident] = decode_all(incidents, INCIDENT_DETECTED)
    assert isinstance(incident, Incident)
    assert (incident.topic, incident.count, incident.threshold) == (MessageTopic.LOGISTICS, 3, 3)
    assert incidents[0].key == b"logistics"
    assert incidents[0].header("ce_id") == incident.incident_id
    schema_valid(schema_check, incidents, "switchboard.incident.detected.v1")


class FailsOnce(DispatcherProcessor):
    """Raises RetryLater the first time it meets one message, after routing others in the same batch."""

    fail_on: str = ""
    failed = False

    async def process(self, event: Event[Any], record: ConsumedRecord) -> Sequence[OutgoingRecord]:
        if event.data.message.event_id == self.fail_on and not self.failed:
            self.failed = True
            raise RetryLater("a dependency is down")
        return await super().process(event, record)


async def test_a_failed_batch_is_retried_from_the_committed_state_and_routes_every_message_once(
    kafka_settings, kafka_topics, make_classified
):
    settings = dispatcher_settings(kafka_settings)
    first = fresh(make_classified, 1, topic=MessageTopic.ACCOUNT, conversation_id="conv-retry")
    second = fresh(make_classified, 2, topic=MessageTopic.ACCOUNT, conversation_id="conv-retry")
    await publish(kafka_settings, [as_record(kafka_topics, m) for m in (first, second)])
    base = build_processor(settings)
    processor = FailsOnce(kafka=settings.kafka, rules=base.rules, windows=settings.windows(), rebuild_timeout_s=30.0)
    processor.fail_on = second.message.event_id

    async with running(settings, processor):
        routed = await routed_records(kafka_settings, kafka_topics, 2)
        accounts = await read_topic(kafka_settings, kafka_topics.department("accounts"), count=2, settle=0.5)

    assert processor.failed
    decided = decode_all(routed, MESSAGE_ROUTED)
    assert [r.message.event_id for r in decided] == [first.message.event_id, second.message.event_id]
    assert decided[1].routing.is_follow_up is True
    assert decided[1].routing.case_reference == decided[0].routing.case_reference
    cases: list[CaseEvent] = decode_all(accounts, CASE_OPENED)
    assert [c.message_event_id for c in cases] == [first.message.event_id, second.message.event_id]


async def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


# -- a case quoted from another conversation -------------------------------------------------------


def partition_of(conversation_id: str, partitions: int = 3) -> int:
    """The partition the producers' default partitioner picks for a conversation (murmur2 of the key)."""
    return (murmur2(conversation_id.encode()) & 0x7FFFFFFF) % partitions


def conversations_on_different_partitions(prefix: str) -> tuple[str, str]:
    first = f"{prefix}-a-{uuid.uuid4().hex[:8]}"
    while True:
        second = f"{prefix}-b-{uuid.uuid4().hex[:8]}"
        if partition_of(second) != partition_of(first):
            return first, second


async def received(
    kafka: KafkaSettings, names: TopicNames, make_classified: Callable[..., ClassifiedMessage], **fields: Any
) -> ClassifiedMessage:
    """A message written to intake.messages.v1 as an intake writes it, classified at its real position."""
    draft = fresh(make_classified, 0, **fields)
    intake = names("intake.messages.v1")
    await publish(
        kafka,
        [
            encode_event(
                MESSAGE_RECEIVED,
                topic=intake,
                event_id=draft.message.event_id,
                source="test/intake",
                key=draft.message.conversation_id,
                data=draft.message,
            )
        ],
    )
    [record] = [
        r
        for r in await read_topic(
            kafka, intake, until=lambda rs: any(r.header("ce_id") == draft.message.event_id for r in rs)
        )
        if r.header("ce_id") == draft.message.event_id
    ]
    return draft.model_copy(
        update={"intake_position": IntakePosition(partition=record.partition, offset=record.offset)}
    )


def quoted_count(outcome: str) -> float:
    return counter("switchboard_dispatcher_quoted_references_total", {"outcome": outcome})


async def test_a_message_quoting_a_case_from_another_conversation_goes_to_the_owning_team_as_its_follow_up(
    kafka_settings, kafka_topics, make_classified, schema_check
):
    names = kafka_topics
    chat_a, chat_b = conversations_on_different_partitions("webchat")
    opening = await received(
        kafka_settings, names, make_classified, conversation_id=chat_a, topic=MessageTopic.LOGISTICS
    )
    reference = case_reference(Position(opening.intake_position.partition, opening.intake_position.offset))

    async with running(dispatcher_settings(kafka_settings)):
        await publish(kafka_settings, [as_record(names, opening)])
        await routed_records(kafka_settings, names, 1)
        # A new chat session, another partition, wording that the rules would send to billing; the
        # customer typed the reference loosely. Before it, a mistyped reference that is ignored.
        mistyped = reference[:-1] + ("0" if reference[-1] != "0" else "1")
        quoting = await received(
            kafka_settings,
            names,
            make_classified,
            conversation_id=chat_b,
            topic=MessageTopic.PAYMENT,
            quoted=[mistyped, reference.lower().replace("-", " ")],
        )
        unknown = await received(
            kafka_settings,
            names,
            make_classified,
            conversation_id=f"other-{uuid.uuid4().hex[:6]}",
            topic=MessageTopic.PAYMENT,
            quoted=[case_reference(Position(opening.intake_position.partition, 50_000))],
        )
        await publish(kafka_settings, [as_record(names, quoting), as_record(names, unknown)])
        routed = await routed_records(kafka_settings, names, 3)
        logistics = await read_topic(kafka_settings, names.department("logistics"), count=2, timeout=30)
        billing = await read_topic(kafka_settings, names.department("billing"), count=1, timeout=30)

    decided = by_message(routed)
    follow_up = decided[quoting.message.event_id].routing
    assert (follow_up.case_reference, follow_up.is_follow_up, follow_up.linked_by) == (
        reference,
        True,
        CaseLink.QUOTED_REFERENCE,
    )
    assert (follow_up.department, follow_up.rule) == ("logistics", "follow-up")
    cases = {c.message_event_id: (c.case_reference, c.linked_by) for c in decode_all(logistics, CASE_OPENED)}
    assert cases == {
        opening.message.event_id: (reference, None),
        quoting.message.event_id: (reference, CaseLink.QUOTED_REFERENCE),
    }
    # Keyed by its own conversation, like every department event.
    assert {r.key for r in logistics} == {chat_a.encode(), chat_b.encode()}
    schema_valid(schema_check, logistics, "switchboard.case.routed.v1")
    schema_valid(schema_check, routed, "switchboard.message.routed.v1")

    # A reference that passes its check symbol but names no message: ignored, a case of its own.
    own = decided[unknown.message.event_id].routing
    assert (own.is_follow_up, own.department, own.linked_by) == (False, "billing", None)
    assert own.case_reference == case_reference(
        Position(unknown.intake_position.partition, unknown.intake_position.offset)
    )
    assert [c.message_event_id for c in decode_all(billing, CASE_OPENED)] == [unknown.message.event_id]


async def test_a_quoted_case_the_dispatcher_no_longer_remembers_is_found_in_kafka_after_a_restart(
    kafka_settings, kafka_topics, make_classified
):
    # The case was opened twenty days ago: beyond the dispatcher's case memory (14 days), so no rebuild
    # brings it back; only its routing record on intake.routed.v1 knows its owner.
    names = kafka_topics
    chat_old, chat_new = conversations_on_different_partitions("sms")
    old = await received(kafka_settings, names, make_classified, conversation_id=chat_old, topic=MessageTopic.ORDER)
    reference = case_reference(Position(old.intake_position.partition, old.intake_position.offset))
    long_ago = datetime.now(UTC) - timedelta(days=20)
    state = DispatcherState(StateWindows())
    state.partitions[old.intake_position.partition] = PartitionState()
    decision = dispatch(old, state, load_routing_config(), long_ago, partition=old.intake_position.partition)
    assert decision.routed is not None and decision.routed.routing.department == "orders"
    routed_then = encode_event(
        MESSAGE_ROUTED,
        topic=names("intake.routed.v1"),
        event_id=decision.routed.event_id,
        source=SOURCE,
        key=chat_old,
        data=decision.routed,
        time=long_ago,
        subject=reference,
    )
    producer = AIOKafkaProducer(**kafka_settings.client_kwargs())
    await producer.start()
    try:
        await producer.send_and_wait(
            routed_then.topic,
            value=routed_then.value,
            key=routed_then.key,
            headers=list(routed_then.headers),
            timestamp_ms=int(long_ago.timestamp() * 1000),
        )
    finally:
        await producer.stop()

    quoting = await received(
        kafka_settings,
        names,
        make_classified,
        conversation_id=chat_new,
        topic=MessageTopic.LOGISTICS,
        quoted=[reference],
    )
    found_before = quoted_count("owner_found")
    async with running(dispatcher_settings(kafka_settings)) as processor:
        await publish(kafka_settings, [as_record(names, quoting)])
        routed = await routed_records(kafka_settings, names, 2)
        assert processor.directory.cached_owner(reference) == "orders"

    follow_up = by_message(routed)[quoting.message.event_id].routing
    assert (follow_up.case_reference, follow_up.department, follow_up.linked_by) == (
        reference,
        "orders",
        CaseLink.QUOTED_REFERENCE,
    )
    assert quoted_count("owner_found") == found_before + 1  # looked up in Kafka, not remembered
