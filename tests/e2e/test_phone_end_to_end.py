"""Callers, end to end: Twilio's webhooks (signed by the twilio package) into intake-phone, through the
classifier and the dispatcher to the team's topic, and the SMS acknowledgement out through a local
stand-in for Twilio's REST API. Every service runs as its own process on the real broker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from phone_support import ACCOUNT_SID, AUTH_TOKEN, Call, TwilioWebhooks

from switchboard_common.case_reference import find_case_references
from switchboard_common.events import ACK_RECORDED, CASE_OPENED
from switchboard_common.events.models import AckOutcome, MessageKind, TranscriptStatus
from switchboard_devenv.asgi import running_app
from switchboard_devenv.kafka_testing import decode_all, read_topic
from switchboard_devenv.twilio_api import TwilioApiState, create_app

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]


@pytest.fixture
async def twilio_api() -> AsyncIterator[tuple[TwilioApiState, str]]:
    state = TwilioApiState(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN)
    async with running_app(create_app(state)) as url:
        yield state, url


@pytest.fixture
def gateway_extra_env(twilio_api: tuple[TwilioApiState, str]) -> dict[str, str]:
    return {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_API_BASE_URL": twilio_api[1],
        "PHONE_TRANSCRIPT_TIMEOUT": "6s",
        "PHONE_CALL_END_GRACE": "3s",
    }


@dataclass
class Phone:
    webhooks: TwilioWebhooks
    twilio: TwilioApiState


@pytest.fixture
async def phone(gateway, twilio_api) -> AsyncIterator[Phone]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield Phone(TwilioWebhooks(client, gateway.phone_url), twilio_api[0])


async def sms_to(phone: Phone, number: str, *, timeout: float = 90, settle: float = 0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not phone.twilio.sent_to(number):
        await asyncio.sleep(0.2)
    if settle:
        await asyncio.sleep(settle)
    return phone.twilio.sent_to(number)


async def test_an_ivr_choice_and_a_voicemail_transcript_reach_the_chosen_team_and_the_caller_gets_an_sms(
    gateway, phone: Phone
):
    call = Call(caller="+8613800138000", country="CN")
    destination = await phone.webhooks.choose(call, language_key="2", team_key="2")  # 普通话, 物流配送
    await phone.webhooks.leave_voicemail(call, destination, transcript="我的快递三天没更新了，单号SF1234567890123")
    await phone.webhooks.call_ended(call)

    records = await read_topic(gateway.kafka, gateway.names.department("logistics"), count=1, timeout=60)
    [case] = decode_all(records, CASE_OPENED)
    assert case.kind is MessageKind.VOICEMAIL
    assert case.text_masked == "我的快递三天没更新了，单号SF1234567890123"
    assert case.entities.tracking_numbers == ["SF1234567890123"]
    assert case.attachments[0].url == call.recording_url
    assert case.customer.handle_masked == "***8000"

    [sms] = await sms_to(phone, "+8613800138000")
    assert sms["from"] == "+18005550123"
    assert find_case_references(sms["body"]) == [case.case_reference]
    assert "物流团队" in sms["body"] and "语音留言" in sms["body"] and "小时内回复" in sms["body"]
    acks = decode_all(
        await read_topic(gateway.kafka, gateway.names("notify.acks.v1"), count=1, timeout=30), ACK_RECORDED
    )
    assert [(a.outcome, a.sla_met) for a in acks] == [(AckOutcome.SENT, True)]


async def test_retried_webhooks_give_one_case_and_one_sms(gateway, phone: Phone):
    caller = "+14155550177"
    for _ in range(3):  # Twilio redelivers the same MessageSid
        response = await phone.webhooks.sms(caller, "I was charged twice for order A123-4567", sid="SM" + "4" * 32)
        assert response.status_code == 200
    call = Call(caller="+14155550178")
    destination = await phone.webhooks.choose(call, language_key="1", team_key="3")
    for _ in range(2):  # and both voicemail callbacks of a call
        await phone.webhooks.leave_voicemail(call, destination, transcript="The blender arrived broken")

    billing = await read_topic(gateway.kafka, gateway.names.department("billing"), count=1, timeout=60, settle=8)
    after_sales = await read_topic(
        gateway.kafka, gateway.names.department("after_sales"), count=1, timeout=60, settle=2
    )
    assert len(decode_all(billing, CASE_OPENED)) == 1
    assert len(decode_all(after_sales, CASE_OPENED)) == 1
    assert len(await sms_to(phone, caller, settle=3)) == 1
    assert len(await sms_to(phone, "+14155550178")) == 1


async def test_a_transcript_that_never_comes_still_reaches_the_team_and_the_caller(gateway, phone: Phone):
    call = Call(caller="+14155550199")
    destination = await phone.webhooks.choose(call, language_key="1", team_key="5")
    await phone.webhooks.leave_voicemail(call, destination, transcript=None, duration=12)
    await phone.webhooks.call_ended(call)

    records = await read_topic(gateway.kafka, gateway.names.department("tech_support"), count=1, timeout=60)
    [case] = decode_all(records, CASE_OPENED)
    assert case.kind is MessageKind.VOICEMAIL
    assert case.attachments[0].transcript is TranscriptStatus.MISSING
    assert "without a transcript" in case.text_masked
    [sms] = await sms_to(phone, "+14155550199")
    assert case.case_reference in sms["body"] and "Technical Support" in sms["body"]


async def test_a_caller_who_hangs_up_in_the_menu_is_called_back(gateway, phone: Phone):
    call = Call(caller="+14155550166")
    menu = await phone.webhooks.twiml("/voice", call.params(CallStatus="ringing"))
    gather = menu.find("Gather")
    assert gather is not None
    teams = await phone.webhooks.twiml(gather.get("action", ""), call.params(Digits="1"))
    assert teams.find("Gather") is not None  # the caller hangs up here
    await phone.webhooks.call_ended(call)

    records = await read_topic(gateway.kafka, gateway.names.department("triage"), count=1, timeout=60)
    [case] = decode_all(records, CASE_OPENED)
    assert case.kind is MessageKind.CALLBACK_REQUEST
    [sms] = await sms_to(phone, "+14155550166")
    assert sms["body"].startswith("Sorry we missed your call.") and case.case_reference in sms["body"]


async def test_rate_limits_and_server_errors_of_the_sms_api_are_retried_without_a_duplicate(gateway, phone: Phone):
    phone.twilio.fail_next(429, count=2, retry_after=1)
    phone.twilio.fail_next(500)
    caller = "+14155550155"
    assert (await phone.webhooks.sms(caller, "Where is my parcel? Tracking SF1234567890123")).status_code == 200

    [sms] = await sms_to(phone, caller, settle=5)
    assert find_case_references(sms["body"])
    assert [a["status"] for a in phone.twilio.attempts] == [429, 429, 500, 201]
    records = await read_topic(gateway.kafka, gateway.names("notify.acks.v1"), count=1, timeout=30, settle=3)
    [ack] = decode_all(records, ACK_RECORDED)
    assert (ack.outcome, ack.attempts) == (AckOutcome.SENT, 4)


async def test_a_caller_whose_number_cannot_receive_sms_is_recorded_as_failed(gateway, phone: Phone):
    landline = "+15005550009"  # the stand-in answers as Twilio does for a landline: error 21614
    assert (await phone.webhooks.sms(landline, "Please call me about my refund")).status_code == 200

    records = await read_topic(gateway.kafka, gateway.names("notify.acks.v1"), count=1, timeout=60, settle=5)
    [ack] = decode_all(records, ACK_RECORDED)
    assert ack.outcome is AckOutcome.FAILED
    assert ack.reason is not None and "21614" in ack.reason
    assert len(phone.twilio.attempts) == 1
    assert phone.twilio.sent_to(landline) == []
