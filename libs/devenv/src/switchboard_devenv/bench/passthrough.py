"""The baseline the consumers are measured against: plain aiokafka consume-and-produce, bytes copied.

Run as its own process (``python -m switchboard_devenv.bench.passthrough IN[,IN...] OUT GROUP``) so that it is
measured exactly like a service: a consumer group, batches polled, every record produced to the
output topic with the idempotent producer, offsets committed after the outputs are acknowledged.
It does no decoding, validation or business logic: what remains is the cost of Kafka and asyncio.
"""

from __future__ import annotations

import asyncio
import os
import sys

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from switchboard_common.settings import KafkaSettings


async def passthrough(sources: list[str], target: str, group: str) -> None:
    kafka = KafkaSettings()
    consumer = AIOKafkaConsumer(
        *sources,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        **kafka.client_kwargs(),
    )
    producer = AIOKafkaProducer(enable_idempotence=True, linger_ms=kafka.linger_ms, **kafka.client_kwargs())
    await consumer.start()
    await producer.start()
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=200, max_records=500)
            futures = [
                await producer.send(target, value=record.value, key=record.key, headers=list(record.headers or ()))
                for records in batch.values()
                for record in records
            ]
            if futures:
                await asyncio.gather(*futures)
                await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()


def main() -> None:
    sources, target, group = sys.argv[1:4]
    os.environ.setdefault("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    asyncio.run(passthrough(sources.split(","), target, group))


if __name__ == "__main__":
    main()
