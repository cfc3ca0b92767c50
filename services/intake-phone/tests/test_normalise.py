"""Each callback kind (Twilio and the generic phone-system webhook) as facts and message events."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from phone_support import ACCOUNT_SID, OUR_NUMBER, Call, TwilioWebhooks
from pydantic import ValidationError

from switchboard_common.events.models import Channel, Language, MessageKind
from switchboard_common.identity import conversation_key
from switchboard_intake_phone.facts import CallFact, CallStatus, FactKind
from switchboard_intake_phone.messages import sms_message
from switchboard_intake_phone.pbx_events import PbxEvent, pbx_input
from switchboard_intake_phone.twilio_callbacks import (
    InvalidCallback,
    call_ended_fact,
    inbound_sms,
    is_keyword_only,
    recording_fact,
    transcription_fact,
    transfer_fact,
)

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
CALL = Call(sid="CA" + "a" * 32, recording_sid="RE" + "b" * 32)


def test_a_recording_callback_becomes_a_recording_fact_with_url_and_duration():
    fact = recording_fact(
        {**CALL.recording(31), "RecordingStatus": "completed"}, received_at=NOW, language=Language.EN, team="orders"
    )
    assert fact.kind is FactKind.RECORDING
    assert fact.call_key == f"twilio/{ACCOUNT_SID}/{CALL.sid}"
    assert fact.recording is not None
    assert fact.recording.completed
    assert fact.recording.url == CALL.recording_url
    assert fact.recording.duration_seconds == 31
    assert (fact.language, fact.team) == (Language.EN, "orders")
    assert fact.caller.number == CALL.caller and fact.caller.our_number == OUR_NUMBER


def test_the_record_action_and_the_recording_callback_are_one_fact():
    from_action = recording_fact({**CALL.recording(), "Digits": "#"}, received_at=NOW, language=None, team=None)
    from_callback = recording_fact(
        {**CALL.recording(), "RecordingStatus": "completed"}, received_at=NOW, language=None, team=None
    )
    assert from_action.fact_id == from_callback.fact_id


def test_an_absent_recording_is_not_a_completed_one():
    fact = recording_fact(CALL.params(RecordingStatus="absent"), received_at=NOW, language=None, team=None)
    assert fact.recording is not None
    assert not fact.recording.completed


def test_a_transcription_callback_becomes_a_transcription_fact():
    params = TwilioWebhooks.transcription(CALL, "My parcel is late")
    fact = transcription_fact(params, received_at=NOW, language=Language.EN, team="logistics")
    assert fact.kind is FactKind.TRANSCRIPTION
    assert fact.transcription is not None
    assert fact.transcription.completed and fact.transcription.text == "My parcel is late"
    assert fact.provider_ids["recording_sid"] == CALL.recording_sid


def test_a_failed_transcription_is_not_completed():
    params = {**TwilioWebhooks.transcription(CALL, ""), "TranscriptionStatus": "failed"}
    fact = transcription_fact(params, received_at=NOW, language=None, team=None)
    assert fact.transcription is not None and not fact.transcription.completed


@pytest.mark.parametrize(
    ("dial_status", "status"),
    [
        ("completed", CallStatus.ANSWERED),
        ("busy", CallStatus.BUSY),
        ("no-answer", CallStatus.NO_ANSWER),
        ("failed", CallStatus.FAILED),
        ("canceled", CallStatus.ABANDONED),
    ],
)
def test_how_a_transfer_ended_is_mapped(dial_status, status):
    fact = transfer_fact(CALL.params(DialCallStatus=dial_status), received_at=NOW, language=None, team="orders")
    assert fact.kind is FactKind.TRANSFER
    assert fact.status is status
    assert fact.provider_status == dial_status


def test_a_queue_wait_the_caller_abandoned_is_mapped():
    fact = transfer_fact(CALL.params(QueueResult="hangup"), received_at=NOW, language=None, team="billing")
    assert fact.status is CallStatus.ABANDONED


@pytest.mark.parametrize(
    ("call_status", "status"),
    [
        ("completed", CallStatus.COMPLETED),
        ("busy", CallStatus.BUSY),
        ("no-answer", CallStatus.NO_ANSWER),
        ("failed", CallStatus.FAILED),
        ("canceled", CallStatus.ABANDONED),
    ],
)
def test_a_call_status_callback_at_the_end_becomes_a_call_ended_fact(call_status, status):
    fact = call_ended_fact(CALL.params(CallStatus=call_status), received_at=NOW)
    assert fact is not None
    assert fact.kind is FactKind.CALL_ENDED and fact.status is status


@pytest.mark.parametrize("call_status", ["queued", "ringing", "in-progress", "initiated"])
def test_status_callbacks_before_the_end_are_not_facts(call_status):
    assert call_ended_fact(CALL.params(CallStatus=call_status), received_at=NOW) is None


def test_a_callback_without_a_call_sid_is_invalid():
    params = CALL.params(DialCallStatus="busy")
    del params["CallSid"]
    with pytest.raises(InvalidCallback, match="CallSid"):
        transfer_fact(params, received_at=NOW, language=None, team=None)


def sms_params(body: str = "Where is my order A123-4567?", sender: str = "+8613800138000", **extra: str):
    return {
        "AccountSid": ACCOUNT_SID,
        "MessageSid": "SM" + "c" * 32,
        "From": sender,
        "To": OUR_NUMBER,
        "Body": body,
        "NumMedia": "0",
        **extra,
    }


def test_an_inbound_sms_becomes_a_message_in_the_callers_conversation():
    message = sms_message(inbound_sms(sms_params(), received_at=NOW), max_chars=4000)
    assert message.channel is Channel.SMS
    assert message.kind is MessageKind.MESSAGE
    assert message.text.new_content == "Where is my order A123-4567?"
    assert message.conversation_id == conversation_key("phone", OUR_NUMBER, "+8613800138000")
    assert "8613800138000" not in message.conversation_id
    assert message.reply_to.channel is Channel.SMS
    assert (message.reply_to.account, message.reply_to.address) == (OUR_NUMBER, "+8613800138000")
    assert message.customer.handle == "+8613800138000"
    assert message.provider_ids["message_sid"] == "SM" + "c" * 32


def test_a_redelivered_sms_has_the_same_event_id():
    first = sms_message(inbound_sms(sms_params(), received_at=NOW), max_chars=4000)
    again = sms_message(inbound_sms(sms_params(), received_at=datetime.now(UTC)), max_chars=4000)
    assert first.event_id == again.event_id


def test_mms_media_become_attachment_metadata():
    params = sms_params(NumMedia="1", MediaUrl0="https://api.twilio.com/media/ME1", MediaContentType0="image/jpeg")
    message = sms_message(inbound_sms(params, received_at=NOW), max_chars=4000)
    assert [(a.url, a.content_type) for a in message.attachments] == [
        ("https://api.twilio.com/media/ME1", "image/jpeg")
    ]


def test_a_long_sms_is_truncated_and_says_so():
    message = sms_message(inbound_sms(sms_params(body="x" * 50), received_at=NOW), max_chars=10)
    assert message.text.new_content == "x" * 10 and message.text.truncated


@pytest.mark.parametrize("body", ["STOP", " stop ", "Unsubscribe", "START"])
def test_opt_out_keywords_are_left_to_twilio(body):
    assert is_keyword_only(sms_params(body=body))


def test_a_message_that_merely_contains_stop_is_a_request():
    assert not is_keyword_only(sms_params(body="Please stop charging my card"))


def pbx(**fields) -> PbxEvent:
    base = {"from": "+14155550100", "to": "+18005550123", "system": "asterisk-hq"}
    return PbxEvent.model_validate(base | fields)


def test_a_phone_systems_missed_call_is_a_call_ended_fact():
    fact = pbx_input(pbx(event="call.status", call_id="1001", status="missed", department="orders"), received_at=NOW)
    assert isinstance(fact, CallFact)
    assert fact.kind is FactKind.CALL_ENDED
    assert fact.status is CallStatus.NO_ANSWER
    assert fact.call_key == "pbx/asterisk-hq/1001"
    assert fact.team == "orders"


def test_a_phone_systems_answered_call_is_an_answered_transfer():
    fact = pbx_input(pbx(event="call.status", call_id="1001", status="answered"), received_at=NOW)
    assert fact.kind is FactKind.TRANSFER and fact.status is CallStatus.ANSWERED


def test_a_phone_systems_voicemail_and_transcript_are_facts_of_the_same_call():
    recording = pbx_input(
        pbx(
            event="voicemail.recorded", call_id="1001", recording={"url": "https://pbx/r/1.wav", "duration_seconds": 12}
        ),
        received_at=NOW,
    )
    transcript = pbx_input(
        pbx(event="voicemail.transcribed", call_id="1001", transcript={"text": "please call me"}), received_at=NOW
    )
    assert recording.kind is FactKind.RECORDING and transcript.kind is FactKind.TRANSCRIPTION
    assert recording.call_key == transcript.call_key


def test_a_phone_systems_sms_is_an_inbound_sms():
    sms = pbx_input(pbx(event="sms.received", message_id="m-7", text="hello", language="en"), received_at=NOW)
    message = sms_message(sms, max_chars=100)
    assert message.channel is Channel.SMS and message.routing_hints.language is Language.EN


def test_a_phone_system_event_without_what_it_needs_is_invalid():
    with pytest.raises(ValidationError, match="needs status"):
        pbx(event="call.status", call_id="1001")
