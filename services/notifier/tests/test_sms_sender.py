"""The SMS sender against a local stand-in for Twilio's Messages REST API (the real request format)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from switchboard_common.events.models import (
    AckKind,
    Channel,
    CustomerIdentity,
    IntakeMessage,
    Language,
    MessageKind,
    MessageText,
    ReplyTarget,
)
from switchboard_devenv.asgi import running_app
from switchboard_devenv.twilio_api import TwilioApiState, create_app
from switchboard_notifier.app import build_senders
from switchboard_notifier.channels import DeliveryFailed, DeliveryRetryable, Notification
from switchboard_notifier.channels.sms import TwilioSmsSender, TwilioSmsSettings
from switchboard_notifier.settings import NotifierSettings

ACCOUNT = "AC" + "5" * 32
TOKEN = "sms-test-auth-token"
OUR_NUMBER = "+18005550123"


@dataclass
class Twilio:
    state: TwilioApiState
    sender: TwilioSmsSender


@pytest.fixture
async def twilio() -> AsyncIterator[Twilio]:
    state = TwilioApiState(account_sid=ACCOUNT, auth_token=TOKEN)
    async with running_app(create_app(state)) as url:
        sender = TwilioSmsSender(
            TwilioSmsSettings(account_sid=ACCOUNT, auth_token=SecretStr(TOKEN), api_base_url=url, timeout_seconds=5)
        )
        await sender.start()
        try:
            yield Twilio(state, sender)
        finally:
            await sender.stop()


def notification(
    to: str = "+8613800138000", *, channel: Channel = Channel.SMS, account: str = OUR_NUMBER
) -> Notification:
    message = IntakeMessage(
        event_id="5a0e8f2e-0000-4000-8000-000000000001",
        channel=Channel.PHONE,
        channel_account=account,
        kind=MessageKind.VOICEMAIL,
        received_at=datetime.now(UTC),
        conversation_id="phone_abc",
        customer=CustomerIdentity(key="cust_1", handle=to),
        reply_to=ReplyTarget(channel=channel, account=account, address=to),
        text=MessageText(original="hi", plain="hi", new_content="hi"),
    )
    return Notification(
        notification_id="n1",
        kind=AckKind.ACK,
        message=message,
        case_reference="SB-78T-JAF-TKG",
        department="logistics",
        language=Language.ZH_HANS,
        text="您好！已收到您的语音留言，工单号 SB-78T-JAF-TKG，物流团队将在24小时内回复。",
    )


async def test_an_sms_goes_from_our_number_to_the_caller_with_basic_auth(twilio: Twilio):
    delivery = await twilio.sender.deliver(notification())
    [sent] = twilio.state.messages
    assert sent["to"] == "+8613800138000" and sent["from"] == OUR_NUMBER
    assert sent["body"].startswith("您好！已收到您的语音留言")
    assert delivery.provider_id == sent["sid"]


async def test_replies_to_phone_contacts_go_by_sms_too(twilio: Twilio):
    assert {Channel.SMS, Channel.PHONE} <= twilio.sender.channels
    await twilio.sender.deliver(notification(channel=Channel.PHONE))
    assert len(twilio.state.messages) == 1


async def test_a_configured_messaging_service_sends_instead_of_our_number(twilio: Twilio):
    sender = TwilioSmsSender(
        TwilioSmsSettings(
            account_sid=ACCOUNT,
            auth_token=SecretStr(TOKEN),
            api_base_url=twilio.sender._url.split("/2010-04-01")[0],
            from_number="MG" + "0" * 32,
        )
    )
    await sender.deliver(notification())
    await sender.stop()
    assert twilio.state.messages[0]["messaging_service_sid"] == "MG" + "0" * 32


async def test_rate_limiting_is_retryable_and_honours_retry_after(twilio: Twilio):
    twilio.state.fail_next(429, retry_after=7)
    with pytest.raises(DeliveryRetryable) as raised:
        await twilio.sender.deliver(notification())
    assert raised.value.retry_after == 7
    assert twilio.state.messages == []


async def test_a_server_error_is_retryable(twilio: Twilio):
    twilio.state.fail_next(500)
    with pytest.raises(DeliveryRetryable):
        await twilio.sender.deliver(notification())


@pytest.mark.parametrize(
    ("number", "code"),
    [("+15005550001", 21211), ("+15005550002", 21612), ("+15005550004", 21610), ("+15005550009", 21614)],
)
async def test_a_number_that_cannot_receive_sms_fails_for_good(twilio: Twilio, number, code):
    with pytest.raises(DeliveryFailed, match=f"sms_unreachable: twilio {code}"):
        await twilio.sender.deliver(notification(to=number))


async def test_a_withheld_number_fails_without_asking_twilio(twilio: Twilio):
    with pytest.raises(DeliveryFailed, match="withheld"):
        await twilio.sender.deliver(notification(to="withheld"))
    assert twilio.state.attempts == []


async def test_wrong_credentials_are_retried_not_recorded_as_the_customers_failure(twilio: Twilio):
    sender = TwilioSmsSender(
        TwilioSmsSettings(
            account_sid=ACCOUNT, auth_token=SecretStr("wrong"), api_base_url=twilio.sender._url.split("/2010-04-01")[0]
        )
    )
    with pytest.raises(DeliveryRetryable, match="TWILIO_AUTH_TOKEN"):
        await sender.deliver(notification())
    await sender.stop()


async def test_an_unreachable_api_is_retryable():
    sender = TwilioSmsSender(
        TwilioSmsSettings(account_sid=ACCOUNT, auth_token=SecretStr(TOKEN), api_base_url="http://127.0.0.1:9")
    )
    with pytest.raises(DeliveryRetryable, match="unreachable"):
        await sender.deliver(notification())
    await sender.stop()


def test_the_sms_sender_is_off_without_twilio_credentials(monkeypatch):
    monkeypatch.delenv("TWILIO_ACCOUNT_SID", raising=False)
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    assert Channel.SMS not in build_senders(NotifierSettings()).channels


def test_the_sms_sender_is_registered_with_twilio_credentials(monkeypatch):
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    channels = build_senders(NotifierSettings()).channels
    assert {Channel.SMS, Channel.PHONE} <= channels
