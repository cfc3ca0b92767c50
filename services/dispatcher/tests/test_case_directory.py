"""Finding a quoted case and its owner: the search on its own, then the look-up against the real broker."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY

from switchboard_common.case_reference import IntakePosition as Position
from switchboard_common.case_reference import case_reference
from switchboard_common.consume_loop import RetryLater
from switchboard_common.events import MESSAGE_RECEIVED, MESSAGE_ROUTED, encode_event
from switchboard_common.events.models import ClassifiedMessage, IntakePosition, Priority, RoutedMessage, Routing
from switchboard_common.identity import derived_event_id
from switchboard_common.settings import KafkaSettings
from switchboard_common.topics import TopicNames
from switchboard_devenv.kafka_testing import publish, read_topic
from switchboard_dispatcher.case_directory import CaseDirectory, Probe, QuotedCase, locate

# -- the search (pure: a partition given as a list of (offset, intake offset) pairs) ---------------


def reader(records: Sequence[tuple[int, int]]) -> tuple[Callable[[int], object], list[int]]:
    """``read_at`` over an in-memory partition; also the offsets asked for, to count the reads."""
    asked: list[int] = []

    async def read_at(offset: int) -> Probe[int] | None:
        asked.append(offset)
        for record_offset, intake_offset in records:
            if record_offset >= offset:
                return Probe(record_offset, intake_offset, record_offset)
        return None

    return read_at, asked


async def test_the_search_finds_the_record_of_an_intake_offset_in_logarithmic_reads():
    records = [(n, 3 * n) for n in range(100_000)]
    read_at, asked = reader(records)

    assert await locate(read_at, 0, 100_000, 3 * 77_777, scan_limit=10) == 77_777  # type: ignore[arg-type]
    assert len(asked) <= 20


async def test_the_search_steps_over_gaps_left_by_transaction_markers():
    records = [(n, n // 2) for n in range(0, 400, 2)]  # every other offset is a marker
    read_at, _ = reader(records)

    assert await locate(read_at, 0, 400, 150, scan_limit=10) == 300  # type: ignore[arg-type]


async def test_a_record_replayed_out_of_order_is_found_within_the_scan():
    records = [(n, n) for n in range(50)] + [(50, 7), (51, 51)]  # offset 7's routing record came back later
    records = [(o, i) for o, i in records if (o, i) != (7, 7)]
    read_at, _ = reader(records)

    assert await locate(read_at, 0, 52, 7, scan_limit=100) == 50  # type: ignore[arg-type]


async def test_an_intake_offset_without_a_routing_record_is_not_found():
    read_at, asked = reader([(n, n) for n in range(0, 1000) if n != 500])

    assert await locate(read_at, 0, 1000, 500, scan_limit=25) is None  # type: ignore[arg-type]
    assert len(asked) <= 12 + 25


async def test_an_empty_partition_has_nothing():
    read_at, _ = reader([])
    assert await locate(read_at, 0, 0, 5, scan_limit=5) is None  # type: ignore[arg-type]


# -- against the real broker -----------------------------------------------------------------------

pytestmark_kafka = pytest.mark.kafka


def intake_of(names: TopicNames, message: ClassifiedMessage):
    m = message.message
    return encode_event(
        MESSAGE_RECEIVED,
        topic=names("intake.messages.v1"),
        event_id=m.event_id,
        source="test",
        key=m.conversation_id,
        data=m,
    )


def routed_of(
    names: TopicNames,
    message: ClassifiedMessage,
    position: Position,
    *,
    department: str | None,
    reference: str | None = None,
    follow_up: bool = False,
):
    routed = RoutedMessage(
        event_id=derived_event_id(message.message.event_id, "routed"),
        message=message.message,
        intake_position=IntakePosition(partition=position.partition, offset=position.offset),
        classification=message.classification,
        routing=Routing(
            department=department,
            case_reference=reference or case_reference(position),
            is_follow_up=follow_up,
            rule="test",
            priority=Priority.NORMAL,
            routed_at=datetime.now(UTC),
        ),
    )
    return encode_event(
        MESSAGE_ROUTED,
        topic=names("intake.routed.v1"),
        event_id=routed.event_id,
        source="test",
        key=message.message.conversation_id,
        data=routed,
    )


async def positions(kafka: KafkaSettings, names: TopicNames, count: int) -> dict[str, Position]:
    records = await read_topic(kafka, names("intake.messages.v1"), count=count, timeout=30)
    assert len(records) == count
    return {r.header("ce_id") or "": Position(r.partition, r.offset) for r in records}


def counter(outcome: str) -> float:
    return REGISTRY.get_sample_value("switchboard_dispatcher_quoted_references_total", {"outcome": outcome}) or 0.0


@pytestmark_kafka
async def test_the_directory_finds_owners_follow_ups_and_tells_unknown_references_apart(
    kafka_settings, kafka_topics, make_classified
):
    names = kafka_topics
    now = datetime.now(UTC) - timedelta(seconds=5)
    opened, recorded, followed, unrouted = (
        make_classified(conversation_id=f"conv-{n}-{uuid.uuid4().hex[:6]}", received_at=now) for n in range(4)
    )
    # Other traffic around them, so that the search has something to search.
    noise = [make_classified(conversation_id=f"noise-{n}", received_at=now) for n in range(60)]
    everything = [*noise[:30], opened, recorded, followed, unrouted, *noise[30:]]
    await publish(kafka_settings, [intake_of(names, m) for m in everything])
    where = await positions(kafka_settings, names, len(everything))
    at = {m.message.event_id: where[m.message.event_id] for m in everything}

    case_of_opened = case_reference(at[opened.message.event_id])
    special = {
        opened.message.event_id: routed_of(names, opened, at[opened.message.event_id], department="logistics"),
        recorded.message.event_id: routed_of(names, recorded, at[recorded.message.event_id], department=None),
        followed.message.event_id: routed_of(
            names,
            followed,
            at[followed.message.event_id],
            department="logistics",
            reference=case_of_opened,
            follow_up=True,
        ),
    }
    # Routed in the order of intake, as the classifier and the dispatcher process a partition; the
    # unrouted message never got its routing record.
    routed = [
        special.get(m.message.event_id) or routed_of(names, m, at[m.message.event_id], department="product")
        for m in everything
        if m is not unrouted
    ]
    # As the dispatcher writes them: one transaction per batch, so that commit markers sit between
    # the records (offsets that hold no record).
    producer = AIOKafkaProducer(transactional_id=f"test-{uuid.uuid4().hex}", **kafka_settings.client_kwargs())
    await producer.start()
    try:
        for record in routed:
            async with producer.transaction():
                await producer.send(record.topic, record.value, key=record.key, headers=list(record.headers))
    finally:
        await producer.stop()

    directory = CaseDirectory(kafka_settings, scan_limit=2)  # the binary search must land on it
    try:
        found_before = counter("owner_found")
        assert await directory.find(case_of_opened) == QuotedCase(case_of_opened, "logistics")
        assert counter("owner_found") == found_before + 1
        # A reference the notifier gave a message that turned out to be a follow-up names the case it joined.
        assert await directory.find(case_reference(at[followed.message.event_id])) == QuotedCase(
            case_of_opened, "logistics"
        )
        # A message that was only recorded opened no case.
        assert await directory.find(case_reference(at[recorded.message.event_id])) is None
        # The message exists but was never routed: the case is known, its owner is not.
        unrouted_case = case_reference(at[unrouted.message.event_id])
        assert await directory.find(unrouted_case) == QuotedCase(unrouted_case, None)
        # Nothing was ever written there, or the partition does not exist: unknown.
        assert await directory.find(case_reference(Position(0, 10_000))) is None
        assert await directory.find(case_reference(Position(700, 1))) is None
        # The owner found is cached: the second look-up reads nothing.
        cached_before = counter("owner_cached")
        assert await directory.find(case_of_opened) == QuotedCase(case_of_opened, "logistics")
        assert counter("owner_cached") == cached_before + 1
    finally:
        await directory.close()


async def test_the_directory_asks_to_retry_later_when_kafka_cannot_be_reached():
    unreachable = KafkaSettings(bootstrap_servers="127.0.0.1:9", topic_prefix="x.", request_timeout_ms=1000)
    directory = CaseDirectory(unreachable, timeout_s=2.0)
    try:
        with pytest.raises(RetryLater):
            await directory.find(case_reference(Position(0, 1)))
    finally:
        await directory.close()
