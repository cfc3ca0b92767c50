"""Delivery of chat.outbound.v1 to open sockets, on whichever replica holds them.

Every replica tails every partition of chat.outbound.v1 (no consumer group: each replica must see
every message) and hands each message to the sockets subscribed to its conversation. A client that
reconnects, to this or another replica, sends the cursor of the last message it saw; the replica
reads the conversation's partition from there (or, without a cursor, from when the session began)
so that nothing sent while it was away is missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from prometheus_client import Counter, Gauge

from switchboard_common.events import CHAT_OUTBOUND, InvalidMessage, decode_event
from switchboard_common.events.models import ChatOutbound
from switchboard_common.partition_reader import to_consumed
from switchboard_common.partitioning import PARTITIONER
from switchboard_common.settings import KafkaSettings
from switchboard_common.topics import CHAT_OUTBOUND as CHAT_OUTBOUND_TOPIC
from switchboard_common.topics import TopicNames

log = logging.getLogger(__name__)

DELIVERED = Counter("switchboard_webchat_outbound_delivered_total", "Outbound messages handed to an open socket.")
REPLAYED = Counter("switchboard_webchat_outbound_replayed_total", "Outbound messages replayed to reconnecting clients.")
DROPPED = Counter(
    "switchboard_webchat_outbound_overflow_total", "Sockets closed because they could not keep up (client replays)."
)
OPEN_SOCKETS = Gauge("switchboard_webchat_open_sockets", "Web-chat sockets open on this replica.")


@dataclass(frozen=True, slots=True)
class Cursor:
    """A position in chat.outbound.v1: ``<partition>-<offset>``."""

    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.partition}-{self.offset}"

    @classmethod
    def parse(cls, text: str | None) -> Cursor | None:
        if not text:
            return None
        partition, sep, offset = text.partition("-")
        if not sep or not partition.isdigit() or not offset.isdigit():
            return None
        return cls(int(partition), int(offset))


@dataclass(frozen=True, slots=True)
class OutboundItem:
    cursor: Cursor
    message: ChatOutbound

    def frame(self) -> dict[str, Any]:
        data = self.message
        return {
            "type": "message",
            "message_id": data.message_id,
            "kind": data.kind.value,
            "text": data.text,
            "case_reference": data.case_reference,
            "department": data.department,
            "language": data.language.value if data.language else None,
            "in_reply_to": data.in_reply_to,
            "sent_at": data.sent_at.isoformat(),
            "cursor": str(self.cursor),
            "actions": [{"label": action.label, "value": action.value} for action in data.actions],
        }


class Subscription:
    """One socket's inbox; the relay closes it (``overflowed``) when the socket cannot keep up."""

    def __init__(self, conversation_id: str, capacity: int = 1000) -> None:
        self.conversation_id = conversation_id
        self.queue: asyncio.Queue[OutboundItem] = asyncio.Queue(capacity)
        self.overflowed = asyncio.Event()


class OutboundRelay:
    """Tails chat.outbound.v1 and replays it for reconnecting clients. See the module docstring."""

    def __init__(
        self,
        kafka: KafkaSettings,
        names: TopicNames,
        replay_limit: int = 200,
        *,
        tail_fetch: Mapping[str, int] | None = None,
    ) -> None:
        """``tail_fetch``: the tail's fetch batching (``ConsumerSettings.fetch_kwargs``); replays fetch at once."""
        self._kafka = kafka
        self._tail_fetch = dict(tail_fetch or {})
        self._topic = names(CHAT_OUTBOUND_TOPIC)
        self._replay_limit = replay_limit
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)
        self._tail: AIOKafkaConsumer | None = None
        self._reader: AIOKafkaConsumer | None = None
        self._reader_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._partitions: list[int] = []
        self.running = False

    def _consumer(self, **fetch: int) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            client_id=f"{self._kafka.client_id}-webchat-outbound",
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset="latest",
            **fetch,
            **self._kafka.client_kwargs(),
        )

    async def start(self) -> None:
        # The tail waits for a batch (fewer fetches for the broker to answer under load, at most
        # fetch_max_wait_ms more to an acknowledgement); a replay is a bounded read, answered at once.
        tail, reader = self._consumer(**self._tail_fetch), self._consumer()
        await asyncio.wait_for(tail.start(), self._kafka.send_timeout_s * 3)
        await asyncio.wait_for(reader.start(), self._kafka.send_timeout_s * 3)
        self._tail, self._reader = tail, reader
        partitions = await self._partitions_of_topic(tail)
        self._partitions = sorted(partitions)
        tail.assign([TopicPartition(self._topic, p) for p in self._partitions])
        await tail.seek_to_end()
        self._task = asyncio.create_task(self._run(), name="webchat-outbound-tail")
        self.running = True

    async def _partitions_of_topic(self, consumer: AIOKafkaConsumer) -> set[int]:
        for _ in range(50):
            partitions = consumer.partitions_for_topic(self._topic)
            if partitions:
                return set(partitions)
            await consumer._client.force_metadata_update()
            await asyncio.sleep(0.2)
        raise KafkaError(f"topic {self._topic} does not exist; run switchboard-topics ensure")

    async def stop(self) -> None:
        self.running = False
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for consumer in (self._tail, self._reader):
            if consumer is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(consumer.stop(), self._kafka.send_timeout_s)

    def is_ready(self) -> bool:
        return self.running and self._task is not None and not self._task.done()

    async def _run(self) -> None:
        assert self._tail is not None
        while True:
            try:
                batch = await self._tail.getmany(timeout_ms=500, max_records=1000)
            except KafkaError as exc:
                log.warning("outbound tail poll failed", extra={"error": repr(exc)})
                await asyncio.sleep(1)
                continue
            except Exception:
                # The tail must outlive whatever the client raises (aiokafka has asserted on a broker still
                # starting): without it no socket here gets an acknowledgement until the process restarts.
                log.exception("outbound tail poll failed unexpectedly")
                await asyncio.sleep(1)
                continue
            subscribers = self._subscribers
            for raws in batch.values():
                for raw in raws:
                    if raw.key is not None and raw.key.decode("utf-8", "replace") not in subscribers:
                        continue  # no socket for this conversation here: not worth decoding
                    item = self._decode(raw)
                    if item is not None:
                        self._dispatch(item)

    def _decode(self, raw: Any) -> OutboundItem | None:
        record = to_consumed(raw)
        try:
            data: ChatOutbound = decode_event(record, [CHAT_OUTBOUND]).data
        except InvalidMessage as exc:
            log.error("undeliverable outbound record", extra={"offset": record.offset, "reason": exc.reason})
            return None
        return OutboundItem(Cursor(record.partition, record.offset), data)

    def _dispatch(self, item: OutboundItem) -> None:
        for subscription in list(self._subscribers.get(item.message.conversation_id, ())):
            try:
                subscription.queue.put_nowait(item)
                DELIVERED.inc()
            except asyncio.QueueFull:
                DROPPED.inc()
                subscription.overflowed.set()

    def subscribe(self, conversation_id: str) -> Subscription:
        subscription = Subscription(conversation_id)
        self._subscribers[conversation_id].add(subscription)
        OPEN_SOCKETS.inc()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscribers = self._subscribers.get(subscription.conversation_id)
        if subscribers is not None and subscription in subscribers:
            subscribers.discard(subscription)
            OPEN_SOCKETS.dec()
            if not subscribers:
                del self._subscribers[subscription.conversation_id]

    def partition_of(self, conversation_id: str) -> int:
        return PARTITIONER(conversation_id.encode(), self._partitions, self._partitions)

    async def replay(self, conversation_id: str, after: Cursor | None, since_ms: int) -> list[OutboundItem]:
        """Messages of the conversation after ``after`` (or written since ``since_ms``), oldest first.

        Reads one partition, never further back than ``since_ms`` (the caller bounds it by the replay
        window), and returns at most ``replay_limit`` messages, the newest.
        """
        assert self._reader is not None
        partition = self.partition_of(conversation_id)
        tp = TopicPartition(self._topic, partition)
        found: list[OutboundItem] = []
        async with self._reader_lock:
            reader = self._reader
            reader.assign([tp])
            end = (await reader.end_offsets([tp]))[tp]
            by_time = await reader.offsets_for_times({tp: since_ms})
            start = by_time[tp].offset if by_time.get(tp) else end
            if after is not None and after.partition == partition:
                start = max(start, after.offset + 1)
            if start >= end:
                return []
            reader.seek(tp, start)
            async with asyncio.timeout(self._kafka.send_timeout_s):
                while await reader.position(tp) < end:
                    batch = await reader.getmany(tp, timeout_ms=500, max_records=1000)
                    for raw in batch.get(tp, []):
                        if raw.offset >= end:
                            break
                        if raw.key is not None and raw.key.decode("utf-8", "replace") == conversation_id:
                            item = self._decode(raw)
                            if item is not None:
                                found.append(item)
        REPLAYED.inc(min(len(found), self._replay_limit))
        return found[-self._replay_limit :]
