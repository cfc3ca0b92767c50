"""The WeChat, WeCom and LINE senders against local stand-ins of the providers' APIs (real HTTP)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from notifier_support import message
from pydantic import SecretStr

from switchboard_common.events.models import AckKind, Channel, Language, ReplyTarget
from switchboard_devenv.asgi import running_app
from switchboard_devenv.line_standin import LineApiState, line_api
from switchboard_devenv.wechat_standin import WeChatApiState, wechat_api
from switchboard_notifier.channels import DeliveryFailed, DeliveryRetryable, Notification
from switchboard_notifier.channels import line as line_channel
from switchboard_notifier.channels import wechat as wechat_channel
from switchboard_notifier.channels.line import LineChannelSettings, LineSender, reply_token_usable
from switchboard_notifier.channels.wechat import (
    WeChatChannelSettings,
    WeChatSender,
    WeComChannelSettings,
)
from switchboard_notifier.settings import NotifierSettings


def notification(channel: Channel, address: str, metadata: dict[str, str] | None = None, n: int = 1) -> Notification:
    msg = message(n, channel=channel).model_copy(
        update={"reply_to": ReplyTarget(channel=channel, account="acct", address=address, metadata=metadata or {})}
    )
    return Notification(
        notification_id=f"00000000-0000-4000-8000-{n:012d}",
        kind=AckKind.ACK,
        message=msg,
        case_reference="SB-AAA-BBB-CCC",
        department="logistics",
        language=Language.ZH_HANS,
        text="您好！我们已收到您的留言，您的工单号是 SB-AAA-BBB-CCC。",
    )


@pytest.fixture
async def wechat() -> AsyncIterator[tuple[WeChatSender, WeChatApiState]]:
    state = WeChatApiState()
    async with running_app(wechat_api(state, app_secret="app-secret", corp_secret="corp-secret")) as url:
        sender = WeChatSender(
            WeChatChannelSettings(app_id="wx-app", app_secret=SecretStr("app-secret"), api_base_url=url),
            WeComChannelSettings(
                corp_id="ww-corp", secret=SecretStr("corp-secret"), agent_id=1000002, api_base_url=url
            ),
        )
        try:
            yield sender, state
        finally:
            await sender.stop()


async def test_an_official_account_ack_is_a_customer_service_text_message(wechat):
    sender, api = wechat
    await sender.deliver(notification(Channel.WECHAT, "o-openid"))
    [sent] = api.sent
    assert sent["api"] == "message/custom/send"
    assert sent["body"] == {
        "touser": "o-openid",
        "msgtype": "text",
        "text": {"content": "您好！我们已收到您的留言，您的工单号是 SB-AAA-BBB-CCC。"},
    }


async def test_the_access_token_is_fetched_once_and_reused(wechat):
    sender, api = wechat
    for n in range(3):
        await sender.deliver(notification(Channel.WECHAT, "o-openid", n=n))
    assert len(api.sent) == 3
    assert len(api.tokens_issued) == 1


async def test_an_expired_access_token_is_replaced_once_and_the_send_retried(wechat):
    sender, api = wechat
    await sender.deliver(notification(Channel.WECHAT, "o-openid", n=1))
    api.expire_tokens()
    await sender.deliver(notification(Channel.WECHAT, "o-openid", n=2))
    assert len(api.tokens_issued) == 2
    assert [s["access_token"] for s in api.sent] == api.tokens_issued


@pytest.mark.parametrize("errcode", [-1, 45009])
async def test_system_busy_and_quota_errors_are_retryable(wechat, errcode):
    sender, api = wechat
    api.fail_next(errcode)
    with pytest.raises(DeliveryRetryable):
        await sender.deliver(notification(Channel.WECHAT, "o-openid"))


@pytest.mark.parametrize(("errcode", "reason"), [(45015, "48 hours"), (40003, "invalid openid")])
async def test_a_closed_window_or_an_invalid_openid_is_a_final_failure(wechat, errcode, reason):
    sender, api = wechat
    api.fail_next(errcode)
    with pytest.raises(DeliveryFailed, match=reason):
        await sender.deliver(notification(Channel.WECHAT, "o-openid"))


async def test_a_wecom_customer_gets_a_kf_message_from_the_service_account_they_wrote_to(wechat):
    sender, api = wechat
    await sender.deliver(notification(Channel.WECOM, "wm-customer", {"open_kfid": "wk-1"}))
    [sent] = api.sent
    assert sent["api"] == "kf/send_msg"
    assert sent["body"]["touser"] == "wm-customer" and sent["body"]["open_kfid"] == "wk-1"
    assert sent["body"]["msgid"] == "00000000000040008000000000000001"


async def test_a_wecom_app_message_is_answered_by_the_configured_agent(wechat):
    sender, api = wechat
    await sender.deliver(notification(Channel.WECOM, "zhangsan"))
    [sent] = api.sent
    assert (sent["api"], sent["body"]["agentid"], sent["body"]["touser"]) == ("message/send", 1000002, "zhangsan")


async def test_an_unreachable_wechat_api_is_retryable():
    sender = WeChatSender(
        WeChatChannelSettings(app_id="a", app_secret=SecretStr("s"), api_base_url="http://127.0.0.1:9"), None
    )
    with pytest.raises(DeliveryRetryable):
        await sender.deliver(notification(Channel.WECHAT, "o-openid"))
    await sender.stop()


@pytest.fixture
async def line() -> AsyncIterator[tuple[LineSender, LineApiState]]:
    state = LineApiState(access_token="line-token")
    async with running_app(line_api(state)) as url:
        sender = LineSender(LineChannelSettings(channel_access_token=SecretStr("line-token"), api_base_url=url))
        try:
            yield sender, state
        finally:
            await sender.stop()


def fresh(token: str, age_seconds: float = 1.0) -> dict[str, str]:
    return {"reply_token": token, "reply_token_issued_ms": str(int((time.time() - age_seconds) * 1000))}


async def test_a_fresh_reply_token_is_answered_through_the_reply_api(line):
    sender, api = line
    token = api.new_reply_token()
    await sender.deliver(notification(Channel.LINE, "Ucustomer", fresh(token)))
    assert [s["api"] for s in api.sent] == ["reply"]
    assert api.replies[0]["body"]["replyToken"] == token
    assert api.replies[0]["body"]["messages"][0]["text"].endswith("SB-AAA-BBB-CCC。")


async def test_a_stale_reply_token_is_not_used_and_the_ack_is_pushed(line):
    sender, api = line
    await sender.deliver(notification(Channel.LINE, "Ucustomer", fresh(api.new_reply_token(), age_seconds=120)))
    assert [s["api"] for s in api.sent] == ["push"]
    assert api.pushes[0]["body"]["to"] == "Ucustomer"


async def test_a_refused_reply_token_falls_back_to_a_push(line):
    sender, api = line
    await sender.deliver(notification(Channel.LINE, "Ucustomer", fresh("never-issued")))
    assert [s["api"] for s in api.sent] == ["push"]


async def test_a_push_resent_with_the_same_notification_is_delivered_once(line):
    sender, api = line
    await sender.deliver(notification(Channel.LINE, "Ucustomer"))
    await sender.deliver(notification(Channel.LINE, "Ucustomer"))
    assert len(api.pushes) == 1
    assert api.pushes[0]["retry_key"] == "00000000-0000-4000-8000-000000000001"


async def test_rate_limiting_is_retryable_after_retry_after(line):
    sender, api = line
    api.fail_next(429, retry_after=1)
    with pytest.raises(DeliveryRetryable) as raised:
        await sender.deliver(notification(Channel.LINE, "Ucustomer"))
    assert raised.value.retry_after == 1.0


async def test_an_invalid_recipient_is_a_final_failure(line):
    sender, _ = line
    with pytest.raises(DeliveryFailed, match="400"):
        await sender.deliver(notification(Channel.LINE, "not-a-line-id"))


def test_a_reply_token_without_its_issue_time_is_not_used():
    assert reply_token_usable({"reply_token": "t"}, time.time() * 1000, 50) is None


def test_senders_are_off_without_their_credentials(monkeypatch):
    for name in ("WECHAT_APP_ID", "WECHAT_APP_SECRET", "WECOM_CORP_ID", "WECOM_SECRET", "LINE_CHANNEL_ACCESS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    settings = NotifierSettings()
    assert wechat_channel.from_settings(settings) is None
    assert line_channel.from_settings(settings) is None
    monkeypatch.setenv("LINE_CHANNEL_ACCESS_TOKEN", "t")
    monkeypatch.setenv("WECHAT_APP_ID", "wx")
    monkeypatch.setenv("WECHAT_APP_SECRET", "s")
    on = wechat_channel.from_settings(settings)
    assert on is not None and on.channels == frozenset({Channel.WECHAT})
    assert line_channel.from_settings(settings) is not None
