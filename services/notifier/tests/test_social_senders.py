"""Slack, WhatsApp, Messenger and Telegram senders against local stand-ins of the providers' APIs.

The real clients (slack-sdk's AsyncWebClient, httpx) talk HTTP to a local server that answers as
each provider does; the tests assert what the provider would have received and how its failures
are classified.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from notifier_support import T0, Clock, acks, intake_event, message, notifier_with, routed, routed_event
from pydantic import SecretStr

from switchboard_common.events.models import AckKind, AckOutcome, Channel, Language, ReplyTarget
from switchboard_devenv.processes import free_port
from switchboard_devenv.provider_standins import ProviderStandIns, base_urls, serving
from switchboard_notifier.app import build_senders
from switchboard_notifier.channels import DeliveryFailed, DeliveryRetryable, Notification
from switchboard_notifier.channels.messenger import MessengerSender, MessengerSenderSettings
from switchboard_notifier.channels.slack import SlackSender, SlackSenderSettings
from switchboard_notifier.channels.telegram import TelegramSender, TelegramSenderSettings
from switchboard_notifier.channels.whatsapp import WhatsAppSender, WhatsAppSenderSettings
from switchboard_notifier.settings import NotifierSettings

SLACK_TOKEN = "xoxb-test-bot-token"
WHATSAPP_TOKEN = "EAAG-whatsapp-token"
PAGE_TOKEN = "EAAG-page-token"
TELEGRAM_TOKEN = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"


@pytest.fixture
async def standins() -> AsyncIterator[tuple[ProviderStandIns, dict[str, str]]]:
    apis = ProviderStandIns()
    async with serving(apis) as root:
        yield apis, base_urls(root)


def notification(channel: Channel, address: str, thread: str | None, account: str = "acct", **metadata) -> Notification:
    msg = message(channel=channel, conversation=f"{channel.value}_conv")
    msg = msg.model_copy(
        update={
            "reply_to": ReplyTarget(channel=channel, account=account, address=address, thread=thread, metadata=metadata)
        }
    )
    return Notification(
        notification_id="n-1",
        kind=AckKind.ACK,
        message=msg,
        case_reference="SB-AAA-BBB-CCC",
        department="logistics",
        language=Language.EN,
        text="Hello, your case reference is SB-AAA-BBB-CCC. <Logistics> & co will answer within 24 hours.",
    )


async def started(sender):
    await sender.start()
    return sender


def slack(urls) -> SlackSender:
    return SlackSender(SlackSenderSettings(bot_token=SecretStr(SLACK_TOKEN), api_base_url=urls["SLACK_API_BASE_URL"]))


def whatsapp(urls) -> WhatsAppSender:
    return WhatsAppSender(
        WhatsAppSenderSettings(access_token=SecretStr(WHATSAPP_TOKEN), graph_base_url=urls["META_GRAPH_BASE_URL"])
    )


def messenger(urls) -> MessengerSender:
    return MessengerSender(
        MessengerSenderSettings(page_access_token=SecretStr(PAGE_TOKEN), graph_base_url=urls["META_GRAPH_BASE_URL"])
    )


def telegram(urls) -> TelegramSender:
    return TelegramSender(
        TelegramSenderSettings(bot_token=SecretStr(TELEGRAM_TOKEN), api_base_url=urls["TELEGRAM_API_BASE_URL"])
    )


# -- Slack -------------------------------------------------------------------------------------


async def test_slack_acknowledgement_goes_into_the_customers_thread_with_the_bot_token(standins):
    apis, urls = standins
    sender = await started(slack(urls))
    try:
        delivery = await sender.deliver(notification(Channel.SLACK, "C0SUPPORT", "1700000000.000100"))
    finally:
        await sender.stop()
    [call] = apis.calls_to("slack")
    assert call.headers["authorization"] == f"Bearer {SLACK_TOKEN}"
    assert call.body["channel"] == "C0SUPPORT"
    assert call.body["thread_ts"] == "1700000000.000100"
    assert call.body["text"] == (
        "Hello, your case reference is SB-AAA-BBB-CCC. &lt;Logistics&gt; &amp; co will answer within 24 hours."
    )
    assert delivery.provider_id


async def test_a_slack_rate_limit_is_retryable_after_the_retry_after_it_names(standins):
    apis, urls = standins
    apis.fail_next("slack", 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "7"})
    sender = await started(slack(urls))
    try:
        with pytest.raises(DeliveryRetryable) as raised:
            await sender.deliver(notification(Channel.SLACK, "C0SUPPORT", "1.0"))
    finally:
        await sender.stop()
    assert raised.value.retry_after == 7.0


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (200, {"ok": False, "error": "channel_not_found"}, DeliveryFailed),
        (200, {"ok": False, "error": "is_archived"}, DeliveryFailed),
        (200, {"ok": False, "error": "invalid_auth"}, DeliveryFailed),
        (500, {"ok": False, "error": "internal_error"}, DeliveryRetryable),
        (503, {"ok": False, "error": "service_unavailable"}, DeliveryRetryable),
    ],
)
async def test_slack_errors_are_final_or_retryable(standins, status, body, outcome):
    apis, urls = standins
    apis.fail_next("slack", status, body)
    sender = await started(slack(urls))
    try:
        with pytest.raises(outcome) as raised:
            await sender.deliver(notification(Channel.SLACK, "C0SUPPORT", "1.0"))
    finally:
        await sender.stop()
    assert body["error"] in raised.value.reason


async def test_the_notifier_waits_out_slacks_retry_after_then_acknowledges_once(standins):
    apis, urls = standins
    apis.fail_next("slack", 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "5"})
    clock = Clock(T0)
    sender = slack(urls)
    notifier = notifier_with(clock, sender)
    await sender.start()
    try:
        msg = message(channel=Channel.SLACK, conversation="slack_conv")
        msg = msg.model_copy(
            update={"reply_to": ReplyTarget(channel=Channel.SLACK, account="T1", address="C0SUPPORT", thread="1.0")}
        )
        await notifier.process(*intake_event(msg, "p.intake.messages.v1", 3))
        assert list(await notifier.process(*routed_event(routed(msg), "p.intake.routed.v1", 1))) == []
        clock.advance(4)
        assert list(await notifier.tick()) == []
        assert len(apis.calls_to("slack")) == 1  # still waiting out Retry-After
        clock.advance(1.5)
        [ack] = acks(list(await notifier.tick()))
    finally:
        await sender.stop()
    assert len(apis.calls_to("slack")) == 2
    assert (ack.outcome, ack.attempts, ack.sla_met) == (AckOutcome.SENT, 2, True)
    assert apis.calls_to("slack")[1].body["thread_ts"] == "1.0"


async def test_an_unreachable_slack_api_is_retryable():
    settings = SlackSenderSettings(
        bot_token=SecretStr(SLACK_TOKEN), api_base_url=f"http://127.0.0.1:{free_port()}/api/", timeout_seconds=2
    )
    sender = await started(SlackSender(settings))
    try:
        with pytest.raises(DeliveryRetryable):
            await sender.deliver(notification(Channel.SLACK, "C0SUPPORT", "1.0"))
    finally:
        await sender.stop()


# -- WhatsApp ----------------------------------------------------------------------------------


async def test_whatsapp_acknowledgement_replies_to_the_customers_message_from_the_number_they_wrote_to(standins):
    apis, urls = standins
    sender = await started(whatsapp(urls))
    try:
        delivery = await sender.deliver(
            notification(Channel.WHATSAPP, "8613800138000", "wamid.CUSTOMER1", account="1122334455667")
        )
    finally:
        await sender.stop()
    [call] = apis.calls_to("whatsapp")
    assert call.path == "/graph/v21.0/1122334455667/messages"
    assert call.headers["authorization"] == f"Bearer {WHATSAPP_TOKEN}"
    assert call.body["to"] == "8613800138000"
    assert call.body["type"] == "text" and "SB-AAA-BBB-CCC" in call.body["text"]["body"]
    assert call.body["context"] == {"message_id": "wamid.CUSTOMER1"}
    assert delivery.provider_id and delivery.provider_id.startswith("wamid.")


@pytest.mark.parametrize(
    ("status", "error", "headers", "outcome", "reason"),
    [
        (400, {"code": 131047, "message": "Re-engagement message"}, {}, DeliveryFailed, "24-hour"),
        (400, {"code": 131026, "message": "Message undeliverable"}, {}, DeliveryFailed, "undeliverable"),
        (401, {"code": 190, "message": "Invalid OAuth access token"}, {}, DeliveryFailed, "access token"),
        (429, {"code": 130429, "message": "Rate limit hit"}, {"Retry-After": "3"}, DeliveryRetryable, "rate limited"),
        (400, {"code": 131056, "message": "Pair rate limit hit"}, {}, DeliveryRetryable, "rate limited"),
        (500, {"code": 131000, "message": "Something went wrong"}, {}, DeliveryRetryable, "131000"),
    ],
)
async def test_whatsapp_errors_are_final_or_retryable(standins, status, error, headers, outcome, reason):
    apis, urls = standins
    apis.fail_next("whatsapp", status, {"error": {**error, "type": "OAuthException", "fbtrace_id": "x"}}, headers)
    sender = await started(whatsapp(urls))
    try:
        with pytest.raises(outcome) as raised:
            await sender.deliver(notification(Channel.WHATSAPP, "8613800138000", None, account="1122334455667"))
    finally:
        await sender.stop()
    assert reason in raised.value.reason
    if headers:
        assert raised.value.retry_after == 3.0


# -- Messenger ---------------------------------------------------------------------------------


async def test_messenger_acknowledgement_is_a_response_to_the_psid_with_the_page_token_in_a_header(standins):
    apis, urls = standins
    sender = await started(messenger(urls))
    try:
        delivery = await sender.deliver(notification(Channel.MESSENGER, "PSID9", "m_1", account="PAGE1"))
    finally:
        await sender.stop()
    [call] = apis.calls_to("messenger")
    assert call.path == "/graph/v21.0/me/messages"
    assert PAGE_TOKEN not in call.path
    assert call.headers["authorization"] == f"Bearer {PAGE_TOKEN}"
    assert call.body["recipient"] == {"id": "PSID9"}
    assert call.body["messaging_type"] == "RESPONSE"
    assert "SB-AAA-BBB-CCC" in call.body["message"]["text"]
    assert delivery.provider_id


@pytest.mark.parametrize(
    ("status", "error", "outcome"),
    [
        (400, {"code": 551, "message": "This person isn't available right now"}, DeliveryFailed),
        (400, {"code": 10, "error_subcode": 2018278, "message": "outside of allowed window"}, DeliveryFailed),
        (400, {"code": 613, "message": "Calls to this api have exceeded the rate limit"}, DeliveryRetryable),
        (500, {"code": 2, "message": "Service temporarily unavailable"}, DeliveryRetryable),
    ],
)
async def test_messenger_errors_are_final_or_retryable(standins, status, error, outcome):
    apis, urls = standins
    apis.fail_next("messenger", status, {"error": error})
    sender = await started(messenger(urls))
    try:
        with pytest.raises(outcome):
            await sender.deliver(notification(Channel.MESSENGER, "PSID9", None))
    finally:
        await sender.stop()


# -- Telegram ----------------------------------------------------------------------------------


async def test_telegram_acknowledgement_replies_to_the_customers_message_in_their_chat(standins):
    apis, urls = standins
    sender = await started(telegram(urls))
    try:
        delivery = await sender.deliver(notification(Channel.TELEGRAM, "777", "9"))
    finally:
        await sender.stop()
    [call] = apis.calls_to("telegram")
    assert call.path == f"/telegram/bot{TELEGRAM_TOKEN}/sendMessage"
    assert call.body["chat_id"] == 777
    assert call.body["reply_parameters"] == {"message_id": 9, "allow_sending_without_reply": True}
    assert "parse_mode" not in call.body
    assert call.body["text"].startswith("Hello, your case reference is SB-AAA-BBB-CCC.")
    assert delivery.provider_id


async def test_telegram_forum_topic_replies_stay_in_the_topic(standins):
    apis, urls = standins
    sender = await started(telegram(urls))
    try:
        await sender.deliver(notification(Channel.TELEGRAM, "-100200300", "9", message_thread_id="42"))
    finally:
        await sender.stop()
    [call] = apis.calls_to("telegram")
    assert call.body["chat_id"] == -100200300 and call.body["message_thread_id"] == 42


@pytest.mark.parametrize(
    ("status", "body", "outcome", "retry_after"),
    [
        (
            429,
            {
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests: retry after 4",
                "parameters": {"retry_after": 4},
            },
            DeliveryRetryable,
            4.0,
        ),
        (
            403,
            {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"},
            DeliveryFailed,
            None,
        ),
        (400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}, DeliveryFailed, None),
        (502, {"ok": False, "error_code": 502, "description": "Bad Gateway"}, DeliveryRetryable, None),
    ],
)
async def test_telegram_errors_are_final_or_retryable_and_never_show_the_token(
    standins, status, body, outcome, retry_after
):
    apis, urls = standins
    apis.fail_next("telegram", status, body)
    sender = await started(telegram(urls))
    try:
        with pytest.raises(outcome) as raised:
            await sender.deliver(notification(Channel.TELEGRAM, "777", "9"))
    finally:
        await sender.stop()
    assert body["description"] in raised.value.reason
    assert TELEGRAM_TOKEN not in raised.value.reason
    if retry_after is not None:
        assert raised.value.retry_after == retry_after


# -- configuration -----------------------------------------------------------------------------


def test_senders_are_registered_only_for_channels_with_credentials(monkeypatch):
    for name in ("SLACK_BOT_TOKEN", "WHATSAPP_ACCESS_TOKEN", "MESSENGER_PAGE_ACCESS_TOKEN", "TELEGRAM_BOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert build_senders(NotifierSettings()).channels == {Channel.WEBCHAT}
    monkeypatch.setenv("SLACK_BOT_TOKEN", SLACK_TOKEN)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TELEGRAM_TOKEN)
    monkeypatch.setenv("META_GRAPH_BASE_URL", "http://127.0.0.1:9/graph/v21.0")
    monkeypatch.setenv("WHATSAPP_ACCESS_TOKEN", WHATSAPP_TOKEN)
    monkeypatch.setenv("MESSENGER_PAGE_ACCESS_TOKEN", PAGE_TOKEN)
    senders = build_senders(NotifierSettings())
    assert senders.channels == {Channel.WEBCHAT, Channel.SLACK, Channel.TELEGRAM, Channel.WHATSAPP, Channel.MESSENGER}
    whatsapp_sender = senders.for_channel(Channel.WHATSAPP)
    assert isinstance(whatsapp_sender, WhatsAppSender)
    assert whatsapp_sender._settings.graph_base_url == "http://127.0.0.1:9/graph/v21.0"
