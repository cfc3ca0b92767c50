"""intake-phone on a real port with real Kafka: webhooks signed with Twilio's algorithm (by the twilio
package) and the phone-system webhook, posted as the providers post them."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml
from phone_support import CALLER, PBX_SECRET, Call, PhoneApp, phone_settings, signature

from switchboard_common.events.models import Channel, Language, MessageKind, TranscriptStatus
from switchboard_common.identity import conversation_key
from switchboard_devenv.kafka_testing import read_topic
from switchboard_intake_phone.pbx_signature import pbx_signature

pytestmark = pytest.mark.kafka

IVR_FILE = Path(__file__).parents[1] / "src/switchboard_intake_phone/config/ivr.yaml"


async def test_a_signed_sms_is_answered_once_kafka_stored_it(phone_app: PhoneApp):
    response = await phone_app.twilio.sms("+8613800138000", "我的订单A123-4567还没发货")
    assert response.status_code == 200
    assert response.text.endswith("<Response />")
    [message] = await phone_app.messages(1)
    assert message.channel is Channel.SMS
    assert message.text.new_content == "我的订单A123-4567还没发货"
    assert message.conversation_id == conversation_key("phone", "+18005550123", "+8613800138000")


async def test_unsigned_and_mis_signed_requests_get_403_and_nothing_is_recorded(phone_app: PhoneApp):
    call = Call()
    url = phone_app.twilio.url("/voice/recording")
    params = {**call.recording(), "RecordingStatus": "completed"}
    unsigned = await phone_app.client.post(url, data=params)
    forged = await phone_app.twilio.post("/voice/recording", params, token="not-the-auth-token-of-this-line")
    tampered = await phone_app.client.post(
        url, data={**params, "RecordingDuration": "99"}, headers={"X-Twilio-Signature": signature(url, params)}
    )
    sms = await phone_app.twilio.sms(CALLER, "hello", sid="SM" + "0" * 32)
    forged_sms = await phone_app.twilio.post(
        "/sms", {"AccountSid": "AC1", "MessageSid": "SM1", "From": CALLER, "To": "+1", "Body": "x"}, token="nope"
    )
    assert [r.status_code for r in (unsigned, forged, tampered, forged_sms)] == [403, 403, 403, 403]
    assert sms.status_code == 200
    facts = await read_topic(phone_app.settings.kafka, phone_app.names("phone.callbacks.v1"), timeout=3)
    assert facts == []
    messages = await phone_app.messages(1, settle=3)
    assert [m.text.new_content for m in messages] == ["hello"]


async def test_a_request_for_another_twilio_account_is_refused(phone_app: PhoneApp):
    call = Call()
    response = await phone_app.twilio.post(
        "/voice/status", {**call.params(CallStatus="completed"), "AccountSid": "AC9"}
    )
    assert response.status_code == 403


async def test_behind_a_proxy_the_public_url_is_what_twilio_signed(start_phone_app, kafka_settings):
    settings = phone_settings(kafka_settings, "proxy", public_base_url="https://phone.example.com:443/")
    async with start_phone_app(settings) as app:
        params = {
            "AccountSid": "AC" + "1" * 32,
            "MessageSid": "SM" + "2" * 32,
            "From": CALLER,
            "To": "+18005550123",
            "Body": "via the proxy",
        }
        public = "https://phone.example.com/v1/phone/twilio/sms"
        as_public = await app.twilio.post("/sms", params, signed_url=public)
        as_local = await app.twilio.post("/sms", params)
        assert (as_public.status_code, as_local.status_code) == (200, 403)
        # and the callback URLs it hands Twilio are public too
        twiml = await app.twilio.post(
            "/voice", Call().params(), signed_url="https://phone.example.com/v1/phone/twilio/voice"
        )
        assert 'action="https://phone.example.com:443/v1/phone/twilio/voice/menu?' in twiml.text


async def test_an_ivr_choice_and_a_voicemail_become_one_message_with_the_transcript(phone_app: PhoneApp):
    call = Call(caller="+8613800138000", country="CN")
    destination = await phone_app.twilio.choose(call, language_key="2", team_key="2")
    await phone_app.twilio.leave_voicemail(call, destination, transcript="我的快递三天没更新了，单号SF1234567890123")
    [message] = await phone_app.messages(1, settle=4)
    assert message.kind is MessageKind.VOICEMAIL
    assert message.channel is Channel.PHONE
    assert message.text.new_content == "我的快递三天没更新了，单号SF1234567890123"
    assert message.routing_hints.department == "logistics"
    assert message.routing_hints.language is Language.ZH_HANS
    [recording] = message.attachments
    assert recording.url == call.recording_url and recording.duration_seconds == 23
    assert recording.transcript is TranscriptStatus.TRANSCRIBED
    assert message.reply_to.address == "+8613800138000"


async def test_retried_callbacks_give_one_voicemail(phone_app: PhoneApp):
    call = Call()
    destination = await phone_app.twilio.choose(call, language_key="1", team_key="5")
    await phone_app.twilio.leave_voicemail(call, destination, transcript="The app crashes at login")
    record = destination.find("Record")
    assert record is not None
    for _ in range(2):  # Twilio delivers both callbacks again
        again = await phone_app.twilio.post(
            record.get("recordingStatusCallback", ""), {**call.recording(), "RecordingStatus": "completed"}
        )
        assert again.status_code == 200
        again = await phone_app.twilio.post(
            record.get("transcribeCallback", ""), phone_app.twilio.transcription(call, "The app crashes at login")
        )
        assert again.status_code == 200
    messages = await phone_app.messages(1, settle=6)
    assert len(messages) == 1
    assert messages[0].routing_hints.department == "tech_support"


async def test_a_retried_sms_is_the_same_event(phone_app: PhoneApp):
    for _ in range(2):
        response = await phone_app.twilio.sms(CALLER, "Is my refund done?", sid="SM" + "7" * 32)
        assert response.status_code == 200
    messages = await phone_app.messages(2)
    assert messages[0].event_id == messages[1].event_id  # CloudEvents: same id, same source: a duplicate


async def test_a_transcript_that_never_comes_still_gives_an_event_flagged_untranscribed(phone_app: PhoneApp):
    call = Call()
    destination = await phone_app.twilio.choose(call, language_key="1", team_key="4")
    await phone_app.twilio.leave_voicemail(call, destination, transcript=None, duration=17)
    await phone_app.twilio.call_ended(call)
    [message] = await phone_app.messages(1, settle=3)
    assert message.kind is MessageKind.VOICEMAIL
    assert message.attachments[0].transcript is TranscriptStatus.MISSING
    assert message.provider_ids["transcription"] == "missing"
    assert message.text.new_content == "Voicemail of 17 seconds without a transcript. Please listen to the recording."
    assert message.routing_hints.department == "billing"


async def test_a_transfer_nobody_answers_and_no_voicemail_is_a_callback_request(start_phone_app, tmp_path):
    document = yaml.safe_load(IVR_FILE.read_text("utf-8"))
    document["destinations"] = {"orders": {"transfer": {"number": "+18005550101"}}}
    ivr_file = tmp_path / "ivr.yaml"
    ivr_file.write_text(yaml.safe_dump(document, allow_unicode=True))
    async with start_phone_app(ivr_file=ivr_file) as app:
        call = Call()
        destination = await app.twilio.choose(call, language_key="1", team_key="1")
        dial = destination.find("Dial")
        assert dial is not None and dial.findtext("Number") == "+18005550101"
        voicemail = await app.twilio.twiml(dial.get("action", ""), call.params(DialCallStatus="busy"))
        assert voicemail.find("Record") is not None  # offered; the caller hangs up instead
        await app.twilio.call_ended(call)
        [message] = await app.messages(1, settle=3)
        assert message.kind is MessageKind.CALLBACK_REQUEST
        assert message.routing_hints.department == "orders"
        assert message.provider_ids["call_outcome"] == "busy"
        assert "the line was busy" in message.text.new_content


async def test_a_pending_voicemail_survives_a_restart(start_phone_app):
    call = Call()
    async with start_phone_app() as first:
        destination = await first.twilio.choose(call, language_key="1", team_key="3")
        record = destination.find("Record")
        assert record is not None
        await first.twilio.post(
            record.get("recordingStatusCallback", ""), {**call.recording(), "RecordingStatus": "completed"}
        )
        first_url = first.url
    async with start_phone_app(transcript_timeout="60s") as second:  # on another port: the callback follows it
        transcribe_callback = record.get("transcribeCallback", "").replace(first_url, second.url)
        sent = await second.twilio.post(
            transcribe_callback, second.twilio.transcription(call, "I want to return the blender")
        )
        assert sent.status_code == 200
        messages = await second.messages(1, settle=3)
    assert [m.text.new_content for m in messages] == ["I want to return the blender"]
    assert messages[0].attachments[0].duration_seconds == 23  # the recording from before the restart
    assert messages[0].routing_hints.department == "after_sales"


async def test_a_phone_system_reports_a_missed_call_with_a_signed_webhook(phone_app: PhoneApp):
    body = json.dumps(
        {
            "event": "call.status",
            "system": "asterisk-hq",
            "call_id": "1700000000.42",
            "from": "+85291234567",
            "to": "+85230001234",
            "status": "missed",
            "language": "zh-Hant",
            "department": "after_sales",
        }
    ).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Switchboard-Timestamp": timestamp,
        "X-Switchboard-Signature": pbx_signature(PBX_SECRET, timestamp, body),
    }
    url = f"{phone_app.url}/v1/phone/pbx/events"
    accepted = await phone_app.client.post(url, content=body, headers=headers)
    forged = await phone_app.client.post(url, content=body, headers={**headers, "X-Switchboard-Signature": "v1=00"})
    stale = await phone_app.client.post(
        url,
        content=body,
        headers={
            **headers,
            "X-Switchboard-Timestamp": str(int(timestamp) - 3600),
            "X-Switchboard-Signature": pbx_signature(PBX_SECRET, int(timestamp) - 3600, body),
        },
    )
    assert (accepted.status_code, forged.status_code, stale.status_code) == (202, 403, 403)
    [message] = await phone_app.messages(1, settle=3)
    assert message.kind is MessageKind.CALLBACK_REQUEST
    assert message.text.new_content == "未接來電：無人接聽。請回電給客戶。來電者選擇了退換貨和維修。"
    assert message.channel_account == "+85230001234"


async def test_an_invalid_phone_system_event_gets_422_with_the_reason(phone_app: PhoneApp):
    body = b'{"event": "call.status", "from": "+85291234567", "to": "+85230001234", "call_id": "1"}'
    timestamp = str(int(time.time()))
    response = await phone_app.client.post(
        f"{phone_app.url}/v1/phone/pbx/events",
        content=body,
        headers={
            "X-Switchboard-Timestamp": timestamp,
            "X-Switchboard-Signature": pbx_signature(PBX_SECRET, timestamp, body),
        },
    )
    assert response.status_code == 422
    assert "needs status" in response.json()["detail"]


async def test_without_credentials_the_phone_routes_answer_404(start_phone_app, kafka_settings):
    settings = phone_settings(kafka_settings, "off")
    settings.twilio = None
    settings.pbx = None
    async with start_phone_app(settings) as app:
        assert (await app.twilio.sms(CALLER, "hello")).status_code == 404
        assert (await app.client.post(f"{app.url}/v1/phone/pbx/events", content=b"{}")).status_code == 404


async def test_any_replica_answers_any_step_of_a_call(start_phone_app, kafka_settings):
    call = Call()
    async with (
        start_phone_app(phone_settings(kafka_settings, "replica-a")) as a,
        start_phone_app(phone_settings(kafka_settings, "replica-b")) as b,
    ):

        def on(app: PhoneApp, url: str | None) -> str:
            assert url is not None
            return url.replace(a.url, app.url).replace(b.url, app.url)

        menu = await a.twilio.twiml("/voice", call.params(CallStatus="ringing"))
        gather = menu.find("Gather")
        assert gather is not None
        teams = await b.twilio.twiml(on(b, gather.get("action")), call.params(Digits="3"))  # 繁體中文 on B
        gather = teams.find("Gather")
        assert gather is not None
        destination = await a.twilio.twiml(on(a, gather.get("action")), call.params(Digits="1"))  # orders on A
        record = destination.find("Record")
        assert record is not None
        await b.twilio.post(
            on(b, record.get("recordingStatusCallback")), {**call.recording(), "RecordingStatus": "completed"}
        )
        await a.twilio.post(on(a, record.get("transcribeCallback")), a.twilio.transcription(call, "訂單還沒到"))
        messages = await a.messages(1, settle=4)
    assert [(m.text.new_content, m.routing_hints.department, m.routing_hints.language) for m in messages] == [
        ("訂單還沒到", "orders", Language.ZH_HANT)
    ]
