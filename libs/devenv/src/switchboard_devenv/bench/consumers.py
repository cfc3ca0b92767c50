"""Each consumer service's throughput alone, next to a plain consume-and-produce passthrough.

For each service the input topic is filled with N realistic events first; then the service (a real
process, as deployed) drains it. Throughput is N divided by the time between the first and the last
output record (their broker timestamps), so start-up and group joining are not counted. The
passthrough baseline drains the same input topics in the same run the same way, copying every record
it reads (for the notifier, which reads each message twice, that is two records per message).
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

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
from switchboard_common.producer import EventProducer
from switchboard_common.settings import KafkaSettings
from switchboard_common.topics import TopicNames
from switchboard_devenv.bench.harness import BenchGateway, cpu_seconds
from switchboard_devenv.bench.pipeline import bench_text
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


OUTPUT = {"classifier": "intake.classified.v1", "dispatcher": "intake.routed.v1", "notifier": "notify.acks.v1"}
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


async def _drain(gateway: BenchGateway, run: str, service: str, count: int, log_dir: Path) -> dict[str, Any]:
    kafka = gateway.kafka.model_copy(update={"topic_prefix": f"{gateway.kafka.topic_prefix}{run}."})
    from switchboard_devenv.kafka_testing import create_plan_topics

    names = await create_plan_topics(kafka, pipeline_partitions=6)
    producer = EventProducer(kafka, client_id="bench-fill")
    await producer.start()
    records = inputs(service, names, count)
    for start in range(0, len(records), 2000):
        await producer.publish(records[start : start + 2000], timeout=60)
    await producer.stop()
    env = {**gateway.env, "KAFKA_TOPIC_PREFIX": kafka.topic_prefix, "NOTIFIER_CONVERSATION_WINDOW": "0s"}
    if run.endswith("passthrough"):
        target = f"{kafka.topic_prefix}bench.passthrough"
        admin = AIOKafkaAdminClient(**kafka.client_kwargs())
        await admin.start()
        await admin.create_topics([NewTopic(target, 6, 1)])
        await admin.close()
        process = await asyncio.create_subprocess_exec(
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
        output, expected, pid = target, count * len(INPUTS[service]), process.pid
    else:
        module = next(s.module for s in SERVICES if s.name == service)
        service_process = ServiceProcess(service, module, port=free_port(), env=env, log_dir=log_dir).start()
        output, expected, pid = names(OUTPUT[service]), count, service_process.pid or 0
    cpu_before = cpu_seconds(pid) or 0.0
    try:
        first, last, seen = await _timestamps(kafka, output, expected, timeout=600)
    finally:
        cpu_used = (cpu_seconds(pid) or 0.0) - cpu_before
        if run.endswith("passthrough"):
            process.terminate()
            await asyncio.wait_for(process.wait(), 30)
        else:
            await asyncio.to_thread(service_process.stop)
    span = max(last - first, 1e-3)
    return {
        "records": seen,
        "seconds": round(span, 3),
        "per_second": round(count * seen / expected / span, 1),  # input messages served per second
        "cpu_seconds": round(cpu_used, 2),
    }


async def run(gateway: BenchGateway, count: int, log_dir: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for service in ("classifier", "dispatcher", "notifier"):
        tag = uuid.uuid4().hex[:4]
        measured = await _drain(gateway, f"{service}{tag}", service, count, log_dir)
        baseline = await _drain(gateway, f"{service}{tag}passthrough", service, count, log_dir)
        results[service] = {
            "service": measured,
            "passthrough": baseline,
            "ratio": round(measured["per_second"] / baseline["per_second"], 2) if baseline["per_second"] else None,
        }
    return results
