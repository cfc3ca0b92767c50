"""phone.callbacks.v1: intake-phone's own log of what providers told it about each call.

Every voice callback that matters after the call (a recording, a transcript, how a transfer ended,
how the call ended) is one :class:`CallFact`, published keyed by the call before the provider gets
its answer. The call-outcome processor reads them back (any replica, after any restart), decides
what the call amounts to (a voicemail, a callback request, nothing) and writes its decision into the
same log (a ``decided`` fact), in the same transaction as the resulting message events.

Internal to intake-phone: not a published contract, so it has no schema in the catalogue.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from switchboard_common.events import EventSpec
from switchboard_common.events.models import EventModel, Language, TranscriptStatus
from switchboard_common.topics import PHONE_CALLBACKS


class FactKind(StrEnum):
    RECORDING = "recording"
    TRANSCRIPTION = "transcription"
    TRANSFER = "transfer"
    """How a transfer (Dial, Enqueue) or a phone system's agent routing ended."""
    CALL_ENDED = "call_ended"
    DECIDED = "decided"
    """Written by the processor: which facts a decision consumed and what it published."""


class CallStatus(StrEnum):
    """A call's or a transfer's end, in the provider's terms mapped to ours."""

    ANSWERED = "answered"
    COMPLETED = "completed"
    """The call ended normally; whether anyone talked to the caller follows from the other facts."""
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"
    ABANDONED = "abandoned"
    """The caller hung up before reaching anyone."""


class Outcome(StrEnum):
    """What the processor decided for a call."""

    VOICEMAIL = "voicemail"
    TRANSCRIPT = "transcript"
    """A transcript that came after its voicemail was published untranscribed: a follow-up message."""
    CALLBACK_REQUEST = "callback_request"
    ANSWERED = "answered"
    """Someone talked to the caller: no message."""
    NOTHING_NEW = "nothing_new"
    """Facts that add nothing to what was already published (a late status, a second transcript)."""


class Caller(EventModel):
    """Who called whom, as the provider reported it."""

    our_number: str = ""
    number: str = ""
    name: str | None = None
    country: str | None = None


class Recording(EventModel):
    completed: bool = True
    sid: str | None = None
    url: str | None = None
    duration_seconds: float | None = None
    content_type: str = "audio/wav"
    started_at: datetime | None = None
    error: str | None = None


class Transcription(EventModel):
    completed: bool
    sid: str | None = None
    text: str = ""
    recording_sid: str | None = None
    recording_url: str | None = None


class Decision(EventModel):
    outcome: Outcome
    covers: list[str]
    event_ids: list[str] = Field(default_factory=list)
    transcript: TranscriptStatus | None = None


class CallFact(EventModel):
    """One thing a provider said about a call (or the processor's decision about it)."""

    fact_id: str = Field(description="Deterministic from the provider's ids: a retried callback has the same id.")
    kind: FactKind
    provider: str = Field(description="twilio, or pbx for the generic phone-system webhook.")
    account: str = Field(description="Twilio AccountSid, or the phone system's name.")
    call_id: str
    received_at: datetime
    caller: Caller = Field(default_factory=Caller)
    language: Language | None = Field(default=None, description="The caller's language in the IVR.")
    team: str | None = Field(default=None, description="The team the caller chose in the IVR.")
    recording: Recording | None = None
    transcription: Transcription | None = None
    status: CallStatus | None = None
    provider_status: str | None = None
    provider_ids: dict[str, str] = Field(default_factory=dict)
    raw_ref: str | None = None
    decision: Decision | None = None

    @property
    def call_key(self) -> str:
        return call_key(self.provider, self.account, self.call_id)


def call_key(provider: str, account: str, call_id: str) -> str:
    """The record key: every fact of one call lands on one partition, in order."""
    return f"{provider}/{account}/{call_id}"


CALL_FACT = EventSpec(
    topic=PHONE_CALLBACKS,
    ce_type="switchboard.phone.callback.v1",
    model=CallFact,
    key="call_key",
    description="intake-phone's internal log of call callbacks and its decisions about them, keyed by call.",
)
