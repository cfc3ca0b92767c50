"""A poison record on every topic the services consume: dead-lettered with its reason, and every
partition keeps flowing (the customers' messages behind it are routed and acknowledged)."""

from __future__ import annotations

import asyncio
import collections

import pytest
from aiokafka.partitioner import DefaultPartitioner
from pipeline_checks import collect, texts

from switchboard_common.events import OutgoingRecord
from switchboard_devenv.chat_client import ChatCustomers
from switchboard_devenv.kafka_testing import publish, read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.faults]

PARTITIONS = 3  # the gateway fixture's pipeline partitions
CONSUMED = {
    "intake.messages.v1": {"switchboard-classifier", "switchboard-notifier"},
    "intake.classified.v1": {"switchboard-dispatcher"},
    "intake.routed.v1": {"switchboard-notifier"},
}


def keys_covering(partitions: int) -> list[bytes]:
    """One record key per partition, as the producers' default partitioner places keys."""
    partitioner = DefaultPartitioner()
    found: dict[int, bytes] = {}
    candidate = 0
    while len(found) < partitions:
        key = f"poison-{candidate}".encode()
        found.setdefault(int(partitioner(key, list(range(partitions)), list(range(partitions)))), key)
        candidate += 1
    return [found[p] for p in sorted(found)]


def poison(topic: str, key: bytes, kind: int) -> OutgoingRecord:
    valid_headers = (
        ("ce_specversion", b"1.0"),
        ("ce_id", b"poison"),
        ("ce_source", b"test/poison"),
        ("content-type", b"application/json"),
    )
    if kind == 0:
        return OutgoingRecord(topic, key, b"\x00\xffnot json at all", (*valid_headers, ("ce_type", b"x")))
    if kind == 1:
        return OutgoingRecord(topic, key, b'{"unexpected": true}', (*valid_headers, ("ce_type", b"some.other.type.v1")))
    return OutgoingRecord(topic, key, b"{}", ())


async def test_a_poison_record_on_every_consumed_topic_is_dead_lettered_and_the_partitions_keep_flowing(gateway):
    records = [
        poison(gateway.names(topic), key, kind)
        for topic in CONSUMED
        for kind, key in enumerate(keys_covering(PARTITIONS))
    ]
    await publish(gateway.kafka, records)

    async with ChatCustomers(gateway.chat_url) as customers:
        sent = await customers.stream(texts(60), rate=30)
    expected = {m.event_id for m in sent}
    outcome = await collect(gateway.kafka, gateway.names, expected)
    assert outcome.problems(expected) == []

    for topic, groups in CONSUMED.items():
        dead = await read_topic(
            gateway.kafka,
            f"{gateway.names(topic)}.dlq",
            until=lambda rs, groups=groups: len(rs) >= PARTITIONS * len(groups),
            timeout=60,
            settle=1,
        )
        by_group = collections.Counter(
            r.header("dlq_consumer_group").removeprefix(gateway.kafka.topic_prefix) for r in dead
        )
        assert by_group == dict.fromkeys(groups, PARTITIONS), f"{topic}: {by_group}"
        assert all(r.header("dlq_reason") for r in dead)
        assert {r.header("dlq_source_partition") for r in dead} == {str(p) for p in range(PARTITIONS)}
        reasons = " | ".join(sorted({r.header("dlq_reason") for r in dead}))
        assert "not valid JSON" in reasons or "unexpected ce_type" in reasons, reasons
    await asyncio.sleep(0)
