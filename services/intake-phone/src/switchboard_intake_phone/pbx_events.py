"""The generic phone-system webhook's JSON events, turned into call facts and inbound SMS.

Any PBX or contact-center system can report calls in this format (see the README's "Phone" section):

* ``call.status``: how a call ended: ``answered`` (someone talked to the caller), ``completed``,
  ``missed``/``no_answer``, ``busy``, ``failed`` or ``abandoned``;
* ``voicemail.recorded``: a voicemail's recording (URL, duration);
* ``voicemail.transcribed``: its transcript (or ``"status": "failed"``);
* ``sms.received``: an inbound text message.

They go through the same call-outcome decisions as Twilio's callbacks: a recording and its
transcript make one voicemail, a call nobody answered and without voicemail a callback request.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator

from switchboard_common.events.models import Language
from switchboard_common.identity import event_id
from switchboard_intake_phone.facts import Caller, CallFact, CallStatus, FactKind, Recording, Transcription
from switchboard_intake_phone.messages import InboundSms, Media

PROVIDER = "pbx"

STATUS = {
    "answered": CallStatus.ANSWERED,
    "completed": CallStatus.COMPLETED,
    "missed": CallStatus.NO_ANSWER,
    "no_answer": CallStatus.NO_ANSWER,
    "busy": CallStatus.BUSY,
    "failed": CallStatus.FAILED,
    "abandoned": CallStatus.ABANDONED,
}


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class PbxRecording(_Lenient):
    id: str | None = Field(default=None, max_length=200)
    url: HttpUrl
    duration_seconds: float | None = Field(default=None, ge=0)
    content_type: str = Field(default="audio/wav", max_length=100)


class PbxTranscript(_Lenient):
    id: str | None = Field(default=None, max_length=200)
    status: Literal["completed", "failed"] = "completed"
    text: str = Field(default="", max_length=20_000)
    recording_url: HttpUrl | None = None


class PbxMedia(_Lenient):
    url: HttpUrl
    content_type: str = Field(default="application/octet-stream", max_length=100)


class PbxEvent(_Lenient):
    """One event from a phone system."""

    event: Literal["call.status", "voicemail.recorded", "voicemail.transcribed", "sms.received"]
    system: str = Field(default="pbx", pattern=r"^[A-Za-z0-9._-]{1,64}$", description="Names the sending system.")
    call_id: str | None = Field(default=None, min_length=1, max_length=200)
    message_id: str | None = Field(default=None, min_length=1, max_length=200)
    from_: str = Field(alias="from", min_length=1, max_length=64, description="The caller's number (E.164).")
    to: str = Field(min_length=1, max_length=64, description="Our number that was called or texted.")
    caller_name: str | None = Field(default=None, max_length=200)
    occurred_at: datetime | None = None
    language: Language | None = None
    department: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{1,48}$")
    status: Literal["answered", "completed", "missed", "no_answer", "busy", "failed", "abandoned"] | None = None
    recording: PbxRecording | None = None
    transcript: PbxTranscript | None = None
    text: str | None = Field(default=None, max_length=20_000)
    media: list[PbxMedia] = Field(default_factory=list, max_length=10)

    @model_validator(mode="after")
    def _complete(self) -> PbxEvent:
        needs = {
            "call.status": ("call_id", "status"),
            "voicemail.recorded": ("call_id", "recording"),
            "voicemail.transcribed": ("call_id", "transcript"),
            "sms.received": ("message_id", "text"),
        }[self.event]
        missing = [name for name in needs if getattr(self, name) is None]
        if missing:
            raise ValueError(f"{self.event} needs {', '.join(missing)}")
        return self


def pbx_input(event: PbxEvent, *, received_at: datetime) -> CallFact | InboundSms:
    """The fact (calls, voicemail) or inbound SMS an event reports."""
    if event.event == "sms.received":
        assert event.message_id is not None
        assert event.text is not None
        return InboundSms(
            provider=PROVIDER,
            account=event.system,
            message_id=event.message_id,
            our_number=event.to,
            sender=event.from_,
            body=event.text,
            received_at=received_at,
            media=[Media(url=str(m.url), content_type=m.content_type) for m in event.media],
            provider_ids={"message_id": event.message_id, "pbx_system": event.system},
            raw_ref=f"pbx:{event.system}/messages/{event.message_id}",
            language=event.language,
            team=event.department,
        )
    assert event.call_id is not None
    kind: FactKind
    fields: dict[str, object] = {}
    distinguisher: str
    if event.event == "call.status":
        assert event.status is not None
        status = STATUS[event.status]
        kind = FactKind.TRANSFER if status is CallStatus.ANSWERED else FactKind.CALL_ENDED
        fields = {"status": status, "provider_status": event.status}
        distinguisher = event.status
    elif event.event == "voicemail.recorded":
        assert event.recording is not None
        kind = FactKind.RECORDING
        fields = {
            "recording": Recording(
                sid=event.recording.id,
                url=str(event.recording.url),
                duration_seconds=event.recording.duration_seconds,
                content_type=event.recording.content_type,
            )
        }
        distinguisher = event.recording.id or str(event.recording.url)
    else:
        assert event.transcript is not None
        kind = FactKind.TRANSCRIPTION
        transcript = event.transcript
        fields = {
            "transcription": Transcription(
                completed=transcript.status == "completed" and bool(transcript.text.strip()),
                sid=transcript.id,
                text=transcript.text,
                recording_url=str(transcript.recording_url) if transcript.recording_url else None,
            )
        }
        distinguisher = transcript.id or "transcript"
    return CallFact(
        fact_id=event_id(PROVIDER, event.system, event.call_id, kind.value, distinguisher),
        kind=kind,
        provider=PROVIDER,
        account=event.system,
        call_id=event.call_id,
        received_at=received_at,
        caller=Caller(our_number=event.to, number=event.from_, name=event.caller_name),
        language=event.language,
        team=event.department,
        provider_ids={"call_id": event.call_id, "pbx_system": event.system},
        raw_ref=f"pbx:{event.system}/calls/{event.call_id}",
        **fields,
    )
