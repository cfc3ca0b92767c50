"""What the fault tests check after a stream: every accepted message routed once and acknowledged once."""

from __future__ import annotations

import collections
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from switchboard_common.events import ACK_RECORDED, CASE_OPENED, CHAT_OUTBOUND, MESSAGE_ROUTED
from switchboard_common.events.models import AckOutcome
from switchboard_common.settings import KafkaSettings
from switchboard_common.topics import TopicNames
from switchboard_devenv.kafka_testing import decode_valid, read_topic

TEXTS = [
    "我的快递已经三天没有更新物流信息了，请帮忙查一下",
    "I was charged twice for my order, please refund the extra payment",
    "我想退货，衣服尺码不对",
    "How do I reset my password? I can't log in",
    "優惠券怎麼用不了？",
    "The app keeps crashing when I open my orders",
    "建议你们增加夜间配送",
    "Where is my parcel? It was supposed to arrive yesterday",
]


def texts(n: int) -> list[str]:
    return [f"{TEXTS[i % len(TEXTS)]} (#{i})" for i in range(n)]


@dataclass
class Outcome:
    routed: collections.Counter[str]
    department_cases: collections.Counter[str]
    acknowledged: collections.Counter[str]
    ack_records: collections.Counter[str]

    def problems(self, expected: set[str]) -> list[str]:
        found = []
        for name, counter in (
            ("routed", self.routed),
            ("department case", self.department_cases),
            ("acknowledgement", self.acknowledged),
            ("ack record", self.ack_records),
        ):
            missing = expected - set(counter)
            twice = [k for k, v in counter.items() if v > 1]
            unexpected = set(counter) - expected
            if missing:
                found.append(f"{len(missing)} without a {name}")
            if twice:
                found.append(f"{len(twice)} with more than one {name}")
            if unexpected:
                found.append(f"{len(unexpected)} unexpected {name}s")
        return found


async def collect(
    kafka: KafkaSettings, names: TopicNames, expected: set[str], timeout: float = 120, outputs_timeout: float = 30
) -> Outcome:
    """Read the pipeline's outputs until every expected message is acknowledged, then a little longer.

    ``outputs_timeout``: how long the routed, department and ack-record topics may take, each, to hold
    every expected message once the acknowledgements are in (a generic acknowledgement can come before
    the message is routed, when routing is slow).
    """

    def all_acked(records: list) -> bool:
        ids = {m.in_reply_to for m in decode_valid(records, CHAT_OUTBOUND)}
        return expected <= ids

    outbound = await read_topic(kafka, names("chat.outbound.v1"), until=all_acked, timeout=timeout, settle=3)
    routed = decode_valid(
        await read_topic(kafka, names("intake.routed.v1"), count=len(expected), timeout=outputs_timeout, settle=1),
        MESSAGE_ROUTED,
    )
    departments = {r.routing.department for r in routed if r.routing.department}
    cases: collections.Counter[str] = collections.Counter()
    for department in sorted(departments):
        want = sum(1 for r in routed if r.routing.department == department)
        records = await read_topic(kafka, names.department(department), count=want, timeout=outputs_timeout, settle=0.5)
        cases.update(c.message_event_id for c in decode_valid(records, CASE_OPENED))
    acks = decode_valid(
        await read_topic(kafka, names("notify.acks.v1"), count=len(expected), timeout=outputs_timeout, settle=1),
        ACK_RECORDED,
    )
    return Outcome(
        routed=collections.Counter(r.message.event_id for r in routed),
        department_cases=cases,
        acknowledged=collections.Counter(m.in_reply_to for m in decode_valid(outbound, CHAT_OUTBOUND)),
        ack_records=collections.Counter(a.message_event_id for a in acks if a.outcome is AckOutcome.SENT),
    )


CONSUMER_METRICS = ("switchboard_consumed_records_total{", "switchboard_consumer_lag_records{")


async def describe_consumers(urls: Mapping[str, str]) -> str:
    """For a failure message: each service's liveness and what its consume loops processed and lag behind."""
    lines = []
    async with httpx.AsyncClient(timeout=5) as client:
        for name, url in urls.items():
            try:
                live = (await client.get(url + "/healthz")).text
                metrics = (await client.get(url + "/metrics")).text
            except httpx.HTTPError as exc:
                lines.append(f"{name}: unreachable ({exc!r})")
                continue
            lines.append(f"{name}: /healthz {live}")
            lines += [f"  {m}" for m in metrics.splitlines() if m.startswith(CONSUMER_METRICS)]
    return "\n".join(lines)
