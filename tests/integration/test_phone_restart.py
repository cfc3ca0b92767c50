"""intake-phone killed with SIGKILL between a voicemail's recording and its transcript: after the
restart the two still make one voicemail, and callbacks Twilio retries after the restart make no second."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from phone_support import ACCOUNT_SID, AUTH_TOKEN, Call, TwilioWebhooks

from switchboard_common.events import MESSAGE_RECEIVED
from switchboard_common.events.models import MessageKind, TranscriptStatus
from switchboard_common.settings import KafkaSettings
from switchboard_common.topics import TopicNames
from switchboard_devenv.kafka_testing import decode_all, read_topic
from switchboard_devenv.processes import ServiceProcess, free_port, service_env

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def intake_phone(kafka: KafkaSettings, port: int, log_dir: Path) -> ServiceProcess:
    return ServiceProcess(
        "intake-phone",
        "switchboard_intake_phone.main",
        port=port,
        log_dir=log_dir,
        env=service_env(
            kafka,
            "phone-restart",
            TWILIO_AUTH_TOKEN=AUTH_TOKEN,
            TWILIO_ACCOUNT_SID=ACCOUNT_SID,
            PHONE_TRANSCRIPT_TIMEOUT="90s",
        ),
    )


async def test_a_voicemail_survives_a_crash_between_its_callbacks(
    kafka_settings: KafkaSettings, kafka_topics: TopicNames, tmp_path: Path
):
    port = free_port()
    process = intake_phone(kafka_settings, port, tmp_path).start()
    call = Call()
    async with httpx.AsyncClient(timeout=30) as client:
        twilio = TwilioWebhooks(client, process.url)
        await asyncio.to_thread(process.wait_ready, 90)
        destination = await twilio.choose(call, language_key="1", team_key="2")
        record = destination.find("Record")
        assert record is not None
        recording = {**call.recording(31), "RecordingStatus": "completed"}
        assert (await twilio.post(record.get("recordingStatusCallback", ""), recording)).status_code == 200

        process.kill()
        process = intake_phone(kafka_settings, port, tmp_path).start()
        try:
            await asyncio.to_thread(process.wait_ready, 90)
            transcript = twilio.transcription(call, "My parcel is stuck in customs")
            assert (await twilio.post(record.get("transcribeCallback", ""), transcript)).status_code == 200
            # Twilio retries both callbacks after the restart: still one voicemail
            assert (await twilio.post(record.get("recordingStatusCallback", ""), recording)).status_code == 200
            assert (await twilio.post(record.get("transcribeCallback", ""), transcript)).status_code == 200
            records = await read_topic(
                kafka_settings, kafka_topics("intake.messages.v1"), count=1, timeout=90, settle=6
            )
        finally:
            process.stop()
    [voicemail] = decode_all(records, MESSAGE_RECEIVED)
    assert voicemail.kind is MessageKind.VOICEMAIL
    assert voicemail.text.new_content == "My parcel is stuck in customs"
    assert voicemail.attachments[0].duration_seconds == 31
    assert voicemail.attachments[0].transcript is TranscriptStatus.TRANSCRIBED
