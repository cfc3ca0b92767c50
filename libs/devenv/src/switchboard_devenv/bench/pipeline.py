"""The whole chat pipeline under an open-loop load: intake response, intake-to-routed, intake-to-ack.

Messages are sent on a fixed schedule (message i at start + i / rate), whatever the answers take, and
every latency is measured from the message's scheduled time, so a stall delays the measured latency
of every message behind it instead of hiding it (no coordinated omission).

* ``http``: each message on a chat session of its own (sessions are minted with the gateway's
  secret, as intake-chat would), over keep-alive HTTP; the acknowledgement time is when the notifier
  wrote it to chat.outbound.v1.
* ``ws``: a population of open WebSockets, each a customer who writes at intervals; the
  acknowledgement time is when the customer's socket received it. Every message is acknowledged
  (the benchmark sets the per-conversation acknowledgement window to zero), the heaviest case.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import websockets
from aiokafka import AIOKafkaConsumer, TopicPartition

from switchboard_common.partition_reader import topic_partitions
from switchboard_common.settings import ConsumerSettings, KafkaSettings
from switchboard_common.topics import load_topic_plan
from switchboard_devenv.bench.harness import BenchGateway, Latency, MemorySampler, cpu_seconds
from switchboard_devenv.http_client import HttpError, KeepAliveClient
from switchboard_intake_chat.webchat.session import new_session

TEXTS = [
    "我的快递已经三天没有更新物流信息了，单号SF1234567890123，请帮忙查一下",
    "I was charged twice for order A123-4567, please refund the extra $45.99",
    "我想退货，衣服尺码不对，订单号 202311241234567",
    "How do I reset my password? I cannot log in to my account",
    "優惠券怎麼用不了？結帳時一直顯示無效",
    "The app keeps crashing when I open my orders page",
    "建议你们增加夜间配送服务",
    "Where is my parcel? It was supposed to arrive yesterday",
]


GC_METRIC = "switchboard_gc_seconds_total"


def bench_text(index: int) -> str:
    """Message ``index`` of a benchmark: a sample text made unique, as customers' messages are (the
    classifier remembers its decisions for recent texts, which a few texts repeated would flatter)."""
    return f"{TEXTS[index % len(TEXTS)]} [{index}]"


@dataclass
class PipelineResult:
    offered: int = 0
    accepted: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    intake: Latency = field(default_factory=Latency)
    routed: Latency = field(default_factory=Latency)
    acknowledged: Latency = field(default_factory=Latency)
    scheduled: dict[str, float] = field(default_factory=dict)  # event id -> scheduled epoch time
    routed_ids: set[str] = field(default_factory=set)
    acked_ids: set[str] = field(default_factory=set)
    early: dict[str, tuple[str, float]] = field(default_factory=dict)

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def seen(self, what: str, event_id: str, at: float) -> None:
        """An output (``routed`` or ``acked``) for ``event_id`` observed at epoch time ``at``."""
        scheduled = self.scheduled.get(event_id)
        if scheduled is None:  # the output overtook the intake's answer: settle it when the answer comes
            self.early[f"{what}:{event_id}"] = (what, at)
            return
        target, latency = (self.routed_ids, self.routed) if what == "routed" else (self.acked_ids, self.acknowledged)
        if event_id not in target:
            target.add(event_id)
            latency.record(at - scheduled)

    def accept(self, event_id: str, scheduled: float) -> None:
        self.accepted += 1
        self.scheduled[event_id] = scheduled
        for what in ("routed", "acked"):
            early = self.early.pop(f"{what}:{event_id}", None)
            if early is not None:
                self.seen(what, event_id, early[1])


class OutputTail:
    """Reads department topics and chat.outbound.v1 from their current end, feeding a result."""

    def __init__(self, kafka: KafkaSettings, result: PipelineResult, *, acks_from_kafka: bool) -> None:
        self._kafka = kafka
        self._result = result
        self._acks = acks_from_kafka
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, names: Any) -> None:
        plan = load_topic_plan()
        topics = [names.department(d) for d in plan.departments]
        if self._acks:
            topics.append(names("chat.outbound.v1"))
        self._outbound = names("chat.outbound.v1")
        # Batched fetches, as the services' consumers: the load generator shares the machine, and the
        # latencies it records are the records' broker timestamps, which the fetch's wait does not move.
        consumer = AIOKafkaConsumer(
            isolation_level="read_committed",
            enable_auto_commit=False,
            **ConsumerSettings().fetch_kwargs(),
            **self._kafka.client_kwargs(),
        )
        await consumer.start()
        partitions = []
        for topic in topics:
            found = await topic_partitions(consumer, topic, wait=30)
            if not found:
                raise RuntimeError(f"topic {topic} does not exist")
            partitions += [TopicPartition(topic, p) for p in sorted(found)]
        consumer.assign(partitions)
        await consumer.seek_to_end()
        self._consumer = consumer
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            batch = await self._consumer.getmany(timeout_ms=200, max_records=5000)
            for tp, records in batch.items():
                is_ack = tp.topic == self._outbound
                for record in records:
                    value = orjson.loads(record.value)
                    if is_ack:
                        self._result.seen("acked", value.get("in_reply_to", ""), record.timestamp / 1000)
                    else:
                        self._result.seen("routed", value.get("message_event_id", ""), record.timestamp / 1000)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer:
            await self._consumer.stop()


async def _http_load(gateway: BenchGateway, result: PipelineResult, rate: float, duration: float) -> None:
    secret = gateway.env["WEBCHAT_SESSION_SECRET"].encode()
    client = KeepAliveClient(gateway.services["intake-chat"].url, max_connections=512, timeout=30)
    tasks: list[asyncio.Task[None]] = []

    async def send(index: int, scheduled: float) -> None:
        session = new_session(secret, int(scheduled))
        body = {"type": "message", "id": f"b{index}", "text": bench_text(index)}
        try:
            response = await client.request(
                "POST", "/v1/webchat/messages", json=body, headers={"Authorization": f"Bearer {session.token}"}
            )
        except HttpError as exc:
            result.error(str(exc))
            return
        if response.status != 202:
            result.error(str(response.status))
            return
        result.intake.record(time.time() - scheduled)
        accepted = response.json()
        assert isinstance(accepted, dict)
        result.accept(accepted["event_id"], scheduled)

    total = int(rate * duration)
    start = time.time() + 0.5
    for index in range(total):
        scheduled = start + index / rate
        delay = scheduled - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        result.offered += 1
        tasks.append(asyncio.create_task(send(index, scheduled)))
    await asyncio.gather(*tasks)
    await client.close()


async def _ws_load(
    gateway: BenchGateway, result: PipelineResult, rate: float, duration: float, sockets: int
) -> Callable[[], Awaitable[None]]:
    """Send the load; returns what closes the sockets, for after the drain (acknowledgements come through them)."""
    url = gateway.services["intake-chat"].url.replace("http://", "ws://") + "/v1/webchat/ws"
    connections: list[Any] = []
    readers: list[asyncio.Task[None]] = []
    pending: dict[str, float] = {}  # client id -> scheduled time

    async def read(ws: Any) -> None:
        async for raw in ws:
            frame = orjson.loads(raw)
            kind = frame.get("type")
            if kind == "accepted":
                scheduled = pending.pop(frame["id"], None)
                if scheduled is not None:
                    result.intake.record(time.time() - scheduled)
                    result.accept(frame["event_id"], scheduled)
            elif kind == "message":
                result.seen("acked", frame.get("in_reply_to", ""), time.time())
            elif kind == "error":
                result.error(frame.get("code", "error"))
                pending.pop(frame.get("id", ""), None)

    for _ in range(sockets):
        ws = await websockets.connect(url, max_queue=None, ping_interval=None)
        await ws.recv()  # welcome
        connections.append(ws)
        readers.append(asyncio.create_task(read(ws)))
    total = int(rate * duration)
    start = time.time() + 0.5
    for index, ws in zip(range(total), itertools.cycle(connections), strict=False):
        scheduled = start + index / rate
        delay = scheduled - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        result.offered += 1
        client_id = f"b{index}"
        pending[client_id] = scheduled
        try:
            await ws.send(orjson.dumps({"type": "message", "id": client_id, "text": bench_text(index)}).decode())
        except websockets.ConnectionClosed:
            result.error("socket_closed")
    await _settle(lambda: not pending, 30)
    result.open_sockets = len(connections)  # type: ignore[attr-defined]

    async def close() -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*(ws.close() for ws in connections)), 30)
        for reader in readers:
            reader.cancel()

    return close


async def _settle(condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:  # noqa: ASYNC110  (polls state other tasks update)
        await asyncio.sleep(0.2)


async def run(
    gateway: BenchGateway, *, transport: str, rate: float, duration: float, sockets: int = 1000, drain: float = 60
) -> dict[str, Any]:
    result = PipelineResult()
    tail = OutputTail(gateway.kafka, result, acks_from_kafka=transport == "http")
    await tail.start(gateway.names)
    pids = {**gateway.pids(), "load-generator": os.getpid()}  # the load comes from this machine too
    sampler = MemorySampler(pids)
    at_rest = sampler.snapshot()
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    gc_before = {name: await gateway.metric(name, GC_METRIC) for name in gateway.services}
    sampler.start()
    started = time.monotonic()
    close_sockets = None
    if transport == "http":
        await _http_load(gateway, result, rate, duration)
    else:
        close_sockets = await _ws_load(gateway, result, rate, duration, sockets)
    sent_for = time.monotonic() - started
    await _settle(lambda: len(result.routed_ids) >= result.accepted and len(result.acked_ids) >= result.accepted, drain)
    elapsed = time.monotonic() - started
    if close_sockets is not None:  # only now: the last acknowledgements arrive through them
        await close_sockets()
    peak = await sampler.stop()
    cpu_after = {name: cpu_seconds(pid) for name, pid in pids.items()}
    gc_seconds = {name: round(await gateway.metric(name, GC_METRIC) - gc_before[name], 2) for name in gc_before}
    await tail.stop()
    used = {
        name: (cpu_after[name] or 0) - (cpu_before[name] or 0)
        for name in cpu_before
        if cpu_before[name] is not None and cpu_after.get(name) is not None
    }
    cpu = {name: round(seconds / elapsed, 2) for name, seconds in used.items()}
    per_message = {name: round(1000 * seconds / max(result.accepted, 1), 3) for name, seconds in used.items()}
    return {
        "transport": transport,
        "offered_rate": rate,
        "duration_s": duration,
        "sockets": sockets if transport == "ws" else None,
        "offered": result.offered,
        "accepted": result.accepted,
        "accepted_rate": round(result.accepted / sent_for, 1),
        "errors": result.errors,
        "routed": len(result.routed_ids),
        "acknowledged": len(result.acked_ids),
        "not_routed": result.accepted - len(result.routed_ids),
        "not_acknowledged": result.accepted - len(result.acked_ids),
        "latency": {
            "intake_response": result.intake.summary(),
            "intake_to_routed": result.routed.summary(),
            "intake_to_ack": result.acknowledged.summary(),
        },
        "rss_mib_at_rest": at_rest,
        "rss_mib_peak": peak,
        "cpu_cores_used": cpu,  # averaged over the load and the drain
        "cpu_ms_per_message": per_message,  # CPU time over the run per accepted message
        "gc_seconds": gc_seconds,  # of that CPU time, the services' cyclic garbage collector's
    }
