"""A customer writes on Slack, WhatsApp, Messenger or Telegram; the team's topic holds the case and the
customer gets one acknowledgement, in their thread or chat, through the provider's API.

Every service runs as its own process against the real broker; the providers' send APIs are local
stand-ins the notifier is pointed at (``*_API_BASE_URL``), and the webhooks are signed as the
providers sign them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx
import pytest

from switchboard_common.case_reference import parse_case_reference
from switchboard_common.events import CASE_OPENED
from switchboard_devenv.chat_payloads import (
    messenger_text,
    meta_request,
    slack_message_event,
    slack_request,
    telegram_request,
    telegram_text_update,
    whatsapp_text,
)
from switchboard_devenv.kafka_testing import decode_all, read_topic
from switchboard_devenv.provider_standins import ProviderCall, ProviderStandIns, base_urls, serving

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]

SECRETS = {
    "SLACK_SIGNING_SECRET": uuid.uuid4().hex,
    "SLACK_BOT_TOKEN": "xoxb-e2e-bot-token",
    "META_APP_SECRET": uuid.uuid4().hex,
    "META_VERIFY_TOKEN": uuid.uuid4().hex,
    "WHATSAPP_ACCESS_TOKEN": "EAAG-e2e-whatsapp",
    "MESSENGER_PAGE_ACCESS_TOKEN": "EAAG-e2e-page",
    "TELEGRAM_SECRET_TOKEN": uuid.uuid4().hex,
    "TELEGRAM_BOT_TOKEN": "4242:e2e-telegram-token",
}


@pytest.fixture
async def standins() -> AsyncIterator[tuple[ProviderStandIns, str]]:
    apis = ProviderStandIns()
    async with serving(apis) as root:
        yield apis, root


@pytest.fixture
def gateway_extra_env(standins) -> dict[str, str]:
    _, root = standins
    return {**SECRETS, **base_urls(root)}


@dataclass(frozen=True)
class Conversation:
    """One customer message on one provider, and what its acknowledgement must look like."""

    provider: str
    path: str
    request: Callable[[], tuple[bytes, dict[str, str]]]
    department: str
    phrase: str
    """Words of the acknowledgement in the customer's language."""
    check_target: Callable[[ProviderCall], None]


def slack_case() -> Conversation:
    ts = f"{time.time():.6f}"
    payload = slack_message_event(
        team="T0CUSTOMER",
        channel="C0SUPPORT",
        channel_type="channel",
        user="U2147483697",
        ts=ts,
        text="I was charged twice for order A123-4567, please refund the extra $45.99",
    )

    def target(call: ProviderCall) -> None:
        assert call.body["channel"] == "C0SUPPORT" and call.body["thread_ts"] == ts
        assert call.headers["authorization"] == f"Bearer {SECRETS['SLACK_BOT_TOKEN']}"

    return Conversation(
        "slack",
        "/v1/slack/events",
        lambda: slack_request(SECRETS["SLACK_SIGNING_SECRET"], payload),
        "billing",
        "Billing team",
        target,
    )


def whatsapp_case() -> Conversation:
    payload = whatsapp_text(
        phone_number_id="1122334455667",
        wa_id="8613800138000",
        name="李雷",
        message_id=f"wamid.{uuid.uuid4().hex}",
        text="我的快递已经三天没有更新物流信息了，单号SF1234567890123，请帮忙查一下",
    )
    message_id = payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"]

    def target(call: ProviderCall) -> None:
        assert call.path.endswith("/1122334455667/messages")
        assert call.body["to"] == "8613800138000" and call.body["context"] == {"message_id": message_id}
        assert call.headers["authorization"] == f"Bearer {SECRETS['WHATSAPP_ACCESS_TOKEN']}"

    return Conversation(
        "whatsapp",
        "/v1/whatsapp/webhook",
        lambda: meta_request(SECRETS["META_APP_SECRET"], payload),
        "logistics",
        "工单号",
        target,
    )


def messenger_case() -> Conversation:
    payload = messenger_text(
        page_id="PAGE1",
        psid="PSID9",
        mid=f"m_{uuid.uuid4().hex}",
        text="I cannot log in to my account, the password reset email never arrives",
    )

    def target(call: ProviderCall) -> None:
        assert call.body["recipient"] == {"id": "PSID9"} and call.body["messaging_type"] == "RESPONSE"
        assert call.headers["authorization"] == f"Bearer {SECRETS['MESSENGER_PAGE_ACCESS_TOKEN']}"

    return Conversation(
        "messenger",
        "/v1/messenger/webhook",
        lambda: meta_request(SECRETS["META_APP_SECRET"], payload),
        "accounts",
        "Accounts team",
        target,
    )


def telegram_case() -> Conversation:
    update = telegram_text_update(
        update_id=int(time.time()) % 1_000_000,
        chat_id=777001,
        message_id=31,
        language_code="zh-hant",
        text="我的訂單已經三天了還沒出貨，訂單號 A123-4567，請幫我查詢訂單狀態",
    )

    def target(call: ProviderCall) -> None:
        assert call.path == f"/telegram/bot{SECRETS['TELEGRAM_BOT_TOKEN']}/sendMessage"
        assert call.body["chat_id"] == 777001 and call.body["reply_parameters"]["message_id"] == 31

    return Conversation(
        "telegram",
        "/v1/telegram/webhook",
        lambda: telegram_request(SECRETS["TELEGRAM_SECRET_TOKEN"], update),
        "orders",
        "案件編號",
        target,
    )


@pytest.mark.parametrize(
    "make_case", [slack_case, whatsapp_case, messenger_case, telegram_case], ids=lambda f: f.__name__
)
async def test_a_provider_message_reaches_its_team_and_is_acknowledged_once_in_its_thread(gateway, standins, make_case):
    apis, _ = standins
    case = make_case()
    async with httpx.AsyncClient(timeout=30) as client:
        body, headers = case.request()
        first = await client.post(f"{gateway.chat_url}{case.path}", content=body, headers=headers)
        body, headers = case.request()  # the provider redelivers: still one case, one acknowledgement
        again = await client.post(f"{gateway.chat_url}{case.path}", content=body, headers=headers)
    assert first.status_code == 200 and again.status_code == 200

    records = await read_topic(gateway.kafka, gateway.names.department(case.department), count=1, timeout=60)
    [opened] = decode_all(records, CASE_OPENED)
    assert opened.channel.value == case.provider

    [ack] = await apis.wait_for_calls(case.provider, 1, timeout=60)
    case.check_target(ack)
    assert opened.case_reference in ack.text
    parse_case_reference(opened.case_reference)
    assert case.phrase in ack.text

    settled = await read_topic(gateway.kafka, gateway.names("notify.acks.v1"), count=1, timeout=30, settle=3)
    assert len(settled) == 1
    assert len(apis.calls_to(case.provider)) == 1
