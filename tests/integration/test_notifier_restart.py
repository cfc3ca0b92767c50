"""The notifier killed with SIGKILL in the middle of a stream acknowledges every message exactly once."""

from __future__ import annotations

import asyncio
import collections
from pathlib import Path

import pytest
from pipeline_support import chat_message, intake_record, routed_record

from switchboard_common.events import ACK_RECORDED, CHAT_OUTBOUND
from switchboard_common.events.models import AckOutcome
from switchboard_common.producer import EventProducer
from switchboard_common.settings import KafkaSettings
from switchboard_common.topics import TopicNames
from switchboard_devenv.kafka_testing import decode_all, read_topic
from switchboard_devenv.processes import ServiceProcess, free_port, service_env

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

MESSAGES = 400


def notifier(kafka: KafkaSettings, log_dir: Path) -> ServiceProcess:
    return ServiceProcess(
        "notifier",
        "switchboard_notifier.main",
        port=free_port(),
        log_dir=log_dir,
        env=service_env(kafka, "restart-test", NOTIFIER_SLA='{"webchat": "6s"}'),
    )


async def test_a_killed_and_restarted_notifier_sends_no_duplicate_and_misses_no_acknowledgement(
    kafka_settings: KafkaSettings, kafka_topics: TopicNames, tmp_path: Path
):
    process = notifier(kafka_settings, tmp_path).start()
    await asyncio.to_thread(process.wait_ready, 60)
    producer = EventProducer(kafka_settings, client_id="stream")
    await producer.start()
    messages = [chat_message(f"wc_restart_{i}") for i in range(MESSAGES)]
    try:
        for i, message in enumerate(messages):
            records = [intake_record(kafka_topics, message)]
            if i % 3:  # two thirds get routed; the rest rely on the generic fallback at half the SLA
                records.append(routed_record(kafka_topics, message))
            await producer.publish(records)
            if i == MESSAGES // 3:
                process.kill()
            if i == MESSAGES // 2:
                process = notifier(kafka_settings, tmp_path).start()
            await asyncio.sleep(0.01)
        await asyncio.to_thread(process.wait_ready, 60)
        records = await read_topic(
            kafka_settings,
            kafka_topics("notify.acks.v1"),
            timeout=90,
            until=lambda rs: len({r.header("ce_id") for r in rs}) >= MESSAGES,
            settle=3,
        )
        outbound = await read_topic(
            kafka_settings, kafka_topics("chat.outbound.v1"), count=MESSAGES, timeout=30, settle=2
        )
    finally:
        await producer.stop()
        process.stop()

    acks = decode_all(records, ACK_RECORDED)
    sent = collections.Counter(a.message_event_id for a in acks if a.outcome is AckOutcome.SENT)
    delivered = collections.Counter(m.in_reply_to for m in decode_all(outbound, CHAT_OUTBOUND))
    expected = {m.event_id for m in messages}
    assert set(delivered) == expected, f"missing: {len(expected - set(delivered))}"
    assert max(delivered.values()) == 1, f"duplicates: {[k for k, v in delivered.items() if v > 1][:5]}"
    assert set(sent) == expected
    assert max(sent.values()) == 1
