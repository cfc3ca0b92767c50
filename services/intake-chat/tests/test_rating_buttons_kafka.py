"""Rating buttons pressed on every chat channel, through intake-chat on a real port and the real broker.

Each channel's customer writes a message, then presses a rating button the way the provider reports
it (signed as the provider signs it); intake.messages.v1 must then hold exactly one
satisfaction_response per press, keyed and named by the customer's conversation. Forged, stale and
invalid presses are refused with a 4xx and leave nothing on the topic.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import websockets
from pydantic import SecretStr

from switchboard_common.case_reference import case_reference
from switchboard_common.events import CHAT_OUTBOUND, MESSAGE_RECEIVED, encode_event
from switchboard_common.events.models import (
    AckKind,
    ChatAction,
    ChatOutbound,
    IntakeMessage,
    IntakePosition,
    MessageKind,
)
from switchboard_common.satisfaction import rating_payload
from switchboard_common.settings import KafkaSettings
from switchboard_common.topics import TopicNames
from switchboard_devenv.asgi import running_app
from switchboard_devenv.chat_payloads import (
    messenger_postback,
    messenger_quick_reply,
    messenger_text,
    meta_request,
    slack_block_actions,
    slack_interaction_request,
    slack_message_event,
    slack_request,
    telegram_callback_query_update,
    telegram_request,
    telegram_text_update,
    whatsapp_interactive_reply,
    whatsapp_text,
)
from switchboard_devenv.chat_sim import load_secrets
from switchboard_devenv.chat_sim import main as chat_sim_main
from switchboard_devenv.kafka_testing import decode_all, publish, read_topic
from switchboard_devenv.line_standin import line_signature, postback_event, text_event, webhook_body
from switchboard_intake_chat.app import create_app
from switchboard_intake_chat.providers.line import LineSettings
from switchboard_intake_chat.settings import IntakeChatSettings, WebChatSettings

pytestmark = pytest.mark.kafka

SLACK_SECRET = "slack-signing-secret-for-ratings"
META_SECRET = "meta-app-secret-for-ratings"
TELEGRAM_SECRET = "telegram_rating-Token1"
LINE_SECRET = "line-channel-secret-ratings"
CASE = case_reference(IntakePosition(partition=1, offset=42))


@pytest.fixture
async def chat_url(
    monkeypatch: pytest.MonkeyPatch, kafka_settings: KafkaSettings, kafka_topics: TopicNames
) -> AsyncIterator[str]:
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SLACK_SECRET)
    monkeypatch.setenv("META_APP_SECRET", META_SECRET)
    monkeypatch.setenv("META_VERIFY_TOKEN", "verify")
    monkeypatch.setenv("TELEGRAM_SECRET_TOKEN", TELEGRAM_SECRET)
    monkeypatch.setenv("TELEGRAM_ACCOUNT", "supportbot")
    settings = IntakeChatSettings(
        kafka=kafka_settings,
        webchat=WebChatSettings(session_secret=SecretStr("webchat-secret"), rate_burst=20),
        wechat=None,
        wecom=None,
        line=LineSettings(channel_secret=SecretStr(LINE_SECRET)),
    )
    async with running_app(create_app(settings)) as url:
        async with httpx.AsyncClient() as client:
            for _ in range(300):
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("intake-chat never became ready")
        yield url


async def post(url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(url, content=body, headers=headers)


async def intake(kafka: KafkaSettings, names: TopicNames, expect: int) -> tuple[list[IntakeMessage], list[str]]:
    """Every event on intake.messages.v1 once ``expect`` arrived and nothing more came for 2 s, and their keys."""
    records = await read_topic(
        kafka, names("intake.messages.v1"), count=max(expect, 1), timeout=30 if expect else 3, settle=2.0
    )
    return decode_all(records, MESSAGE_RECEIVED), [r.key.decode() if r.key else "" for r in records]


def line_headers(body: bytes) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Line-Signature": line_signature(LINE_SECRET, body)}


async def test_a_rating_button_pressed_on_each_provider_is_one_answer_in_the_customer_conversation(
    chat_url, kafka_settings, kafka_topics
):
    now = time.time()
    # Each channel: (the customer's message, the press(es)) as (path, body, headers).
    slack_thread = f"{now - 600:.6f}"
    slack = [
        (
            "/v1/slack/events",
            *slack_request(
                SLACK_SECRET,
                slack_message_event(team="T1", channel="D1", user="U7", text="refund please", ts=slack_thread),
            ),
        ),
        (
            "/v1/slack/interactivity",
            *slack_interaction_request(
                SLACK_SECRET,
                slack_block_actions(
                    team="T1",
                    channel="D1",
                    user="U7",
                    value=rating_payload(CASE, 4),
                    message_ts=f"{now - 10:.6f}",
                    thread_ts=slack_thread,
                ),
            ),
        ),
    ]
    whatsapp = [
        (
            "/v1/whatsapp/webhook",
            *meta_request(
                META_SECRET, whatsapp_text(phone_number_id="111", wa_id="8613800138000", text="hi", message_id="w1")
            ),
        ),
        (
            "/v1/whatsapp/webhook",
            *meta_request(
                META_SECRET,
                whatsapp_interactive_reply(
                    phone_number_id="111",
                    wa_id="8613800138000",
                    reply_id=rating_payload(CASE, 5),
                    title="★★★★★",
                    message_id="w2",
                    kind="list_reply",
                ),
            ),
        ),
    ]
    messenger = [
        (
            "/v1/messenger/webhook",
            *meta_request(META_SECRET, messenger_text(page_id="P1", psid="S1", text="hi", mid="m1")),
        ),
        (
            "/v1/messenger/webhook",
            *meta_request(
                META_SECRET,
                messenger_quick_reply(page_id="P1", psid="S1", mid="m2", text="★★★", payload=rating_payload(CASE, 3)),
            ),
        ),
        (
            "/v1/messenger/webhook",
            *meta_request(
                META_SECRET, messenger_postback(page_id="P1", psid="S1", title="2", payload=rating_payload(CASE, 2))
            ),
        ),
    ]
    telegram = [
        (
            "/v1/telegram/webhook",
            *telegram_request(
                TELEGRAM_SECRET, telegram_text_update(update_id=1, chat_id=777, message_id=5, text="parcel?")
            ),
        ),
        (
            "/v1/telegram/webhook",
            *telegram_request(
                TELEGRAM_SECRET,
                telegram_callback_query_update(
                    update_id=2, query_id="cq-1", chat_id=777, message_id=9, data=rating_payload(CASE, 1)
                ),
            ),
        ),
    ]
    line_message = webhook_body([text_event("包裹還沒到", user_id="Ucust")])
    line_press = webhook_body([postback_event(rating_payload(CASE, 4), user_id="Ucust", webhook_event_id="01PB1")])
    line = [
        ("/v1/line/webhook", line_message, line_headers(line_message)),
        ("/v1/line/webhook", line_press, line_headers(line_press)),
        ("/v1/line/webhook", line_press, line_headers(line_press)),  # LINE redelivers: still one answer
    ]
    responses = {}
    for name, steps in (
        ("slack", slack),
        ("whatsapp", whatsapp),
        ("messenger", messenger),
        ("telegram", telegram),
        ("line", line),
    ):
        responses[name] = [await post(f"{chat_url}{path}", body, headers) for path, body, headers in steps]
        assert [r.status_code for r in responses[name]] == [200] * len(steps), (name, responses[name][-1].text)
    # Telegram's press is answered in the webhook's response, so that the app stops its spinner at once.
    assert responses["telegram"][1].json() == {"method": "answerCallbackQuery", "callback_query_id": "cq-1"}

    # Web chat: a message, a press over the WebSocket, a press over HTTP.
    ws_url = chat_url.replace("http", "ws") + "/v1/webchat/ws"
    async with websockets.connect(ws_url) as ws:
        welcome = json.loads(await ws.recv())
        await ws.send(json.dumps({"type": "message", "id": "m1", "text": "Where is my order?"}))
        await ws.send(json.dumps({"type": "action", "id": "act-1", "value": rating_payload(CASE, 5)}))
        frames = [json.loads(await asyncio.wait_for(ws.recv(), 15)) for _ in range(2)]
    assert [(f["type"], f["id"]) for f in frames] == [("accepted", "m1"), ("accepted", "act-1")]
    async with httpx.AsyncClient(timeout=30) as client:
        pressed = await client.post(
            f"{chat_url}/v1/webchat/actions",
            headers={"Authorization": f"Bearer {welcome['session']}"},
            json={"id": "act-2", "value": rating_payload(CASE, 4)},
        )
    assert pressed.status_code == 202, pressed.text
    assert pressed.json()["satisfaction"] == {"case_reference": CASE, "score": 4, "via": "button"}

    # 6 customer messages and 8 presses (the LINE redelivery is the same press).
    events, keys = await intake(kafka_settings, kafka_topics, expect=14)
    assert len(events) == 14, [(e.channel, e.kind) for e in events]
    for event, key in zip(events, keys, strict=True):
        assert key == event.conversation_id
    by_channel: dict[str, list[IntakeMessage]] = {}
    for event in events:
        by_channel.setdefault(event.channel.value, []).append(event)
    expected_scores = {
        "slack": [4],
        "whatsapp": [5],
        "messenger": [3, 2],
        "telegram": [1],
        "line": [4],
        "webchat": [5, 4],
    }
    for channel, scores in expected_scores.items():
        [message, *answers] = by_channel[channel]
        assert message.kind is MessageKind.MESSAGE
        assert [a.kind for a in answers] == [MessageKind.SATISFACTION_RESPONSE] * len(scores), channel
        assert [a.satisfaction.score for a in answers if a.satisfaction] == scores, channel
        assert {a.satisfaction.case_reference for a in answers if a.satisfaction} == {CASE}
        assert {a.conversation_id for a in answers} == {message.conversation_id}, channel
        assert {a.reply_to.address for a in answers} == {message.reply_to.address}, channel
        assert all(a.text.plain.startswith("Rating: ") for a in answers)
    assert by_channel["webchat"][0].conversation_id == welcome["conversation_id"]


async def test_forged_stale_and_invalid_presses_are_refused_and_publish_nothing(chat_url, kafka_settings, kafka_topics):
    press = slack_block_actions(
        team="T1", channel="D1", user="U7", value=rating_payload(CASE, 4), message_ts="1.2", thread_ts="1.1"
    )
    body, headers = slack_interaction_request("not-the-secret", press)
    assert (await post(f"{chat_url}/v1/slack/interactivity", body, headers)).status_code == 401
    body, headers = slack_interaction_request(SLACK_SECRET, press, timestamp=int(time.time()) - 3600)
    stale = await post(f"{chat_url}/v1/slack/interactivity", body, headers)
    assert stale.status_code == 401 and "5 minutes" in stale.json()["detail"]
    body, headers = slack_interaction_request(SLACK_SECRET, press)
    tampered = body.replace(b"sb-rating", b"sb-ratinh")
    assert (await post(f"{chat_url}/v1/slack/interactivity", tampered, headers)).status_code == 401
    update = telegram_callback_query_update(update_id=5, query_id="cq", chat_id=1, message_id=1, data="x")
    body, headers = telegram_request("wrong-token", update)
    assert (await post(f"{chat_url}/v1/telegram/webhook", body, headers)).status_code == 401
    forged_line = webhook_body([postback_event(rating_payload(CASE, 5), user_id="U1")])
    assert (
        await post(f"{chat_url}/v1/line/webhook", forged_line, {"X-Line-Signature": line_signature("x", forged_line)})
    ).status_code == 403
    body, headers = meta_request("wrong", messenger_postback(page_id="P", psid="S", title="5", payload="x"))
    assert (await post(f"{chat_url}/v1/messenger/webhook", body, headers)).status_code == 401

    async with websockets.connect(chat_url.replace("http", "ws") + "/v1/webchat/ws") as ws:
        welcome = json.loads(await ws.recv())
        await ws.send(json.dumps({"type": "action", "id": "a1", "value": f"sb-rating:{CASE}:9"}))
        await ws.send(json.dumps({"type": "action", "id": "a2", "value": "sb-rating:SB-AAA-AAA-AAA:3"}))
        await ws.send(json.dumps({"type": "action", "id": "a3"}))
        frames = [json.loads(await asyncio.wait_for(ws.recv(), 10)) for _ in range(3)]
        await ws.send(json.dumps({"type": "ping"}))  # the socket is still serving
        assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == {"type": "pong"}
    assert [(f["type"], f["code"], f.get("id")) for f in frames] == [
        ("error", "invalid_action", "a1"),
        ("error", "invalid_action", "a2"),
        ("error", "invalid_frame", "a3"),
    ]
    assert all(f["reason"] and f["retryable"] is False for f in frames)
    async with httpx.AsyncClient() as client:
        session = {"Authorization": f"Bearer {welcome['session']}"}
        invalid = await client.post(f"{chat_url}/v1/webchat/actions", headers=session, json={"id": "a4", "value": "5"})
        broken = await client.post(f"{chat_url}/v1/webchat/actions", headers=session, content=b"{nope")
        anonymous = await client.post(
            f"{chat_url}/v1/webchat/actions", json={"id": "a5", "value": rating_payload(CASE, 5)}
        )
    assert (invalid.status_code, invalid.json()["code"]) == (422, "invalid_action")
    assert (broken.status_code, broken.json()["code"]) == (400, "invalid_json")
    assert anonymous.status_code == 401

    events, _ = await intake(kafka_settings, kafka_topics, expect=0)
    assert events == []


async def test_the_chat_page_socket_receives_a_satisfaction_request_with_its_buttons(
    chat_url, kafka_settings, kafka_topics
):
    async with websockets.connect(chat_url.replace("http", "ws") + "/v1/webchat/ws") as ws:
        conversation = json.loads(await ws.recv())["conversation_id"]
        await asyncio.sleep(1.0)  # the relay tails from "now": let the subscription settle
        survey = ChatOutbound(
            message_id="survey-1",
            conversation_id=conversation,
            kind=AckKind.SURVEY,
            text="How satisfied are you?",
            case_reference=CASE,
            sent_at=datetime.now(UTC),
            actions=[ChatAction(label="★" * n, value=rating_payload(CASE, n)) for n in range(1, 6)],
        )
        await publish(
            kafka_settings,
            [
                encode_event(
                    CHAT_OUTBOUND,
                    topic=kafka_topics("chat.outbound.v1"),
                    event_id=survey.message_id,
                    source="test",
                    key=conversation,
                    data=survey,
                )
            ],
        )
        frame = json.loads(await asyncio.wait_for(ws.recv(), 15))
        assert frame["type"] == "message" and frame["kind"] == "survey"
        assert frame["actions"] == [{"label": "★" * n, "value": rating_payload(CASE, n)} for n in range(1, 6)]
        await ws.send(json.dumps({"type": "action", "id": "act-9", "value": frame["actions"][2]["value"]}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 15))["type"] == "accepted"
    events, _ = await intake(kafka_settings, kafka_topics, expect=1)
    [answer] = events
    assert answer.conversation_id == conversation and answer.satisfaction is not None
    assert (answer.satisfaction.score, answer.satisfaction.via) == (3, "button")


async def test_the_chat_simulator_presses_a_rating_button_on_each_provider(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kafka_settings: KafkaSettings, kafka_topics: TopicNames
):
    for name, value in load_secrets(tmp_path, create=True).items():
        monkeypatch.setenv(name, value)
    settings = IntakeChatSettings(
        kafka=kafka_settings, webchat=WebChatSettings(session_secret=SecretStr("s")), wechat=None, wecom=None
    )
    thread = f"{time.time() - 60:.6f}"
    runs = [
        ["slack", "hello", "--thread", thread],
        ["slack", "--rate", "4", "--case", CASE.lower(), "--thread", thread],
        ["whatsapp", "hello"],
        ["whatsapp", "--rate", "3", "--case", CASE, "--list"],
        ["messenger", "hello"],
        ["messenger", "--rate", "2", "--case", CASE, "--postback"],
        ["telegram", "hello"],
        ["telegram", "--rate", "5", "--case", CASE],
        ["line", "hello"],
        ["line", "--rate", "1", "--case", CASE],
    ]
    async with running_app(create_app(settings)) as url:
        async with httpx.AsyncClient() as client:
            for _ in range(300):
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    break
                await asyncio.sleep(0.1)
        common = ["--url", url, "--data", str(tmp_path)]
        statuses = [await asyncio.to_thread(chat_sim_main, [*run, *common]) for run in runs]
        with pytest.raises(SystemExit, match="no buttons"):
            await asyncio.to_thread(chat_sim_main, ["wechat", "--rate", "4", "--case", CASE, *common])
        with pytest.raises(SystemExit, match="check symbol"):
            await asyncio.to_thread(chat_sim_main, ["telegram", "--rate", "4", "--case", "SB-AAA-AAA-AAA", *common])
    assert statuses == [0] * len(runs)
    events, _ = await intake(kafka_settings, kafka_topics, expect=len(runs))
    scores = {"slack": 4, "whatsapp": 3, "messenger": 2, "telegram": 5, "line": 1}
    assert sorted(e.channel.value for e in events) == sorted([*scores, *scores])
    for channel, score in scores.items():  # in order within a conversation (one partition)
        message, answer = (e for e in events if e.channel.value == channel)
        assert message.kind is MessageKind.MESSAGE and answer.kind is MessageKind.SATISFACTION_RESPONSE
        assert answer.conversation_id == message.conversation_id
        assert answer.satisfaction is not None
        assert (answer.satisfaction.case_reference, answer.satisfaction.score) == (CASE, score)
