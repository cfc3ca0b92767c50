"""intake-chat running on a real port against the real broker: HTTP, WebSocket, outbound delivery, replay."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import jsonschema
import orjson
import pytest
import websockets
from prometheus_client import REGISTRY
from pydantic import SecretStr

from switchboard_common.events import CHAT_OUTBOUND, MESSAGE_RECEIVED, encode_event
from switchboard_common.events.models import AckKind, ChatOutbound
from switchboard_common.schema_catalog import schema_root
from switchboard_common.settings import ConsumerSettings, KafkaSettings
from switchboard_common.topics import TopicNames
from switchboard_devenv.asgi import running_app
from switchboard_devenv.kafka_testing import decode_all, publish, read_topic
from switchboard_devenv.processes import free_port
from switchboard_intake_chat.app import create_app
from switchboard_intake_chat.outbound import OutboundRelay
from switchboard_intake_chat.settings import IntakeChatSettings, WebChatSettings

pytestmark = pytest.mark.kafka


def settings_for(kafka: KafkaSettings, **webchat) -> IntakeChatSettings:
    return IntakeChatSettings(
        kafka=kafka, webchat=WebChatSettings(session_secret=SecretStr("integration-secret"), **webchat)
    )


async def ready(url: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(150):
            if (await client.get(f"{url}/readyz")).status_code == 200:
                return
            await asyncio.sleep(0.1)
    raise AssertionError("intake-chat never became ready")


@pytest.fixture
async def chat_url(kafka_settings: KafkaSettings, kafka_topics: TopicNames) -> AsyncIterator[str]:
    async with running_app(create_app(settings_for(kafka_settings, rate_burst=5))) as url:
        await ready(url)
        yield url


async def new_session(client: httpx.AsyncClient, url: str) -> dict[str, str]:
    response = await client.post(f"{url}/v1/webchat/sessions")
    assert response.status_code == 201
    return response.json()


def outbound(conversation: str, n: int) -> ChatOutbound:
    return ChatOutbound(
        message_id=f"out-{conversation}-{n}",
        conversation_id=conversation,
        kind=AckKind.REPLY,
        text=f"reply {n}",
        case_reference="SB-TST-REF-001",
        sent_at=datetime.now(UTC),
    )


async def send_outbound(kafka: KafkaSettings, names: TopicNames, message: ChatOutbound) -> None:
    await publish(
        kafka,
        [
            encode_event(
                CHAT_OUTBOUND,
                topic=names("chat.outbound.v1"),
                event_id=message.message_id,
                source="test",
                key=message.conversation_id,
                data=message,
            )
        ],
    )


async def test_a_message_sent_over_http_is_on_the_intake_topic_when_it_is_accepted(
    chat_url, kafka_settings, kafka_topics
):
    async with httpx.AsyncClient() as client:
        session = await new_session(client, chat_url)
        response = await client.post(
            f"{chat_url}/v1/webchat/messages",
            headers={"Authorization": f"Bearer {session['session']}", "Accept-Language": "zh-CN"},
            json={"type": "message", "id": "c-1", "text": "我的订单还没到"},
        )
    assert response.status_code == 202
    accepted = response.json()
    records = await read_topic(kafka_settings, kafka_topics("intake.messages.v1"), count=1)
    [event] = decode_all(records, MESSAGE_RECEIVED)
    assert event.event_id == accepted["event_id"]
    assert event.conversation_id == session["conversation_id"] == records[0].key.decode()
    assert event.text.plain == "我的订单还没到"
    assert event.language_hint == "zh-Hans"
    schema = orjson.loads((Path(schema_root()) / "json" / "switchboard.message.received.v1.json").read_bytes())
    jsonschema.Draft202012Validator(schema).validate(orjson.loads(records[0].value))


@pytest.mark.parametrize(
    ("headers", "body", "status", "code"),
    [
        ({}, {"id": "a", "text": "x"}, 401, None),
        ({"Authorization": "Bearer wc_forged.1.AAAA"}, {"id": "a", "text": "x"}, 401, None),
        (None, b"{broken", 400, "invalid_json"),
        (None, {"id": "a", "text": "x", "unexpected": True}, 422, "invalid_frame"),
        (None, {"id": "a", "text": "x" * 5000}, 413, None),
    ],
)
async def test_bad_requests_get_a_clear_client_error(chat_url, headers, body, status, code):
    async with httpx.AsyncClient() as client:
        session = await new_session(client, chat_url)
        sent_headers = {"Authorization": f"Bearer {session['session']}"} if headers is None else headers
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        response = await client.post(f"{chat_url}/v1/webchat/messages", headers=sent_headers, content=content)
    assert response.status_code == status
    if code:
        assert response.json()["code"] == code
        assert response.json()["reason"]


async def test_a_session_sending_faster_than_its_limit_is_told_to_wait(kafka_settings, kafka_topics):
    # A refill rate this low keeps the test independent of how slowly a busy machine runs it.
    app = create_app(settings_for(kafka_settings, rate_burst=5, rate_per_second=0.001))
    async with running_app(app) as chat_url, httpx.AsyncClient() as client:
        await ready(chat_url)
        session = await new_session(client, chat_url)
        headers = {"Authorization": f"Bearer {session['session']}"}
        statuses = [
            (await client.post(f"{chat_url}/v1/webchat/messages", headers=headers, json={"id": f"m{i}", "text": "hi"}))
            for i in range(7)
        ]
    assert [r.status_code for r in statuses[:5]] == [202] * 5
    assert statuses[5].status_code == 429
    assert statuses[5].json()["code"] == "rate_limited"
    assert int(statuses[5].headers["Retry-After"]) >= 1
    assert statuses[6].status_code == 429


async def test_over_the_websocket_messages_are_confirmed_and_bad_frames_answered_without_closing(chat_url):
    async with websockets.connect(chat_url.replace("http", "ws") + "/v1/webchat/ws") as ws:
        welcome = json.loads(await ws.recv())
        assert welcome["type"] == "welcome" and welcome["conversation_id"].startswith("wc_")
        await ws.send("{nope")
        await ws.send(json.dumps({"type": "message", "id": "m1", "text": "hello", "extra": 1}))
        await ws.send(b"\x00binary")
        await ws.send(json.dumps({"type": "ping"}))
        await ws.send(json.dumps({"type": "message", "id": "m2", "text": "Where is my order?"}))
        frames = [json.loads(await asyncio.wait_for(ws.recv(), 10)) for _ in range(5)]
    assert [f.get("code", f["type"]) for f in frames] == [
        "invalid_json",
        "invalid_frame",
        "binary_not_supported",
        "pong",
        "accepted",
    ]
    assert frames[1]["id"] == "m1"
    assert frames[4]["id"] == "m2"


async def test_a_frame_far_over_the_limit_closes_the_socket_with_message_too_big(kafka_settings, kafka_topics):
    app = create_app(settings_for(kafka_settings, max_frame_bytes=1024))
    async with running_app(app, ws_max_bytes=4096) as url:
        await ready(url)
        async with websockets.connect(url.replace("http", "ws") + "/v1/webchat/ws", max_size=None) as ws:
            await ws.recv()
            await ws.send(json.dumps({"type": "message", "id": "m", "text": "x" * 2000}))
            assert json.loads(await ws.recv())["code"] == "frame_too_large"
            await ws.send("x" * 10_000)
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd.code == 1009


async def test_outbound_messages_reach_the_open_socket_of_their_conversation_only(
    chat_url, kafka_settings, kafka_topics
):
    ws_url = chat_url.replace("http", "ws") + "/v1/webchat/ws"
    async with websockets.connect(ws_url) as mine, websockets.connect(ws_url) as other:
        conversation = json.loads(await mine.recv())["conversation_id"]
        await other.recv()
        await send_outbound(kafka_settings, kafka_topics, outbound(conversation, 1))
        frame = json.loads(await asyncio.wait_for(mine.recv(), 15))
        assert (frame["type"], frame["text"], frame["case_reference"]) == ("message", "reply 1", "SB-TST-REF-001")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(other.recv(), 1.5)


async def test_the_outbound_tail_fetches_in_batches_and_still_delivers_a_lone_message(kafka_settings, kafka_topics):
    # The tail asks the broker to wait for a batch (fewer fetches to answer under load); a single
    # message still arrives, after at most the wait. A replay reads at once.
    relay = OutboundRelay(
        kafka_settings, kafka_topics, tail_fetch=ConsumerSettings(fetch_min_bytes=64 * 1024).fetch_kwargs()
    )
    await relay.start()
    try:
        assert relay._tail is not None and relay._reader is not None
        assert (relay._tail._fetch_min_bytes, relay._tail._fetch_max_wait_ms) == (64 * 1024, 50)
        assert relay._reader._fetch_min_bytes == 1
        subscription = relay.subscribe("wc_lone")
        await send_outbound(kafka_settings, kafka_topics, outbound("wc_lone", 1))
        item = await asyncio.wait_for(subscription.queue.get(), 15)
        assert item.message.message_id == "out-wc_lone-1"
    finally:
        await relay.stop()


async def test_a_client_reconnecting_to_another_replica_gets_what_it_missed_and_nothing_twice(
    kafka_settings, kafka_topics
):
    first_app = create_app(settings_for(kafka_settings))
    second_app = create_app(settings_for(kafka_settings))
    async with running_app(first_app) as first, running_app(second_app, port=free_port()) as second:
        await ready(first)
        await ready(second)
        async with websockets.connect(first.replace("http", "ws") + "/v1/webchat/ws") as ws:
            welcome = json.loads(await ws.recv())
            await send_outbound(kafka_settings, kafka_topics, outbound(welcome["conversation_id"], 1))
            seen = json.loads(await asyncio.wait_for(ws.recv(), 15))
        for n in (2, 3):
            await send_outbound(kafka_settings, kafka_topics, outbound(welcome["conversation_id"], n))
        query = f"?session={welcome['session']}&after={seen['cursor']}"
        async with websockets.connect(second.replace("http", "ws") + "/v1/webchat/ws" + query) as ws:
            assert json.loads(await ws.recv())["conversation_id"] == welcome["conversation_id"]
            replayed = [json.loads(await asyncio.wait_for(ws.recv(), 15)) for _ in range(2)]
            await send_outbound(kafka_settings, kafka_topics, outbound(welcome["conversation_id"], 4))
            live = json.loads(await asyncio.wait_for(ws.recv(), 15))
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(ws.recv(), 1.0)
    assert [f["text"] for f in replayed] == ["reply 2", "reply 3"]
    assert live["text"] == "reply 4"


async def test_http_clients_catch_up_with_a_cursor(chat_url, kafka_settings, kafka_topics):
    async with httpx.AsyncClient() as client:
        session = await new_session(client, chat_url)
        for n in (1, 2):
            await send_outbound(kafka_settings, kafka_topics, outbound(session["conversation_id"], n))
        headers = {"Authorization": f"Bearer {session['session']}"}
        everything = (await client.get(f"{chat_url}/v1/webchat/messages", headers=headers)).json()
        cursor = everything["messages"][0]["cursor"]
        rest = (await client.get(f"{chat_url}/v1/webchat/messages", headers=headers, params={"after": cursor})).json()
    assert [m["text"] for m in everything["messages"]] == ["reply 1", "reply 2"]
    assert [m["text"] for m in rest["messages"]] == ["reply 2"]


async def test_a_forged_session_on_the_socket_is_refused(chat_url):
    async with websockets.connect(chat_url.replace("http", "ws") + "/v1/webchat/ws?session=wc_x.1.abc") as ws:
        error = json.loads(await ws.recv())
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert error["code"] == "invalid_session"
    assert closed.value.rcvd.code == 4401


async def test_without_kafka_a_message_is_refused_with_a_retryable_503(kafka_topics):
    unreachable = KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}", send_timeout_s=1.0)
    counted_before = REGISTRY.get_sample_value("switchboard_intake_unavailable_total") or 0.0
    async with running_app(create_app(settings_for(unreachable))) as url, httpx.AsyncClient() as client:
        assert (await client.get(f"{url}/readyz")).status_code == 503
        session = await new_session(client, url)
        response = await client.post(
            f"{url}/v1/webchat/messages",
            headers={"Authorization": f"Bearer {session['session']}"},
            json={"id": "a", "text": "hello"},
        )
        async with websockets.connect(url.replace("http", "ws") + "/v1/webchat/ws") as ws:
            assert json.loads(await ws.recv())["type"] == "welcome"
            await ws.send(json.dumps({"type": "message", "id": "b", "text": "hello"}))
            refused = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert response.json()["retryable"] is True
    assert refused["code"] == "unavailable" and refused["id"] == "b"
    # Both answers are counted (the log has only a warning per 10 s of them).
    assert REGISTRY.get_sample_value("switchboard_intake_unavailable_total") == counted_before + 2


async def test_a_resumed_socket_is_accepting_messages_while_its_replay_is_still_reading(
    kafka_settings, kafka_topics, monkeypatch
):
    from switchboard_intake_chat.outbound import OutboundRelay

    replay_started = asyncio.Event()
    release = asyncio.Event()
    original = OutboundRelay.replay

    async def slow_replay(self, *args, **kwargs):
        replay_started.set()
        await release.wait()
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(OutboundRelay, "replay", slow_replay)
    async with running_app(create_app(settings_for(kafka_settings))) as url:
        await ready(url)
        ws_url = url.replace("http", "ws") + "/v1/webchat/ws"
        async with websockets.connect(ws_url) as ws:
            welcome = json.loads(await ws.recv())
        assert not replay_started.is_set(), "a new session has nothing to replay"
        await send_outbound(kafka_settings, kafka_topics, outbound(welcome["conversation_id"], 1))
        async with websockets.connect(f"{ws_url}?session={welcome['session']}") as ws:
            await ws.recv()  # welcome
            await asyncio.wait_for(replay_started.wait(), 10)
            await ws.send(json.dumps({"type": "message", "id": "while-replaying", "text": "still there?"}))
            accepted = json.loads(await asyncio.wait_for(ws.recv(), 15))
            assert (accepted["type"], accepted["id"]) == ("accepted", "while-replaying")
            release.set()
            replayed = json.loads(await asyncio.wait_for(ws.recv(), 15))
    assert replayed["text"] == "reply 1"


async def test_the_outbound_tail_outlives_an_unexpected_error_from_the_client(kafka_settings, kafka_topics):
    relay = OutboundRelay(kafka_settings, kafka_topics)
    await relay.start()
    try:
        assert relay._tail is not None
        tail = relay._tail
        real_getmany = tail.getmany
        failures = {"left": 1}

        async def getmany(*args, **kwargs):
            if failures["left"]:
                failures["left"] -= 1
                raise AssertionError("Did we not perform bootstrap?")
            return await real_getmany(*args, **kwargs)

        tail.getmany = getmany  # type: ignore[method-assign]
        subscription = relay.subscribe("wc_odd")
        await send_outbound(kafka_settings, kafka_topics, outbound("wc_odd", 1))
        item = await asyncio.wait_for(subscription.queue.get(), 15)
        assert item.message.message_id == "out-wc_odd-1"
        assert failures["left"] == 0
        assert relay.is_ready()
    finally:
        await relay.stop()
