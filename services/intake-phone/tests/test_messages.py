"""The message events a call becomes: voicemail (transcribed or not), transcript follow-up, callback request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from switchboard_common.events.models import Channel, Language, MessageKind, TranscriptStatus
from switchboard_common.identity import conversation_key
from switchboard_intake_phone.facts import Caller, CallFact, CallStatus, FactKind, Recording, Transcription
from switchboard_intake_phone.ivr import load_ivr_config
from switchboard_intake_phone.messages import (
    callback_request_message,
    is_reachable_number,
    transcript_message,
    voicemail_message,
)

IVR = load_ivr_config()
T0 = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
CALLER = Caller(our_number="+18005550123", number="+8613800138000")


def fact(kind: FactKind, *, language=Language.ZH_HANS, team="logistics", caller=CALLER, at=0.0, **fields) -> CallFact:
    return CallFact(
        fact_id=f"{kind.value}-{at}",
        kind=kind,
        provider="twilio",
        account="AC1",
        call_id="CA1",
        received_at=T0 + timedelta(seconds=at),
        caller=caller,
        language=language,
        team=team,
        provider_ids={"call_sid": "CA1"},
        **fields,
    )


REC = fact(FactKind.RECORDING, recording=Recording(url="https://api.twilio.com/R/RE1", duration_seconds=31, sid="RE1"))
TRANS = fact(FactKind.TRANSCRIPTION, at=9, transcription=Transcription(completed=True, text="我的快递三天没更新了"))


def test_a_transcribed_voicemail_carries_the_transcript_as_text_and_the_recording_as_metadata():
    message, status = voicemail_message(IVR, [REC, TRANS], REC, TRANS, max_chars=4000)
    assert status is TranscriptStatus.TRANSCRIBED
    assert message.kind is MessageKind.VOICEMAIL and message.channel is Channel.PHONE
    assert message.text.new_content == "我的快递三天没更新了"
    [attachment] = message.attachments
    assert attachment.url == "https://api.twilio.com/R/RE1"
    assert attachment.duration_seconds == 31
    assert attachment.disposition == "recording"
    assert attachment.transcript is TranscriptStatus.TRANSCRIBED
    assert message.routing_hints.department == "logistics"
    assert message.routing_hints.language is Language.ZH_HANS
    assert message.received_at == REC.received_at
    assert message.provider_ids["transcription"] == "completed"


def test_an_untranscribed_voicemail_says_so_in_the_callers_language_and_is_flagged():
    message, status = voicemail_message(IVR, [REC], REC, None, max_chars=4000)
    assert status is TranscriptStatus.MISSING
    assert message.text.new_content == "语音留言（31秒），暂无文字记录，请收听录音。"
    assert message.attachments[0].transcript is TranscriptStatus.MISSING
    assert message.provider_ids["transcription"] == "missing"


def test_a_voicemail_whose_transcription_failed_is_flagged_failed():
    failed = fact(FactKind.TRANSCRIPTION, language=Language.EN, transcription=Transcription(completed=False))
    message, status = voicemail_message(IVR, [REC, failed], REC, failed, max_chars=4000)
    assert status is TranscriptStatus.FAILED
    assert message.provider_ids["transcription"] == "failed"


def test_the_voicemail_event_id_is_the_same_whichever_callback_came_first():
    first, _ = voicemail_message(IVR, [REC, TRANS], REC, TRANS, max_chars=4000)
    late, _ = voicemail_message(IVR, [TRANS, REC], REC, None, max_chars=4000)
    assert first.event_id == late.event_id


def test_a_late_transcript_follows_the_voicemail_in_its_conversation():
    voicemail, _ = voicemail_message(IVR, [REC], REC, None, max_chars=4000)
    follow_up = transcript_message(IVR, [TRANS], TRANS, max_chars=4000)
    assert follow_up.conversation_id == voicemail.conversation_id
    assert follow_up.event_id != voicemail.event_id
    assert follow_up.thread.in_reply_to == voicemail.event_id
    assert follow_up.text.new_content == "我的快递三天没更新了"


def test_a_callback_request_explains_the_missed_call_and_the_chosen_team_in_the_callers_language():
    busy = fact(FactKind.TRANSFER, language=Language.EN, team="billing", status=CallStatus.BUSY)
    end = fact(FactKind.CALL_ENDED, language=None, team=None, at=20, status=CallStatus.COMPLETED)
    message = callback_request_message(IVR, [busy, end], max_chars=4000)
    assert message.kind is MessageKind.CALLBACK_REQUEST
    assert message.text.new_content == (
        "Missed call: the line was busy. Please call the customer back. The caller chose billing and payments."
    )
    assert message.routing_hints.department == "billing"
    assert message.received_at == end.received_at
    assert message.provider_ids["call_outcome"] == "busy"


def test_a_caller_who_hung_up_in_the_menu_is_a_callback_request_for_an_abandoned_call():
    end = fact(FactKind.CALL_ENDED, language=None, team=None, status=CallStatus.COMPLETED)
    message = callback_request_message(IVR, [end], max_chars=4000)
    assert (
        message.text.new_content
        == "Missed call: the caller hung up before reaching anyone. Please call the customer back."
    )
    assert message.routing_hints.department is None


def test_the_conversation_is_the_callers_number_on_our_number_without_showing_it():
    message, _ = voicemail_message(IVR, [REC, TRANS], REC, TRANS, max_chars=4000)
    assert message.conversation_id == conversation_key("phone", "+18005550123", "+8613800138000")
    assert "13800138000" not in message.conversation_id
    assert (message.reply_to.channel, message.reply_to.address) == (Channel.SMS, "+8613800138000")


def test_callers_who_withhold_their_number_get_a_conversation_per_call():
    anonymous = Caller(our_number="+18005550123", number="+266696687")
    first = fact(FactKind.CALL_ENDED, caller=anonymous, status=CallStatus.COMPLETED)
    other = first.model_copy(update={"call_id": "CA2"})
    one = callback_request_message(IVR, [first], max_chars=4000)
    two = callback_request_message(IVR, [other], max_chars=4000)
    assert one.conversation_id != two.conversation_id
    assert one.reply_to.address == "withheld"
    assert not is_reachable_number("+266696687")
    assert is_reachable_number("+14155550100")
