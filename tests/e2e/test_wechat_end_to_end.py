"""A WeChat customer writes to the Official Account or to WeCom customer service; the team's topic gets the case
and the customer gets one acknowledgement through WeChat's API (a local stand-in), across every service as a process.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from switchboard_common.case_reference import find_case_references
from switchboard_common.events import ACK_RECORDED, CASE_OPENED
from switchboard_common.events.models import AckOutcome, Channel
from switchboard_devenv.asgi import running_app
from switchboard_devenv.kafka_testing import decode_all, read_topic
from switchboard_devenv.wechat_standin import (
    WeChatApiState,
    encrypted_request,
    kf_notification,
    new_encoding_aes_key,
    text_push,
    wechat_api,
)

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]

TOKEN, APP_ID, CORP_ID = "e2e-wechat-token", "wx-e2e-app", "ww-e2e-corp"
WECHAT_KEY, WECOM_KEY = new_encoding_aes_key(), new_encoding_aes_key()


@pytest.fixture
async def wechat_standin() -> AsyncIterator[tuple[str, WeChatApiState]]:
    state = WeChatApiState()
    async with running_app(wechat_api(state, app_secret="e2e-app-secret", corp_secret="e2e-kf-secret")) as url:
        yield url, state


@pytest.fixture
def gateway_extra_env(wechat_standin) -> dict[str, str]:
    url, _ = wechat_standin
    return {
        "WECHAT_TOKEN": TOKEN,
        "WECHAT_APP_ID": APP_ID,
        "WECHAT_ENCODING_AES_KEY": WECHAT_KEY,
        "WECHAT_APP_SECRET": "e2e-app-secret",
        "WECHAT_API_BASE_URL": url,
        "WECOM_TOKEN": TOKEN,
        "WECOM_CORP_ID": CORP_ID,
        "WECOM_ENCODING_AES_KEY": WECOM_KEY,
        "WECOM_SECRET": "e2e-kf-secret",
        "WECOM_API_BASE_URL": url,
    }


async def post(url: str, request) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(url, params=request.params, content=request.body)


async def sent(state: WeChatApiState, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
    async with asyncio.timeout(timeout):
        while len(state.sent) < count:
            await asyncio.sleep(0.1)
    return state.sent


async def test_an_official_account_message_reaches_logistics_and_is_acknowledged_once(gateway, wechat_standin):
    _, api = wechat_standin
    push = text_push("我的快递已经三天没有更新物流信息了，单号SF1234567890123", openid="o-e2e-customer", msg_id=9001)
    first = await post(f"{gateway.chat_url}/v1/wechat/callback", encrypted_request(TOKEN, WECHAT_KEY, APP_ID, push))
    assert (first.status_code, first.text) == (200, "success")

    [ack] = await sent(api, 1)
    # WeChat retries a push it thinks went unanswered: the customer still gets one acknowledgement.
    retry = await post(f"{gateway.chat_url}/v1/wechat/callback", encrypted_request(TOKEN, WECHAT_KEY, APP_ID, push))
    assert retry.text == "success"
    assert ack["api"] == "message/custom/send" and ack["body"]["touser"] == "o-e2e-customer"
    text = ack["body"]["text"]["content"]
    assert "工单号" in text and "物流" in text

    [case] = decode_all(
        await read_topic(gateway.kafka, gateway.names.department("logistics"), count=1, timeout=30), CASE_OPENED
    )
    assert case.channel is Channel.WECHAT
    assert find_case_references(text) == [case.case_reference]
    [record] = decode_all(
        await read_topic(gateway.kafka, gateway.names("notify.acks.v1"), count=1, timeout=30, settle=5.0),
        ACK_RECORDED,
    )
    assert (record.outcome, record.sla_met) == (AckOutcome.SENT, True)
    assert len(api.sent) == 1


async def test_a_wecom_customer_service_message_is_pulled_routed_and_answered_on_kf(gateway, wechat_standin):
    _, api = wechat_standin
    api.queue_kf_message(
        {
            "msgid": "kf-msg-1",
            "open_kfid": "wk-e2e",
            "external_userid": "wm-e2e-customer",
            "send_time": 1_700_000_000,
            "origin": 3,
            "msgtype": "text",
            "text": {"content": "I was charged twice for order A123-4567, please refund the extra $45.99"},
        }
    )
    notification = encrypted_request(
        TOKEN, WECOM_KEY, CORP_ID, kf_notification(CORP_ID, "kf-sync-token", "wk-e2e"), wecom=True
    )
    response = await post(f"{gateway.chat_url}/v1/wecom/callback", notification)
    assert (response.status_code, response.text) == (200, "success")

    [ack] = await sent(api, 1)
    assert ack["api"] == "kf/send_msg"
    assert (ack["body"]["touser"], ack["body"]["open_kfid"]) == ("wm-e2e-customer", "wk-e2e")
    assert "Billing team" in ack["body"]["text"]["content"]
    [case] = decode_all(
        await read_topic(gateway.kafka, gateway.names.department("billing"), count=1, timeout=30), CASE_OPENED
    )
    assert case.channel is Channel.WECOM
    assert case.case_reference in ack["body"]["text"]["content"]
