"""The notifier acknowledges phone contacts by SMS through Twilio's REST API (a local stand-in):
rate limits and server errors are retried with backoff without a duplicate SMS, and a number that
cannot receive SMS is recorded as failed instead of being retried forever."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pipeline_support import intake_record, routed_record

from switchboard_common.events import ACK_RECORDED
from switchboard_common.events.models import (
    AckOutcome,
    Channel,
    CustomerIdentity,
    IntakeMessage,
    Language,
    MessageKind,
    MessageText,
    ReplyTarget,
    RoutingHints,
)
from switchboard_common.identity import conversation_key, customer_key, event_id
from switchboard_common.settings import KafkaSettings
from switchboard_common.topics import TopicNames
from switchboard_devenv.asgi import running_app
from switchboard_devenv.kafka_broker import free_port
from switchboard_devenv.kafka_testing import decode_all, publish, read_topic
from switchboard_devenv.processes import ServiceProcess
from switchboard_devenv.twilio_api import TwilioApiState, create_app

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

ACCOUNT = "AC" + "7" * 32
TOKEN = "integration-auth-token"
OUR_NUMBER = "+18005550123"


@dataclass
class SmsLine:
    kafka: KafkaSettings
    names: TopicNames
    twilio: TwilioApiState


@pytest.fixture
async def sms_line(kafka_settings: KafkaSettings, kafka_topics: TopicNames, tmp_path: Path) -> AsyncIterator[SmsLine]:
    state = TwilioApiState(account_sid=ACCOUNT, auth_token=TOKEN)
    async with running_app(create_app(state)) as twilio_url:
        notifier = ServiceProcess(
            "notifier",
            "switchboard_notifier.main",
            port=free_port(),
            log_dir=tmp_path,
            env={
                "KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
                "KAFKA_TOPIC_PREFIX": kafka_settings.topic_prefix,
                "CONSUMER_INSTANCE_ID": "sms-test",
                "TWILIO_ACCOUNT_SID": ACCOUNT,
                "TWILIO_AUTH_TOKEN": TOKEN,
                "TWILIO_API_BASE_URL": twilio_url,
                "NOTIFIER_RETRY_INITIAL": "0.3s",
            },
        ).start()
        try:
            await asyncio.to_thread(notifier.wait_ready, 90)
            yield SmsLine(kafka_settings, kafka_topics, state)
        finally:
            notifier.stop()


def voicemail(caller: str) -> IntakeMessage:
    text = "My parcel has not moved for three days."
    return IntakeMessage(
        event_id=event_id("twilio", ACCOUNT, f"CA-{caller}", "voicemail"),
        channel=Channel.PHONE,
        channel_account=OUR_NUMBER,
        kind=MessageKind.VOICEMAIL,
        received_at=datetime.now(UTC),
        conversation_id=conversation_key("phone", OUR_NUMBER, caller),
        customer=CustomerIdentity(key=customer_key("phone", caller), handle=caller),
        reply_to=ReplyTarget(channel=Channel.SMS, account=OUR_NUMBER, address=caller),
        text=MessageText(original=text, plain=text, new_content=text),
        routing_hints=RoutingHints(department="logistics", language=Language.EN),
    )


async def ack_records(line: SmsLine, count: int = 1, settle: float = 3.0):
    records = await read_topic(line.kafka, line.names("notify.acks.v1"), count=count, timeout=90, settle=settle)
    return decode_all(records, ACK_RECORDED)


async def test_rate_limits_and_server_errors_are_retried_with_backoff_without_a_duplicate(sms_line: SmsLine):
    sms_line.twilio.fail_next(429, count=2, retry_after=1)
    sms_line.twilio.fail_next(500)
    message = voicemail("+14155550100")
    await publish(sms_line.kafka, [intake_record(sms_line.names, message), routed_record(sms_line.names, message)])

    [ack] = await ack_records(sms_line, settle=5)
    assert ack.outcome is AckOutcome.SENT
    assert ack.attempts == 4
    assert [a["status"] for a in sms_line.twilio.attempts] == [429, 429, 500, 201]
    [sms] = sms_line.twilio.messages
    assert sms["to"] == "+14155550100" and sms["from"] == OUR_NUMBER
    assert "voicemail" in sms["body"] and "Logistics" in sms["body"]


async def test_a_number_that_cannot_receive_sms_is_recorded_as_failed_and_not_retried(sms_line: SmsLine):
    message = voicemail("+15005550009")  # a landline: Twilio answers 21614
    await publish(sms_line.kafka, [intake_record(sms_line.names, message), routed_record(sms_line.names, message)])

    [ack] = await ack_records(sms_line, settle=5)
    assert ack.outcome is AckOutcome.FAILED
    assert ack.reason is not None and "21614" in ack.reason
    assert len(sms_line.twilio.attempts) == 1
    assert sms_line.twilio.messages == []
