"""A customer chats; the team's topic holds the routed case and the customer sees the acknowledgement.

Every service runs as its own process against the real broker, as in production.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import jsonschema
import orjson
import pytest
import websockets

from switchboard_common.case_reference import parse_case_reference
from switchboard_common.events import CASE_OPENED, MESSAGE_ROUTED
from switchboard_common.schema_catalog import schema_root
from switchboard_devenv.kafka_testing import decode_all, read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]

SCHEMAS = Path(schema_root()) / "json"


async def chat(ws_url: str, text: str) -> tuple[dict, dict, float]:
    """Send one message on a new chat; return (welcome, acknowledgement frame, seconds to acknowledgement)."""
    async with websockets.connect(ws_url) as ws:
        welcome = json.loads(await ws.recv())
        started = time.monotonic()
        await ws.send(json.dumps({"type": "message", "id": "first", "text": text}))
        accepted = json.loads(await asyncio.wait_for(ws.recv(), 15))
        assert accepted["type"] == "accepted", accepted
        ack = json.loads(await asyncio.wait_for(ws.recv(), 30))
        return welcome, ack, time.monotonic() - started


def validate(schema_file: str, record_value: bytes) -> None:
    schema = orjson.loads((SCHEMAS / schema_file).read_bytes())
    jsonschema.Draft202012Validator(schema).validate(orjson.loads(record_value))


async def test_a_chinese_and_an_english_chat_are_acknowledged_and_reach_their_teams(gateway):
    (zh_welcome, zh_ack, zh_seconds), (en_welcome, en_ack, en_seconds) = await asyncio.gather(
        chat(gateway.chat_ws, "我的快递已经三天没有更新物流信息了，单号SF1234567890123，请帮忙查一下"),
        chat(gateway.chat_ws, "I was charged twice for order A123-4567, please refund the extra $45.99"),
    )

    assert zh_ack["kind"] == "ack" and en_ack["kind"] == "ack"
    assert zh_ack["department"] == "logistics"
    assert en_ack["department"] == "billing"
    assert zh_ack["language"] == "zh-Hans" and "工单号" in zh_ack["text"]
    assert en_ack["language"] == "en" and "Billing team" in en_ack["text"]
    for ack in (zh_ack, en_ack):
        parse_case_reference(ack["case_reference"])
        assert ack["case_reference"] in ack["text"]
    assert zh_seconds < 30 and en_seconds < 30  # the chat SLA; the benchmark reports real latencies

    logistics = await read_topic(gateway.kafka, gateway.names.department("logistics"), count=1, timeout=30)
    billing = await read_topic(gateway.kafka, gateway.names.department("billing"), count=1, timeout=30)
    [zh_case] = decode_all(logistics, CASE_OPENED)
    [en_case] = decode_all(billing, CASE_OPENED)
    assert zh_case.conversation_id == zh_welcome["conversation_id"]
    assert en_case.conversation_id == en_welcome["conversation_id"]
    assert zh_case.case_reference == zh_ack["case_reference"]
    assert en_case.case_reference == en_ack["case_reference"]
    assert zh_case.entities.tracking_numbers == ["SF1234567890123"]
    assert [str(a.amount) for a in en_case.entities.amounts] == ["45.99"]
    validate("switchboard.case.routed.v1.json", logistics[0].value)
    validate("switchboard.case.routed.v1.json", billing[0].value)

    routed = decode_all(
        await read_topic(gateway.kafka, gateway.names("intake.routed.v1"), count=2, timeout=30), MESSAGE_ROUTED
    )
    assert {r.routing.case_reference for r in routed} == {zh_ack["case_reference"], en_ack["case_reference"]}
