"""The HTTP edge without Kafka: settings from the environment, and what callers and Twilio get when
Kafka does not acknowledge (a live call goes on; asynchronous callbacks are refused for a retry)."""

from __future__ import annotations

from datetime import timedelta

import httpx
from phone_support import ACCOUNT_SID, AUTH_TOKEN, Call, TwilioWebhooks

from switchboard_common.settings import KafkaSettings
from switchboard_intake_phone.app import create_app
from switchboard_intake_phone.settings import IntakePhoneSettings


def test_settings_come_from_the_agreed_environment_variables(monkeypatch):
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "secret-token")
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("PHONE_PUBLIC_BASE_URL", "https://phone.example.com")
    monkeypatch.setenv("PHONE_TRANSCRIPT_TIMEOUT", "40s")
    monkeypatch.setenv("PBX_WEBHOOK_SECRET", "pbx")
    settings = IntakePhoneSettings()
    assert settings.twilio.auth_token is not None
    assert settings.twilio.auth_token.get_secret_value() == "secret-token"
    assert "secret-token" not in repr(settings)
    assert settings.phone.public_base_url == "https://phone.example.com"
    assert settings.phone.transcript_timeout == timedelta(seconds=40)
    assert settings.pbx.webhook_secret is not None


def app_without_kafka(monkeypatch) -> httpx.AsyncClient:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    # No lifespan runs under ASGITransport: the producer never connects, as when Kafka is down.
    settings = IntakePhoneSettings(kafka=KafkaSettings(bootstrap_servers="127.0.0.1:9", send_timeout_s=1))
    transport = httpx.ASGITransport(app=create_app(settings))
    return httpx.AsyncClient(transport=transport, base_url="http://phone.test")


async def test_an_asynchronous_callback_gets_503_with_retry_after_when_kafka_is_unavailable(monkeypatch):
    async with app_without_kafka(monkeypatch) as client:
        twilio = TwilioWebhooks(client, "http://phone.test")
        response = await twilio.post("/voice/recording", {**Call().recording(), "RecordingStatus": "completed"})
        assert response.status_code == 503
        assert response.headers["retry-after"] == "2"
        assert (await twilio.sms("+14155550100", "hello")).status_code == 503


async def test_a_caller_still_hears_the_next_prompt_when_kafka_is_unavailable(monkeypatch):
    async with app_without_kafka(monkeypatch) as client:
        twilio = TwilioWebhooks(client, "http://phone.test")
        call = Call()
        goodbye = await twilio.post("/voice/recorded?lang=en&team=orders", {**call.recording(), "Digits": "#"})
        assert goodbye.status_code == 200
        assert "Thank you. We will send you a text message" in goodbye.text
        voicemail = await twilio.post("/voice/dial?lang=en&team=orders", call.params(DialCallStatus="busy"))
        assert voicemail.status_code == 200 and "<Record " in voicemail.text


async def test_a_callback_missing_its_call_sid_gets_400_with_the_reason(monkeypatch):
    async with app_without_kafka(monkeypatch) as client:
        twilio = TwilioWebhooks(client, "http://phone.test")
        params = Call().params(CallStatus="completed")
        del params["CallSid"]
        response = await twilio.post("/voice/status", params)
        assert response.status_code == 400
        assert "CallSid" in response.json()["detail"]
