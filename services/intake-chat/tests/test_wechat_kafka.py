"""WeChat and WeCom callbacks posted, signed and encrypted as WeChat does, to intake-chat on a real port and broker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from pydantic import SecretStr

from switchboard_common.events import MESSAGE_RECEIVED
from switchboard_common.events.models import Channel, IntakeMessage
from switchboard_common.settings import KafkaSettings
from switchboard_common.topics import TopicNames
from switchboard_devenv.asgi import running_app
from switchboard_devenv.kafka_testing import decode_all, read_topic
from switchboard_devenv.processes import free_port
from switchboard_devenv.wechat_standin import (
    WeChatApiState,
    encrypt,
    encrypted_request,
    kf_notification,
    new_encoding_aes_key,
    plain_request,
    push_xml,
    sign,
    text_push,
    wechat_api,
)
from switchboard_intake_chat.app import create_app
from switchboard_intake_chat.providers.wechat import WeChatSettings, WeComSettings
from switchboard_intake_chat.settings import IntakeChatSettings, WebChatSettings

pytestmark = pytest.mark.kafka

TOKEN, APP_ID, CORP_ID = "wechat-token", "wx-test-app", "ww-test-corp"


@dataclass
class Keys:
    wechat: str
    wecom: str


@pytest.fixture
def keys() -> Keys:
    return Keys(new_encoding_aes_key(), new_encoding_aes_key())


def settings_for(kafka: KafkaSettings, **providers) -> IntakeChatSettings:
    return IntakeChatSettings(
        kafka=kafka,
        webchat=WebChatSettings(session_secret=SecretStr("s")),
        wechat=providers.get("wechat"),
        wecom=providers.get("wecom"),
        line=None,
    )


async def ready(url: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(150):
            if (await client.get(f"{url}/readyz")).status_code == 200:
                return
            await asyncio.sleep(0.1)
    raise AssertionError("intake-chat never became ready")


@pytest.fixture
async def plain_url(kafka_settings: KafkaSettings, kafka_topics: TopicNames) -> AsyncIterator[str]:
    wechat = WeChatSettings(token=SecretStr(TOKEN), app_id=APP_ID)
    async with running_app(create_app(settings_for(kafka_settings, wechat=wechat))) as url:
        await ready(url)
        yield url


@pytest.fixture
async def wechat_api_url() -> AsyncIterator[tuple[str, WeChatApiState]]:
    state = WeChatApiState()
    async with running_app(wechat_api(state, corp_secret="kf-secret")) as url:
        yield url, state


@pytest.fixture
async def safe_url(
    kafka_settings: KafkaSettings, kafka_topics: TopicNames, keys: Keys, wechat_api_url
) -> AsyncIterator[str]:
    wechat = WeChatSettings(token=SecretStr(TOKEN), app_id=APP_ID, encoding_aes_key=SecretStr(keys.wechat))
    wecom = WeComSettings(
        token=SecretStr(TOKEN),
        corp_id=CORP_ID,
        encoding_aes_key=SecretStr(keys.wecom),
        secret=SecretStr("kf-secret"),
        api_base_url=wechat_api_url[0],
    )
    async with running_app(create_app(settings_for(kafka_settings, wechat=wechat, wecom=wecom))) as url:
        await ready(url)
        yield url


async def post(url: str, path: str, request) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.post(
            f"{url}{path}", params=request.params, content=request.body, headers={"Content-Type": "text/xml"}
        )


async def intake(
    kafka: KafkaSettings, names: TopicNames, *, count: int | None = None, settle: float = 0.0, timeout: float = 20.0
) -> list[IntakeMessage]:
    records = await read_topic(kafka, names("intake.messages.v1"), count=count, settle=settle, timeout=timeout)
    return decode_all(records, MESSAGE_RECEIVED)


async def test_the_url_verification_echoes_echostr_when_the_signature_matches(plain_url):
    async with httpx.AsyncClient() as client:
        good = await client.get(
            f"{plain_url}/v1/wechat/callback",
            params={
                "signature": sign(TOKEN, "1700000000", "42"),
                "timestamp": "1700000000",
                "nonce": "42",
                "echostr": "7007211687744363958",
            },
        )
        bad = await client.get(
            f"{plain_url}/v1/wechat/callback",
            params={
                "signature": sign("wrong", "1700000000", "42"),
                "timestamp": "1700000000",
                "nonce": "42",
                "echostr": "7007211687744363958",
            },
        )
    assert (good.status_code, good.text) == (200, "7007211687744363958")
    assert bad.status_code == 403


async def test_a_plain_text_push_is_published_once_and_answered_success(plain_url, kafka_settings, kafka_topics):
    response = await post(
        plain_url,
        "/v1/wechat/callback",
        plain_request(TOKEN, text_push("我的快递三天没更新了", openid="o-cust-1", msg_id=101)),
    )
    assert (response.status_code, response.text) == (200, "success")
    [message] = await intake(kafka_settings, kafka_topics, count=1)
    assert message.channel is Channel.WECHAT and message.channel_account == APP_ID
    assert message.text.plain == "我的快递三天没更新了"
    assert message.reply_to.address == "o-cust-1"


async def test_wechat_retries_of_one_msgid_give_one_event(plain_url, kafka_settings, kafka_topics):
    xml = text_push("退款什么时候到账？", openid="o-cust-2", msg_id=202)
    answers = await asyncio.gather(
        *(post(plain_url, "/v1/wechat/callback", plain_request(TOKEN, xml)) for _ in range(3))
    )
    again = await post(plain_url, "/v1/wechat/callback", plain_request(TOKEN, xml))
    assert [a.text for a in [*answers, again]] == ["success"] * 4
    messages = await intake(kafka_settings, kafka_topics, count=1, settle=3.0)
    assert len(messages) == 1


async def test_a_wrong_signature_is_refused_and_nothing_is_recorded(plain_url, kafka_settings, kafka_topics):
    request = plain_request("not-the-token", text_push("hello", openid="o-x", msg_id=303))
    response = await post(plain_url, "/v1/wechat/callback", request)
    assert response.status_code == 403
    assert await intake(kafka_settings, kafka_topics, timeout=3.0) == []


async def test_unknown_types_and_events_are_answered_success_and_counted(plain_url, kafka_settings, kafka_topics):
    unknown = push_xml({"FromUserName": "o-u", "CreateTime": 1, "MsgType": "hologram", "MsgId": 404})
    subscribe = push_xml({"FromUserName": "o-u", "CreateTime": 2, "MsgType": "event", "Event": "subscribe"})
    for xml in (unknown, subscribe):
        response = await post(plain_url, "/v1/wechat/callback", plain_request(TOKEN, xml))
        assert (response.status_code, response.text) == (200, "success")
    async with httpx.AsyncClient() as client:
        metrics = (await client.get(f"{plain_url}/metrics")).text
    assert 'switchboard_intake_webhook_events_total{channel="wechat",outcome="unknown_type"}' in metrics
    assert 'switchboard_intake_webhook_events_total{channel="wechat",outcome="platform_notice"}' in metrics
    assert await intake(kafka_settings, kafka_topics, timeout=3.0) == []


async def test_an_encrypted_push_is_decrypted_and_published(safe_url, keys, kafka_settings, kafka_topics):
    xml = text_push("I was charged twice for order A123-4567", openid="o-cust-3", msg_id=505)
    response = await post(safe_url, "/v1/wechat/callback", encrypted_request(TOKEN, keys.wechat, APP_ID, xml))
    assert (response.status_code, response.text) == (200, "success")
    [message] = await intake(kafka_settings, kafka_topics, count=1)
    assert message.text.plain == "I was charged twice for order A123-4567"


async def test_an_encrypted_push_for_another_app_or_with_a_bad_msg_signature_is_refused(
    safe_url, keys, kafka_settings, kafka_topics
):
    xml = text_push("hello", openid="o-cust-4", msg_id=606)
    other_app = await post(safe_url, "/v1/wechat/callback", encrypted_request(TOKEN, keys.wechat, "wx-other", xml))
    tampered = encrypted_request(TOKEN, keys.wechat, APP_ID, xml)
    tampered.params["msg_signature"] = sign(TOKEN, "1", "2", "other")
    bad_signature = await post(safe_url, "/v1/wechat/callback", tampered)
    assert other_app.status_code == 400
    assert bad_signature.status_code == 403
    assert await intake(kafka_settings, kafka_topics, timeout=3.0) == []


async def test_an_account_with_an_aes_key_refuses_plain_pushes(safe_url, kafka_settings, kafka_topics):
    response = await post(safe_url, "/v1/wechat/callback", plain_request(TOKEN, text_push("hi", openid="o-5")))
    assert response.status_code == 403


async def test_the_encrypted_url_verification_answers_the_decrypted_echostr(safe_url, keys):
    echostr = encrypt(keys.wecom, b"1616140317555161061", CORP_ID)
    params = {
        "msg_signature": sign(TOKEN, "1700000000", "7", echostr),
        "timestamp": "1700000000",
        "nonce": "7",
        "echostr": echostr,
    }
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{safe_url}/v1/wecom/callback", params=params)
    assert (response.status_code, response.text) == (200, "1616140317555161061")


async def test_a_wecom_kf_notification_pulls_the_customers_messages_once(
    safe_url, keys, wechat_api_url, kafka_settings, kafka_topics
):
    _, api = wechat_api_url
    for n, text in enumerate(["你好", "订单SB123什么时候发货？"]):
        api.queue_kf_message(
            {
                "msgid": f"m{n}",
                "open_kfid": "wk-1",
                "external_userid": "wm-cust",
                "send_time": 1,
                "origin": 3,
                "msgtype": "text",
                "text": {"content": text},
            }
        )
    api.queue_kf_message(
        {
            "msgid": "e1",
            "open_kfid": "wk-1",
            "send_time": 1,
            "origin": 4,
            "msgtype": "event",
            "event": {"event_type": "enter_session"},
        }
    )
    notification = encrypted_request(
        TOKEN, keys.wecom, CORP_ID, kf_notification(CORP_ID, "sync-token", "wk-1"), wecom=True
    )
    first = await post(safe_url, "/v1/wecom/callback", notification)
    api.expire_tokens()  # the next pull must fetch a new access token
    second = await post(safe_url, "/v1/wecom/callback", notification)
    assert (first.text, second.text) == ("success", "success")
    messages = await intake(kafka_settings, kafka_topics, count=2, settle=2.0)
    assert [m.text.plain for m in messages] == ["你好", "订单SB123什么时候发货？"]
    assert {m.reply_to.metadata["open_kfid"] for m in messages} == {"wk-1"}
    assert [call.get("cursor") for call in api.kf_sync_calls] == [None, "3"]
    assert api.kf_sync_calls[0]["token"] == "sync-token"
    assert len(api.tokens_issued) == 2


async def test_wechat_is_off_without_its_token(kafka_settings, kafka_topics):
    async with running_app(create_app(settings_for(kafka_settings))) as url, httpx.AsyncClient() as client:
        assert (await client.post(f"{url}/v1/wechat/callback", content=b"<xml/>")).status_code == 404
        assert (await client.get(f"{url}/v1/wecom/callback")).status_code == 404


async def test_kafka_unavailable_answers_503_so_that_wechat_retries():
    dead = KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}", send_timeout_s=1.0)
    wechat = WeChatSettings(token=SecretStr(TOKEN), app_id=APP_ID)
    async with running_app(create_app(settings_for(dead, wechat=wechat))) as url:
        response = await post(url, "/v1/wechat/callback", plain_request(TOKEN, text_push("hi", openid="o-6")))
    assert response.status_code == 503
    assert response.headers["retry-after"]
