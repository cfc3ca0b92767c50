"""``switchboard-ops``: look at topics and replay dead letters.

    switchboard-ops tail TOPIC [--from-beginning] [--follow] [--limit N]
    switchboard-ops dlq list TOPIC                 dead letters of TOPIC (reason, source position)
    switchboard-ops dlq replay TOPIC [--offset N ...] [--dry-run]
                                                   republish dead letters to the topic they came from

Topic names are logical (``intake.messages.v1``, ``dept.logistics.v1``); ``KAFKA_TOPIC_PREFIX`` is
applied. Output is one JSON object per line. The cluster is ``KAFKA_BOOTSTRAP_SERVERS``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from switchboard_common.events.envelope import ConsumedRecord, OutgoingRecord
from switchboard_common.partition_reader import to_consumed
from switchboard_common.producer import EventProducer
from switchboard_common.settings import KafkaSettings
from switchboard_common.topics import TopicNames


async def read_records(
    kafka: KafkaSettings, topic: str, *, from_beginning: bool, follow: bool, idle_s: float = 2.0
) -> AsyncIterator[ConsumedRecord]:
    """Committed records of every partition of ``topic``; without ``follow``, until it has been idle for a while."""
    consumer = AIOKafkaConsumer(enable_auto_commit=False, isolation_level="read_committed", **kafka.client_kwargs())
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise SystemExit(f"topic {topic} does not exist")
        consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
        if from_beginning:
            await consumer.seek_to_beginning()
        else:
            await consumer.seek_to_end()
        idle = 0.0
        while follow or idle < idle_s:
            batch = await consumer.getmany(timeout_ms=500)
            if not any(batch.values()):
                idle += 0.5
                continue
            idle = 0.0
            for raws in batch.values():
                for raw in raws:
                    yield to_consumed(raw)
    finally:
        await consumer.stop()


def describe(record: ConsumedRecord) -> dict[str, Any]:
    """A record as one JSON-friendly object: position, key, headers, value (JSON when it is JSON)."""
    value: Any = None
    if record.value is not None:
        try:
            value = orjson.loads(record.value)
        except orjson.JSONDecodeError:
            value = record.value.decode("utf-8", "replace")
    return {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "key": record.key.decode("utf-8", "replace") if record.key else None,
        "headers": {k: v.decode("utf-8", "replace") for k, v in record.headers.items()},
        "value": value,
    }


def replay_record(dead: ConsumedRecord) -> OutgoingRecord:
    """The original record of a dead letter, to publish again to the topic it came from."""
    source = dead.header("dlq_source_topic")
    if not source:
        raise ValueError(f"{dead.topic}[{dead.partition}]@{dead.offset} has no dlq_source_topic header")
    headers = tuple((k, v) for k, v in dead.headers.items() if not k.startswith("dlq_"))
    replayed_from = f"{dead.topic}[{dead.partition}]@{dead.offset}".encode()
    return OutgoingRecord(
        topic=source, key=dead.key, value=dead.value or b"", headers=(*headers, ("dlq_replayed_from", replayed_from))
    )


async def _tail(kafka: KafkaSettings, topic: str, args: argparse.Namespace) -> int:
    count = 0
    async for record in read_records(kafka, topic, from_beginning=args.from_beginning, follow=args.follow):
        print(orjson.dumps(describe(record)).decode(), flush=True)
        count += 1
        if args.limit and count >= args.limit:
            break
    return 0


async def _dlq(kafka: KafkaSettings, names: TopicNames, args: argparse.Namespace) -> int:
    dlq_topic = names.dead_letter(names(args.topic))
    dead = [r async for r in read_records(kafka, dlq_topic, from_beginning=True, follow=False)]
    if args.dlq_command == "list":
        for record in dead:
            entry = describe(record)
            print(
                orjson.dumps(
                    {
                        "offset": record.offset,
                        "reason": record.header("dlq_reason"),
                        "source": f"{record.header('dlq_source_topic')}[{record.header('dlq_source_partition')}]"
                        f"@{record.header('dlq_source_offset')}",
                        "consumer_group": record.header("dlq_consumer_group"),
                        "failed_at": record.header("dlq_failed_at"),
                        "ce_id": record.header("ce_id"),
                        "value": entry["value"],
                    }
                ).decode()
            )
        return 0
    chosen = [r for r in dead if not args.offset or r.offset in set(args.offset)]
    records = [replay_record(r) for r in chosen]
    if args.dry_run:
        for outgoing, source in zip(records, chosen, strict=True):
            print(orjson.dumps({"would_replay": source.offset, "to": outgoing.topic}).decode())
        return 0
    producer = EventProducer(kafka, client_id=f"{kafka.client_id}-ops")
    await producer.start()
    try:
        await producer.publish(records)
    finally:
        await producer.stop()
    print(orjson.dumps({"replayed": [r.offset for r in chosen], "to": sorted({r.topic for r in records})}).decode())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="switchboard-ops", description="Look at topics and replay dead letters.")
    sub = parser.add_subparsers(dest="command", required=True)
    tail = sub.add_parser("tail", help="print a topic's records as JSON lines")
    tail.add_argument("topic")
    tail.add_argument("--from-beginning", action="store_true")
    tail.add_argument("--follow", action="store_true", help="keep printing new records until interrupted")
    tail.add_argument("--limit", type=int, default=0)
    dlq = sub.add_parser("dlq", help="dead letters of a topic")
    dlq_sub = dlq.add_subparsers(dest="dlq_command", required=True)
    listing = dlq_sub.add_parser("list")
    listing.add_argument("topic")
    replay = dlq_sub.add_parser("replay")
    replay.add_argument("topic")
    replay.add_argument("--offset", type=int, action="append", help="only these DLQ offsets (repeatable)")
    replay.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    kafka = KafkaSettings()
    names = TopicNames(kafka.topic_prefix)
    try:
        if args.command == "tail":
            return asyncio.run(_tail(kafka, names(args.topic), args))
        return asyncio.run(_dlq(kafka, names, args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
