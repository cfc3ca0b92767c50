"""Each consumer service's throughput alone, next to a plain consume-and-produce passthrough.

For each service, the service (real processes, as deployed: ``--replicas`` of them in one consumer group)
starts on empty topics; once its group is stable, N realistic input events are written in one
transaction, so that they appear at once, a pre-filled topic for consumers already holding their
partitions. Throughput is N divided by the time between the first and the last output record (their
broker timestamps), so start-up and group joining are not counted. The passthrough baseline, as many
processes as the service has replicas, drains the same input topics in the same run the same way,
copying every record it reads (for the notifier, which reads each message twice, that is two records
per message).
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from switchboard_common.case_reference import IntakePosition as Position
from switchboard_common.case_reference import case_reference
from switchboard_common.events import MESSAGE_CLASSIFIED, MESSAGE_RECEIVED, MESSAGE_ROUTED, OutgoingRecord, encode_event
from switchboard_common.events.models import (
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
    Priority,
    ReplyTarget,
    RoutedMessage,
    Routing,
    Sentiment,
)
from switchboard_common.identity import derived_event_id, event_id
from switchboard_common.partition_reader import topic_partitions
from switchboard_common.settings import KafkaSettings
from switchboard_common.topics import TopicNames, TopicSpec, ensure_topics
from switchboard_devenv.bench.harness import BenchGateway, cpu_seconds
from switchboard_devenv.bench.pipeline import bench_text
from switchboard_devenv.kafka_testing import create_plan_topics, publish
from switchboard_devenv.processes import ServiceProcess, free_port
from switchboard_devenv.services import SERVICES


def intake_message(i: int) -> IntakeMessage:
    conversation = f"wc_bench_{i}"
    text = bench_text(i)
    return IntakeMessage(
        event_id=event_id("bench", conversation, str(i)),
        channel=Channel.WEBCHAT,
        channel_account="webchat:bench",
        received_at=datetime.now(UTC),
        conversation_id=conversation,
        customer=CustomerIdentity(key=f"cust_{i}", handle=conversation),
        reply_to=ReplyTarget(channel=Channel.WEBCHAT, account="webchat:bench", address=conversation),
        text=MessageText(original=text, plain=text, new_content=text),
    )


def classification(message: IntakeMessage) -> Classification:
    return Classification(
        language=Language.ZH_HANS,
        type=MessageType.COMPLAINT,
        topic=MessageTopic.LOGISTICS,
        priority=Priority.NORMAL,
        sentiment=Sentiment(score=-0.4),
        entities=Entities(tracking_numbers=["SF1234567890123"]),
        masked_text=message.text.plain,
        confidence=0.8,
        model="bench",
        evidence=["bench"],
    )


def inputs(service: str, names: TopicNames, count: int) -> list[OutgoingRecord]:
    records: list[OutgoingRecord] = []
    for i in range(count):
        message = intake_message(i)
        if service in ("classifier", "notifier"):
            records.append(
                encode_event(
                    MESSAGE_RECEIVED,
                    topic=names("intake.messages.v1"),
                    event_id=message.event_id,
                    source="bench",
                    key=message.conversation_id,
                    data=message,
                )
            )
        if service == "dispatcher":
            classified = ClassifiedMessage(
                event_id=derived_event_id(message.event_id, "classified"),
                message=message,
                intake_position=IntakePosition(partition=0, offset=i),
                classification=classification(message),
                classified_at=datetime.now(UTC),
            )
            records.append(
                encode_event(
                    MESSAGE_CLASSIFIED,
                    topic=names("intake.classified.v1"),
                    event_id=classified.event_id,
                    source="bench",
                    key=message.conversation_id,
                    data=classified,
                )
            )
        if service == "notifier":
            routed = RoutedMessage(
                event_id=derived_event_id(message.event_id, "routed"),
                message=message,
                intake_position=IntakePosition(partition=0, offset=i),
                classification=classification(message),
                routing=Routing(
                    department="logistics",
                    case_reference=case_reference(Position(0, i)),
                    rule="bench",
                    priority=Priority.NORMAL,
                    resolution_due_at=message.received_at + timedelta(hours=24),
                    routed_at=datetime.now(UTC),
                ),
            )
            records.append(
                encode_event(
                    MESSAGE_ROUTED,
                    topic=names("intake.routed.v1"),
                    event_id=routed.event_id,
                    source="bench",
                    key=message.conversation_id,
                    data=routed,
                )
            )
    return records


PARTITIONS = 6
"""Partitions of the input and output topics: replicas share them, so at most this many replicas."""
OUTPUT = {"classifier": "intake.classified.v1", "dispatcher": "intake.routed.v1", "notifier": "notify.acks.v1"}
MEASURED = tuple(OUTPUT)
"""The services this benchmark measures, in the order it measures them."""
INPUTS = {
    "classifier": ("intake.messages.v1",),
    "dispatcher": ("intake.classified.v1",),
    # The notifier reads each message twice, as it arrives (its timer starts) and once routed (its case
    # reference); the passthrough reads and copies both, as much Kafka work as the notifier does.
    "notifier": ("intake.messages.v1", "intake.routed.v1"),
}


async def _timestamps(kafka: KafkaSettings, topic: str, count: int, timeout: float) -> tuple[float, float, int]:
    """(first, last) broker timestamps, seconds, of the first ``count`` committed records of ``topic``."""
    consumer = AIOKafkaConsumer(isolation_level="read_committed", enable_auto_commit=False, **kafka.client_kwargs())
    await consumer.start()
    try:
        partitions = await topic_partitions(consumer, topic, wait=30)
        if not partitions:
            raise RuntimeError(f"topic {topic} does not exist")
        consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
        await consumer.seek_to_beginning()
        first, last, seen = float("inf"), 0.0, 0
        deadline = time.monotonic() + timeout
        while seen < count and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500, max_records=5000)).values():
                for record in records:
                    seen += 1
                    first, last = min(first, record.timestamp / 1000), max(last, record.timestamp / 1000)
        return first, last, seen
    finally:
        await consumer.stop()


async def _group_settled(kafka: KafkaSettings, members: int, timeout: float = 120.0) -> None:
    """Until every consumer group under ``kafka.topic_prefix`` is stable with ``members`` members (and one exists).

    Then each replica holds its share of the partitions, and no rebalance is left to interrupt the drain.
    """
    admin = AIOKafkaAdminClient(**kafka.client_kwargs())
    await admin.start()
    try:
        deadline = time.monotonic() + timeout
        states: dict[str, tuple[str, int]] = {}
        while time.monotonic() < deadline:
            groups = [g for g, _ in await admin.list_consumer_groups() if g.startswith(kafka.topic_prefix)]
            if groups:
                states = {}
                for response in await admin.describe_consumer_groups(groups):
                    for group in response.groups:
                        # (error_code, group_id, state, protocol_type, protocol, members[, authorized_operations])
                        states[group[1]] = (group[2], len(group[5]))
                if all(state == ("Stable", members) for state in states.values()):
                    return
            await asyncio.sleep(0.5)
        raise RuntimeError(f"consumer groups did not settle with {members} members each: {states}")
    finally:
        await admin.close()


async def _drain(
    gateway: BenchGateway, run: str, service: str, count: int, log_dir: Path, replicas: int = 1
) -> dict[str, Any]:
    """``replicas`` processes of ``service`` (or of the passthrough) in one group drain ``count`` input messages.

    The processes start on empty input topics; once their group is stable, the input is written in one
    transaction, so that it appears whole to consumers that already hold their partitions: a pre-filled
    topic, without the first replica to join taking every partition and a rebalance in the middle.
    """
    kafka = gateway.kafka.model_copy(update={"topic_prefix": f"{gateway.kafka.topic_prefix}{run}."})
    names = await create_plan_topics(kafka, pipeline_partitions=PARTITIONS)
    env = {**gateway.env, "KAFKA_TOPIC_PREFIX": kafka.topic_prefix, "NOTIFIER_CONVERSATION_WINDOW": "0s"}
    instance = f"bench-{run}"
    passthroughs: list[asyncio.subprocess.Process] = []
    services: list[ServiceProcess] = []
    if run.endswith("passthrough"):
        target = f"{kafka.topic_prefix}bench.passthrough"
        await ensure_topics(kafka, [TopicSpec(target, PARTITIONS, 1, {})])
        for _ in range(replicas):
            passthroughs.append(
                await asyncio.create_subprocess_exec(
                    *[
                        sys.executable,
                        "-m",
                        "switchboard_devenv.bench.passthrough",
                        ",".join(names(topic) for topic in INPUTS[service]),
                        target,
                        f"{kafka.topic_prefix}passthrough",
                    ],
                    env={**env, "PATH": "/usr/bin:/bin"},
                )
            )
        output, expected = target, count * len(INPUTS[service])
        pids = [process.pid for process in passthroughs]
    else:
        module = next(s.module for s in SERVICES if s.name == service)
        for n in range(replicas):
            replica_env = {**env, "CONSUMER_INSTANCE_ID": f"{instance}-{n}"}  # each its own transactional id
            name = service if replicas == 1 else f"{service}-{n}"
            services.append(ServiceProcess(name, module, port=free_port(), env=replica_env, log_dir=log_dir).start())
        output, expected = names(OUTPUT[service]), count
        pids = [process.pid or 0 for process in services]
    try:
        await _group_settled(kafka, replicas)
        # Tens of thousands of events in one transaction: more time than a service's batch needs.
        filling = kafka.model_copy(update={"transaction_timeout_ms": 300_000})
        await publish(filling, inputs(service, names, count), in_one_transaction=True)
        cpu_before = sum(cpu_seconds(pid) or 0.0 for pid in pids)
        try:
            first, last, seen = await _timestamps(kafka, output, expected, timeout=600)
        finally:
            cpu_used = sum(cpu_seconds(pid) or 0.0 for pid in pids) - cpu_before
    finally:
        for process in passthroughs:
            process.terminate()
            await asyncio.wait_for(process.wait(), 30)
        for service_process in services:
            await asyncio.to_thread(service_process.stop)
    span = max(last - first, 1e-3)
    return {
        "replicas": replicas,
        "records": seen,
        "seconds": round(span, 3),
        "per_second": round(count * seen / expected / span, 1),  # input messages served per second
        "cpu_seconds": round(cpu_used, 2),
    }


async def run(
    gateway: BenchGateway, count: int, log_dir: Path, *, services: Sequence[str] = MEASURED, replicas: int = 1
) -> dict[str, Any]:
    """Each of ``services`` with ``replicas`` processes, next to as many passthrough processes."""
    results: dict[str, Any] = {}
    for service in services:
        tag = uuid.uuid4().hex[:4]
        measured = await _drain(gateway, f"{service}{tag}", service, count, log_dir, replicas)
        baseline = await _drain(gateway, f"{service}{tag}passthrough", service, count, log_dir, replicas)
        results[service] = {
            "service": measured,
            "passthrough": baseline,
            "ratio": round(measured["per_second"] / baseline["per_second"], 2) if baseline["per_second"] else None,
        }
    return results
