"""``switchboard-chat-sim`` for WeChat, WeCom and LINE: what it posts, intake-chat accepts and publishes.

The simulator signs (and for WeChat encrypts) with the development credentials, takes a LINE reply token
from the stand-ins and, for WeCom, leaves the customer's message where ``kf/sync_msg`` finds it; intake-chat
runs on a real port and the real broker, with the provider stand-ins ``make run`` uses.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from switchboard_common.events import MESSAGE_RECEIVED
from switchboard_common.settings import KafkaSettings
from switchboard_common.topics import TopicNames
from switchboard_devenv.asgi import running_app
from switchboard_devenv.chat_sim import SimulatedChannels, load_secrets
from switchboard_devenv.chat_sim import main as chat_sim_main
from switchboard_devenv.kafka_testing import decode_all, read_topic
from switchboard_devenv.provider_standins import base_urls
from switchboard_intake_chat.app import create_app
from switchboard_intake_chat.settings import IntakeChatSettings, WebChatSettings

pytestmark = pytest.mark.kafka


async def ready(url: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            if (await client.get(f"{url}/readyz")).status_code == 200:
                return
            await asyncio.sleep(0.1)
    raise AssertionError("intake-chat never became ready")


@pytest.mark.parametrize(
    ("provider", "text"),
    [("wechat", "我的快递三天没更新了"), ("wecom", "订单什么时候发货？"), ("line", "我的包裹還沒到")],
)
async def test_the_chat_simulator_speaks_wechat_wecom_and_line_as_intake_chat_expects(
    provider: str,
    text: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    kafka_settings: KafkaSettings,
    kafka_topics: TopicNames,
):
    for name, value in load_secrets(tmp_path, create=True).items():
        monkeypatch.setenv(name, value)
    standins = SimulatedChannels(tmp_path).standins(on_delivery=lambda call: None)
    async with running_app(standins.app) as root:
        monkeypatch.setenv("WECOM_API_BASE_URL", base_urls(root)["WECOM_API_BASE_URL"])
        settings = IntakeChatSettings(kafka=kafka_settings, webchat=WebChatSettings(session_secret=SecretStr("s")))
        async with running_app(create_app(settings)) as url:
            await ready(url)
            status = await asyncio.to_thread(
                chat_sim_main, [provider, text, "--url", url, "--standins", root, "--data", str(tmp_path)]
            )
            records = await read_topic(kafka_settings, kafka_topics("intake.messages.v1"), count=1, timeout=30)
    assert status == 0
    [event] = decode_all(records, MESSAGE_RECEIVED)
    assert (event.channel.value, event.text.plain) == (provider, text)
    if provider == "line":
        assert "reply_token" in event.reply_to.metadata
