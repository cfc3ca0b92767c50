"""Playing Twilio in tests: webhooks signed by the twilio package's own RequestValidator (an independent
reference implementation of the signature), posted to a running intake-phone."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlencode
from xml.etree import ElementTree

import httpx
from pydantic import SecretStr
from twilio.request_validator import RequestValidator

from switchboard_common.events import MESSAGE_RECEIVED
from switchboard_common.events.models import IntakeMessage
from switchboard_common.settings import ConsumerSettings, KafkaSettings
from switchboard_common.topics import TopicNames
from switchboard_devenv.kafka_testing import decode_all, read_topic
from switchboard_intake_phone.settings import (
    IntakePhoneSettings,
    PbxWebhookSettings,
    PhoneSettings,
    TwilioWebhookSettings,
)

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "12345678901234567890123456789012"
OUR_NUMBER = "+18005550123"
CALLER = "+14155550100"


def signature(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


@dataclass
class Call:
    """One simulated call's identity."""

    caller: str = CALLER
    number: str = OUR_NUMBER
    country: str = "US"
    sid: str = field(default_factory=lambda: "CA" + secrets.token_hex(16))
    recording_sid: str = field(default_factory=lambda: "RE" + secrets.token_hex(16))

    def params(self, **extra: str) -> dict[str, str]:
        return {
            "AccountSid": ACCOUNT_SID,
            "ApiVersion": "2010-04-01",
            "CallSid": self.sid,
            "CallStatus": "in-progress",
            "Direction": "inbound",
            "From": self.caller,
            "To": self.number,
            "Caller": self.caller,
            "Called": self.number,
            "FromCountry": self.country,
            "CalledZip": "",
            **extra,
        }

    @property
    def recording_url(self) -> str:
        return f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{self.recording_sid}"

    def recording(self, duration: int = 23) -> dict[str, str]:
        return self.params(
            RecordingSid=self.recording_sid, RecordingUrl=self.recording_url, RecordingDuration=str(duration)
        )


class TwilioWebhooks:
    """Posts signed webhooks to ``base_url`` (intake-phone) as Twilio would."""

    def __init__(self, client: httpx.AsyncClient, base_url: str, token: str = AUTH_TOKEN) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.token = token

    def url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.base_url}/v1/phone/twilio{path}"

    async def post(
        self, path: str, params: dict[str, str], *, signed_url: str | None = None, token: str | None = None
    ) -> httpx.Response:
        url = self.url(path)
        sig = signature(signed_url or url, params, token or self.token)
        return await self.client.post(
            url,
            content=urlencode(params),
            headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sig},
        )

    async def twiml(self, path: str, params: dict[str, str]) -> ElementTree.Element:
        response = await self.post(path, params)
        assert response.status_code == 200, response.text
        return ElementTree.fromstring(response.content)  # noqa: S314

    async def choose(self, call: Call, language_key: str, team_key: str) -> ElementTree.Element:
        """Incoming call, a language and a team: returns the TwiML of the destination."""
        menu = await self.twiml("/voice", call.params(CallStatus="ringing"))
        gather = menu.find("Gather")
        assert gather is not None
        teams = await self.twiml(gather.get("action", ""), call.params(Digits=language_key))
        gather = teams.find("Gather")
        assert gather is not None
        return await self.twiml(gather.get("action", ""), call.params(Digits=team_key))

    async def leave_voicemail(
        self, call: Call, destination: ElementTree.Element, transcript: str | None, duration: int = 23
    ) -> None:
        """The Record action, the recording callback and (unless None) the transcription callback."""
        record = destination.find("Record")
        assert record is not None, ElementTree.tostring(destination)
        await self.twiml(record.get("action", ""), {**call.recording(duration), "Digits": "#"})
        done = await self.post(
            record.get("recordingStatusCallback", ""), {**call.recording(duration), "RecordingStatus": "completed"}
        )
        assert done.status_code == 200, done.text
        if transcript is not None:
            sent = await self.post(record.get("transcribeCallback", ""), self.transcription(call, transcript))
            assert sent.status_code == 200, sent.text

    @staticmethod
    def transcription(call: Call, text: str) -> dict[str, str]:
        return {
            **call.recording(),
            "TranscriptionSid": "TR" + call.sid[2:],
            "TranscriptionStatus": "completed",
            "TranscriptionText": text,
        }

    async def call_ended(self, call: Call, status: str = "completed") -> httpx.Response:
        return await self.post("/voice/status", call.params(CallStatus=status, CallDuration="40"))

    async def sms(self, sender: str, body: str, sid: str | None = None, number: str = OUR_NUMBER) -> httpx.Response:
        sid = sid or "SM" + secrets.token_hex(16)
        return await self.post(
            "/sms",
            {
                "AccountSid": ACCOUNT_SID,
                "ApiVersion": "2010-04-01",
                "MessageSid": sid,
                "SmsMessageSid": sid,
                "SmsSid": sid,
                "From": sender,
                "To": number,
                "Body": body,
                "NumMedia": "0",
                "NumSegments": "1",
            },
        )


PBX_SECRET = "pbx-test-secret"


@dataclass
class PhoneApp:
    url: str
    twilio: TwilioWebhooks
    client: httpx.AsyncClient
    settings: IntakePhoneSettings
    names: TopicNames

    async def messages(self, count: int, *, timeout: float = 60, settle: float = 0) -> list[IntakeMessage]:
        records = await read_topic(
            self.settings.kafka, self.names("intake.messages.v1"), count=count, timeout=timeout, settle=settle
        )
        return decode_all(records, MESSAGE_RECEIVED)


def phone_settings(kafka: KafkaSettings, group_instance: str, **phone: object) -> IntakePhoneSettings:
    timing: dict[str, object] = {
        "transcript_timeout": "3s",
        "recording_wait": "2s",
        "call_end_grace": "2s",
        "voicemail_window": "20s",
    }
    return IntakePhoneSettings(
        kafka=kafka,
        consumer=ConsumerSettings(instance_id=group_instance, poll_timeout_ms=100),
        phone=PhoneSettings(**(timing | phone)),
        twilio=TwilioWebhookSettings(auth_token=SecretStr(AUTH_TOKEN), account_sid=ACCOUNT_SID),
        pbx=PbxWebhookSettings(webhook_secret=SecretStr(PBX_SECRET)),
    )


async def wait_ready(client: httpx.AsyncClient, url: str, timeout: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if (await client.get(f"{url}/readyz")).status_code == 200:
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"intake-phone at {url} not ready")
