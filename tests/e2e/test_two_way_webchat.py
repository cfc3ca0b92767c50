"""Two-way web chat, end to end: a customer's case, the team's updates back in the chat, a rating, a
follow-up from a new chat session. Every service runs as its own process on the real broker; the
team's updates are sent with ``switchboard-ops send-update`` as a process, as a department developer
or an operator would.

``test_a_follow_up_from_a_new_chat_session_quoting_the_case_reference_reaches_the_owning_team`` needs
only the dispatcher, the classifier and the intakes as they are on this branch.
``test_updates_reach_the_customers_chat_once_and_in_order_and_the_rating_is_recorded`` also needs the
notifier delivering case.updates.v1 with the satisfaction request, and intake-chat's action frames
for the rating buttons (issue #6, parts 1 to 3).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
import websockets

from switchboard_common.case_reference import parse_case_reference
from switchboard_common.events import CASE_OPENED, CASE_SATISFIED, MESSAGE_ROUTED
from switchboard_common.events.models import CaseLink, MessageKind
from switchboard_common.satisfaction import rating_payload
from switchboard_devenv.kafka_testing import decode_all, read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]

FIRST_MESSAGE = "我的快递已经三天没有更新物流信息了，单号SF1234567890123，请帮忙查一下"


@dataclass
class ChatSession:
    """One customer's chat: a WebSocket whose frames are collected as they come."""

    ws: Any
    welcome: dict[str, Any]
    frames: list[dict[str, Any]] = field(default_factory=list)
    _reader: asyncio.Task[None] | None = None

    @property
    def conversation_id(self) -> str:
        return str(self.welcome["conversation_id"])

    def messages(self, *kinds: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f.get("type") == "message" and (not kinds or f.get("kind") in kinds)]

    async def send(self, frame: dict[str, Any]) -> dict[str, Any]:
        """Send a frame and wait for its ``accepted`` answer."""
        await self.ws.send(json.dumps(frame))
        return await self.wait_for(
            lambda: next((f for f in self.frames if f.get("type") == "accepted" and f.get("id") == frame["id"]), None),
            what=f"acceptance of {frame['id']}",
            timeout=15,
        )

    async def wait_for(self, found: Callable[[], Any], *, what: str, timeout: float = 60) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = found()
            if result:
                return result
            errors = [f for f in self.frames if f.get("type") == "error"]
            assert not errors, errors
            await asyncio.sleep(0.1)
        raise AssertionError(f"no {what} within {timeout}s; frames: {self.frames}")


@contextlib.asynccontextmanager
async def chat_session(ws_url: str) -> AsyncIterator[ChatSession]:
    async with websockets.connect(ws_url) as ws:
        session = ChatSession(ws, json.loads(await ws.recv()))

        async def read() -> None:
            with contextlib.suppress(websockets.ConnectionClosed):
                async for raw in ws:
                    session.frames.append(json.loads(raw))

        session._reader = asyncio.create_task(read())
        try:
            yield session
        finally:
            session._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await session._reader


async def ops(gateway, *argv: str) -> tuple[int, str, str]:
    """``switchboard-ops`` as its own process against the gateway's cluster and topic prefix."""
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": gateway.kafka.bootstrap_servers}
    env["KAFKA_TOPIC_PREFIX"] = gateway.kafka.topic_prefix
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "switchboard_common.ops_cli",
        *argv,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def open_case(gateway, session: ChatSession) -> tuple[str, dict[str, Any]]:
    """The customer's first message, acknowledged, and the logistics team's case; the case reference."""
    await session.send({"type": "message", "id": "first", "text": FIRST_MESSAGE})
    [ack] = await session.wait_for(lambda: session.messages("ack"), what="acknowledgement")
    reference = ack["case_reference"]
    parse_case_reference(reference)
    records = await read_topic(gateway.kafka, gateway.names.department("logistics"), count=1, timeout=60)
    [case] = decode_all(records, CASE_OPENED)
    assert (case.case_reference, case.conversation_id) == (reference, session.conversation_id)
    return reference, ack


async def department_cases(gateway, department: str, count: int, *, settle: float = 0) -> list[Any]:
    """A department's cases in the order they were routed (its topic has several partitions)."""
    records = await read_topic(
        gateway.kafka, gateway.names.department(department), count=count, timeout=60, settle=settle
    )
    return sorted(decode_all(records, CASE_OPENED), key=lambda c: c.routed_at)


async def routed_for(gateway, event_id: str) -> Any:
    records = await read_topic(
        gateway.kafka,
        gateway.names("intake.routed.v1"),
        until=lambda rs: any(r.value and event_id.encode() in r.value for r in rs),
        timeout=60,
    )
    return next(r for r in decode_all(records, MESSAGE_ROUTED) if r.message.event_id == event_id)


async def test_a_follow_up_from_a_new_chat_session_quoting_the_case_reference_reaches_the_owning_team(gateway):
    async with chat_session(gateway.chat_ws) as first_chat:
        reference, _ = await open_case(gateway, first_chat)
        # A bare rating typed in the chat is no request: recorded, no team gets it.
        rated = await first_chat.send({"type": "message", "id": "typed-rating", "text": "5"})
        rating_routed = await routed_for(gateway, rated["event_id"])
        assert rating_routed.routing.department is None
        assert "type:non_actionable:rating-only" in rating_routed.classification.evidence

    # Next day, a new browser: a new chat session. The wording alone would go to billing.
    async with chat_session(gateway.chat_ws) as new_chat:
        assert new_chat.conversation_id != first_chat.conversation_id
        typed = reference.lower().replace("-", " ")
        accepted = await new_chat.send(
            {"type": "message", "id": "follow-up", "text": f"About case {typed}: I was also charged twice, any news?"}
        )

    routed = await routed_for(gateway, accepted["event_id"])
    assert routed.message.thread.quoted_case_references == [reference]
    assert (routed.routing.case_reference, routed.routing.is_follow_up, routed.routing.linked_by) == (
        reference,
        True,
        CaseLink.QUOTED_REFERENCE,
    )
    assert (routed.routing.department, routed.routing.rule) == ("logistics", "follow-up")
    cases = await department_cases(gateway, "logistics", 2, settle=2)
    assert [(c.case_reference, c.conversation_id, c.is_follow_up, c.linked_by) for c in cases] == [
        (reference, first_chat.conversation_id, False, None),
        (reference, new_chat.conversation_id, True, CaseLink.QUOTED_REFERENCE),
    ]
    assert await read_topic(gateway.kafka, gateway.names.department("billing"), timeout=3) == []


async def test_updates_reach_the_customers_chat_once_and_in_order_and_the_rating_is_recorded(gateway):
    async with chat_session(gateway.chat_ws) as chat:
        reference, ack = await open_case(gateway, chat)

        # The logistics team works the case and tells the customer, through case.updates.v1.
        steps = [
            ("--status", "accepted", "--message", "We are on it (A1)."),
            ("--status", "delayed", "--expected-at", "2d", "--message", "The courier is late (D2)."),
            ("--status", "resolved", "--message", "Your parcel was delivered (R3)."),
        ]
        for step in steps:
            code, out, err = await ops(gateway, "send-update", "--case", reference, "--department", "logistics", *step)
            assert code == 0, err
            assert orjson.loads(out)["sent"]["key"] == reference

        # [depends on the notifier's case updates] Each update once, in order, in the chat.
        await chat.wait_for(lambda: len(chat.messages("update")) >= 3, what="three updates")
        # [depends on the notifier's survey and intake-chat's message actions] The rating buttons.
        buttons_frame = await chat.wait_for(
            lambda: next((f for f in chat.messages() if f.get("actions")), None), what="rating buttons"
        )
        await asyncio.sleep(3)  # anything sent twice would have arrived by now
        updates = chat.messages("update")
        tags = [[tag for tag in ("(A1)", "(D2)", "(R3)") if tag in u["text"]] for u in updates]
        assert tags == [["(A1)"], ["(D2)"], ["(R3)"]]
        assert {u["case_reference"] for u in updates} == {reference}
        assert len({u["message_id"] for u in chat.messages()}) == len(chat.messages())  # nothing delivered twice
        assert [a["value"] for a in buttons_frame["actions"]] == [rating_payload(reference, n) for n in range(1, 6)]
        ordered = chat.messages()
        assert ordered.index(buttons_frame) >= ordered.index(updates[-1])  # the request follows "resolved"
        assert ordered[0]["message_id"] == ack["message_id"]

        # [depends on intake-chat's action frames and the notifier's satisfaction answers] The
        # customer presses 5, then changes their mind: the first answer is the one recorded.
        await chat.send({"type": "action", "id": "rate-5", "value": buttons_frame["actions"][4]["value"]})
        ratings = await read_topic(gateway.kafka, gateway.names("case.satisfaction.v1"), count=1, timeout=60)
        await chat.send({"type": "action", "id": "rate-2", "value": buttons_frame["actions"][1]["value"]})
        ratings = await read_topic(gateway.kafka, gateway.names("case.satisfaction.v1"), count=1, timeout=20, settle=5)
        [rating] = decode_all(ratings, CASE_SATISFIED)
        assert (rating.case_reference, rating.score, rating.via, rating.conversation_id) == (
            reference,
            5,
            "button",
            chat.conversation_id,
        )
        routed = await routed_for(gateway, rating.message_event_id)
        assert routed.message.kind is MessageKind.SATISFACTION_RESPONSE
        assert routed.routing.department is None  # an answer to the survey reaches no team

    # A new chat session quoting the case: a follow-up of the same case at the same team.
    async with chat_session(gateway.chat_ws) as new_chat:
        accepted = await new_chat.send({"type": "message", "id": "again", "text": f"{reference} it broke again"})
    follow_up = await routed_for(gateway, accepted["event_id"])
    assert (follow_up.routing.case_reference, follow_up.routing.department, follow_up.routing.linked_by) == (
        reference,
        "logistics",
        CaseLink.QUOTED_REFERENCE,
    )
    cases = await department_cases(gateway, "logistics", 2, settle=3)
    assert [c.is_follow_up for c in cases] == [False, True]  # the rating presses opened nothing

    # The operator's view of the whole case.
    code, out, err = await ops(gateway, "case", reference, "--json")
    assert code == 0, err
    topics = [orjson.loads(line)["topic"] for line in out.splitlines()]
    assert topics[0] == "intake.messages.v1"
    assert topics.count("case.updates.v1") == 3
    assert topics.count("case.satisfaction.v1") == 1
    assert topics.count("dept.logistics.v1") == 2
    assert "notify.updates.v1" in topics
