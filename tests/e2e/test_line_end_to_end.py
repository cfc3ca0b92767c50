"""A LINE customer writes in traditional Chinese; the team's topic gets the case and the customer gets one
acknowledgement in traditional Chinese through LINE's reply API (a local stand-in), every service a process.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from switchboard_common.events import CASE_OPENED
from switchboard_common.events.models import Channel, Language
from switchboard_devenv.asgi import running_app
from switchboard_devenv.kafka_testing import decode_all, read_topic
from switchboard_devenv.line_standin import LineApiState, line_api, line_signature, text_event, webhook_body

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]

SECRET, ACCESS_TOKEN = "e2e-line-secret", "e2e-line-access-token"


@pytest.fixture
async def line_standin() -> AsyncIterator[tuple[str, LineApiState]]:
    state = LineApiState(access_token=ACCESS_TOKEN)
    async with running_app(line_api(state)) as url:
        yield url, state


@pytest.fixture
def gateway_extra_env(line_standin) -> dict[str, str]:
    url, _ = line_standin
    return {"LINE_CHANNEL_SECRET": SECRET, "LINE_CHANNEL_ACCESS_TOKEN": ACCESS_TOKEN, "LINE_API_BASE_URL": url}


async def test_a_line_message_reaches_its_team_and_is_answered_in_traditional_chinese(gateway, line_standin):
    _, api = line_standin
    event = text_event(
        "我的包裹已經三天沒有更新物流資訊了，單號SF1234567890123，請幫忙查一下",
        user_id="Ue2ecustomer",
        reply_token=api.new_reply_token(),
    )
    async with httpx.AsyncClient(timeout=10) as client:
        for redelivery in (False, True):  # LINE redelivers with the same webhookEventId
            event["deliveryContext"] = {"isRedelivery": redelivery}
            body = webhook_body([event])
            response = await client.post(
                f"{gateway.chat_url}/v1/line/webhook",
                content=body,
                headers={"X-Line-Signature": line_signature(SECRET, body), "Content-Type": "application/json"},
            )
            assert response.status_code == 200

    async with asyncio.timeout(30):
        while not api.sent:
            await asyncio.sleep(0.1)
    [case] = decode_all(
        await read_topic(gateway.kafka, gateway.names.department("logistics"), count=1, timeout=30), CASE_OPENED
    )
    await asyncio.sleep(5)  # time for a duplicate acknowledgement to show up, if there were one
    [ack] = api.sent
    assert ack["api"] == "reply"
    text = ack["body"]["messages"][0]["text"]
    assert "案件編號" in text and case.case_reference in text
    assert case.channel is Channel.LINE and case.language is Language.ZH_HANT
