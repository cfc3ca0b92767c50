"""The message events intake-phone publishes: inbound SMS, voicemails and callback requests.

Pure: provider input (already parsed into :class:`InboundSms` or a call's facts) in,
:class:`~switchboard_common.events.models.IntakeMessage` out.

* The conversation is the caller's number on our number (an opaque key: conversation ids never
  carry a phone number); a caller who withholds their number gets a conversation of that one call.
* The acknowledgement goes back by SMS from our number to the caller.
* Event ids derive from the provider's ids and the kind of message, so a retried callback gives the
  same event id.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from switchboard_common.events.models import (
    Attachment,
    Channel,
    CustomerIdentity,
    IntakeMessage,
    Language,
    MessageKind,
    MessageText,
    ReplyTarget,
    RoutingHints,
    ThreadInfo,
    TranscriptStatus,
)
from switchboard_common.identity import conversation_key, customer_key, event_id
from switchboard_common.text import safe_plain_text
from switchboard_intake_phone.facts import Caller, CallFact, CallStatus, FactKind
from switchboard_intake_phone.ivr import IvrConfig

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
# Numbers Twilio reports for callers who withheld or could not present caller ID.
WITHHELD_PLACEHOLDERS = frozenset({"+266696687", "+7378742833", "+2562533", "+8656696", "+86282452253"})
WITHHELD = "withheld"


def is_reachable_number(number: str | None) -> bool:
    """Whether ``number`` is a real caller number (E.164, not a withheld-caller placeholder)."""
    return bool(number) and number not in WITHHELD_PLACEHOLDERS and E164.match(number or "") is not None


@dataclass(frozen=True, slots=True)
class Party:
    """Who is talking to whom, as the events need it."""

    conversation_id: str
    customer: CustomerIdentity
    reply_to: ReplyTarget


def party(our_number: str, caller: str, *, name: str | None = None, call_id: str | None = None) -> Party:
    """Conversation, customer and reply address for a caller (or texter) of ``our_number``."""
    if is_reachable_number(caller):
        conversation = conversation_key("phone", our_number, caller)
        customer = CustomerIdentity(key=customer_key("phone", caller), handle=caller, display_name=name)
        address = caller
    else:  # one caller who withheld their number is not every such caller: a conversation per call
        reference = call_id or caller or WITHHELD
        conversation = conversation_key("phone", our_number, WITHHELD, reference)
        customer = CustomerIdentity(key=customer_key("phone", f"{WITHHELD}:{reference}"), handle=WITHHELD)
        address = WITHHELD
    return Party(
        conversation_id=conversation,
        customer=customer,
        reply_to=ReplyTarget(channel=Channel.SMS, account=our_number, address=address),
    )


def _text(original: str, max_chars: int) -> MessageText:
    plain, truncated = safe_plain_text(original, max_chars)
    return MessageText(original=original[: max_chars * 2], plain=plain, new_content=plain, truncated=truncated)


# -- SMS -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Media:
    url: str
    content_type: str


@dataclass(frozen=True, slots=True)
class InboundSms:
    """An SMS as any provider reports it."""

    provider: str
    account: str
    message_id: str
    our_number: str
    sender: str
    body: str
    received_at: datetime
    media: Sequence[Media] = ()
    provider_ids: dict[str, str] = field(default_factory=dict)
    raw_ref: str | None = None
    language: Language | None = None
    team: str | None = None


def sms_message(sms: InboundSms, *, max_chars: int) -> IntakeMessage:
    who = party(sms.our_number, sms.sender)
    return IntakeMessage(
        event_id=event_id(sms.provider, sms.account, sms.message_id, "sms"),
        channel=Channel.SMS,
        channel_account=sms.our_number,
        kind=MessageKind.MESSAGE,
        received_at=sms.received_at,
        conversation_id=who.conversation_id,
        customer=who.customer,
        reply_to=who.reply_to,
        text=_text(sms.body, max_chars),
        language_hint=sms.language,
        attachments=[Attachment(content_type=m.content_type, url=m.url, disposition="inline") for m in sms.media],
        routing_hints=RoutingHints(department=sms.team, language=sms.language),
        provider_ids=dict(sms.provider_ids),
        raw_ref=sms.raw_ref,
    )


# -- calls ---------------------------------------------------------------------------------------


def _call_message(
    facts: Sequence[CallFact],
    *,
    kind: MessageKind,
    event_kind: str,
    received_at: datetime,
    text: MessageText,
    attachments: list[Attachment],
    extra_ids: dict[str, str],
    thread: ThreadInfo | None = None,
) -> IntakeMessage:
    first = facts[0]
    caller = _merged_caller(facts)
    language = next((f.language for f in facts if f.language is not None), None)
    team = next((f.team for f in facts if f.team is not None), None)
    who = party(caller.our_number, caller.number, name=caller.name, call_id=first.call_id)
    provider_ids: dict[str, str] = {}
    for fact in facts:
        provider_ids.update(fact.provider_ids)
    provider_ids.update(extra_ids)
    return IntakeMessage(
        event_id=call_event_id(first, event_kind),
        channel=Channel.PHONE,
        channel_account=caller.our_number,
        kind=kind,
        received_at=received_at,
        conversation_id=who.conversation_id,
        customer=who.customer,
        reply_to=who.reply_to,
        text=text,
        language_hint=language,
        attachments=attachments,
        thread=thread or ThreadInfo(),
        routing_hints=RoutingHints(department=team, language=language),
        provider_ids=provider_ids,
        raw_ref=first.raw_ref,
    )


def call_event_id(fact: CallFact, event_kind: str) -> str:
    return event_id(fact.provider, fact.account, fact.call_id, event_kind)


def _merged_caller(facts: Sequence[CallFact]) -> Caller:
    """Callbacks differ in what they carry (a transcription callback may lack the caller's name)."""
    merged = Caller()
    for fact in facts:
        c = fact.caller
        merged = Caller(
            our_number=merged.our_number or c.our_number,
            number=merged.number or c.number,
            name=merged.name or c.name,
            country=merged.country or c.country,
        )
    return merged


def _language_of(ivr: IvrConfig, facts: Sequence[CallFact]) -> Language:
    return ivr.language(next((f.language.value for f in facts if f.language is not None), None))


def voicemail_message(
    ivr: IvrConfig,
    facts: Sequence[CallFact],
    recording: CallFact | None,
    transcription: CallFact | None,
    *,
    max_chars: int,
) -> tuple[IntakeMessage, TranscriptStatus]:
    """One voicemail: the transcript as text, the recording as an attachment (metadata only)."""
    anchor = recording or transcription
    assert anchor is not None, "a voicemail needs a recording or a transcript"
    rec = recording.recording if recording is not None else None
    trans = transcription.transcription if transcription is not None else None
    language = _language_of(ivr, facts)
    duration = rec.duration_seconds if rec is not None else None
    shown_duration = f"{duration:.0f}" if duration is not None else "?"
    if trans is not None and trans.completed and trans.text.strip():
        status = TranscriptStatus.TRANSCRIBED
        text = _text(trans.text, max_chars)
    elif trans is not None:
        status = TranscriptStatus.FAILED
        text = _text(ivr.text(language, "voicemail_transcription_failed", duration=shown_duration), max_chars)
    else:
        status = TranscriptStatus.MISSING
        text = _text(ivr.text(language, "voicemail_untranscribed", duration=shown_duration), max_chars)
    url = (rec.url if rec is not None else None) or (trans.recording_url if trans is not None else None)
    attachment = Attachment(
        content_type=rec.content_type if rec is not None else "audio/wav",
        disposition="recording",
        url=url,
        duration_seconds=duration,
        transcript=status,
    )
    ids = {"transcription": {"transcribed": "completed"}.get(status.value, status.value)}
    message = _call_message(
        facts,
        kind=MessageKind.VOICEMAIL,
        event_kind="voicemail",
        received_at=anchor.received_at,
        text=text,
        attachments=[attachment],
        extra_ids=ids,
    )
    if rec is not None and rec.started_at is not None:
        message = message.model_copy(update={"sent_at": rec.started_at})
    return message, status


def transcript_message(
    ivr: IvrConfig, facts: Sequence[CallFact], transcription: CallFact, *, max_chars: int
) -> IntakeMessage:
    """A transcript that arrived after its voicemail went out untranscribed: a follow-up in the conversation."""
    trans = transcription.transcription
    assert trans is not None
    voicemail_id = call_event_id(transcription, "voicemail")
    return _call_message(
        facts,
        kind=MessageKind.VOICEMAIL,
        event_kind="voicemail-transcript",
        received_at=transcription.received_at,
        text=_text(trans.text, max_chars),
        attachments=[
            Attachment(
                content_type="audio/wav",
                disposition="recording",
                url=trans.recording_url,
                transcript=TranscriptStatus.TRANSCRIBED,
            )
        ],
        extra_ids={"transcription": "completed", "transcript_of": voicemail_id},
        thread=ThreadInfo(in_reply_to=voicemail_id, references=[voicemail_id]),
    )


REASON_BY_STATUS = {
    CallStatus.BUSY: "busy",
    CallStatus.NO_ANSWER: "no_answer",
    CallStatus.FAILED: "failed",
    CallStatus.ABANDONED: "abandoned",
}


def callback_reason(facts: Sequence[CallFact]) -> str:
    """Why nobody talked to the caller: how the transfer ended, else how the call ended."""
    for kind in (FactKind.TRANSFER, FactKind.CALL_ENDED):
        for fact in facts:
            if fact.kind is kind and fact.status in REASON_BY_STATUS:
                return REASON_BY_STATUS[fact.status]
    if any(f.kind is FactKind.RECORDING for f in facts):
        return "no_message"
    return "abandoned"


def callback_request_message(ivr: IvrConfig, facts: Sequence[CallFact], *, max_chars: int) -> IntakeMessage:
    """A call in which nobody talked to the caller and no voicemail was left: call them back."""
    language = _language_of(ivr, facts)
    reason = callback_reason(facts)
    parts = [ivr.text(language, "callback_request", reason=ivr.reason(language, reason))]
    team = next((f.team for f in facts if f.team is not None), None)
    if team is not None:
        parts.append(ivr.text(language, "team_chosen", team=ivr.team_name(language, team)))
    separator = "" if language is not Language.EN else " "
    ended = max(f.received_at for f in facts)
    return _call_message(
        facts,
        kind=MessageKind.CALLBACK_REQUEST,
        event_kind="callback_request",
        received_at=ended,
        text=_text(separator.join(parts), max_chars),
        attachments=[],
        extra_ids={"call_outcome": reason},
    )
