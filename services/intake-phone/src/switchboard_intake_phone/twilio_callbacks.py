"""Twilio's voice and SMS webhook parameters, turned into call facts and inbound SMS.

Pure: the form parameters (as Twilio posts them) and the choices carried in the callback URL in,
:class:`~switchboard_intake_phone.facts.CallFact` or :class:`~switchboard_intake_phone.messages.InboundSms`
out. A callback without the ids it must carry raises :class:`InvalidCallback` (answered 400).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime

from switchboard_common.events.models import Language
from switchboard_common.identity import event_id
from switchboard_intake_phone.facts import (
    Caller,
    CallFact,
    CallStatus,
    FactKind,
    Recording,
    Transcription,
)
from switchboard_intake_phone.messages import InboundSms, Media

PROVIDER = "twilio"

# Twilio's call and transfer results, in our terms.
CALL_STATUS = {
    "completed": CallStatus.COMPLETED,
    "busy": CallStatus.BUSY,
    "no-answer": CallStatus.NO_ANSWER,
    "failed": CallStatus.FAILED,
    "canceled": CallStatus.ABANDONED,
}
DIAL_STATUS = {
    "completed": CallStatus.ANSWERED,
    "answered": CallStatus.ANSWERED,
    "busy": CallStatus.BUSY,
    "no-answer": CallStatus.NO_ANSWER,
    "failed": CallStatus.FAILED,
    "canceled": CallStatus.ABANDONED,
}
QUEUE_RESULT = {
    "bridged": CallStatus.ANSWERED,
    "bridging-in-process": CallStatus.ANSWERED,
    "hangup": CallStatus.ABANDONED,
    "leave": CallStatus.NO_ANSWER,
    "redirected": CallStatus.NO_ANSWER,
    "queue-full": CallStatus.BUSY,
    "error": CallStatus.FAILED,
    "system-error": CallStatus.FAILED,
}
# Keywords Twilio's opt-out handling answers itself (STOP, START and their synonyms): not requests.
OPT_OUT_KEYWORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "START", "YES", "UNSTOP"}
)


class InvalidCallback(ValueError):
    """A callback without what it must carry."""


def form_fields(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The first value of each parameter (Twilio sends each once)."""
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields


def _required(params: Mapping[str, str], *names: str) -> str:
    for name in names:
        value = params.get(name, "").strip()
        if value:
            return value
    raise InvalidCallback(f"missing parameter {names[0]}")


def _caller(params: Mapping[str, str]) -> Caller:
    return Caller(
        our_number=params.get("To", "").strip() or params.get("Called", "").strip(),
        number=params.get("From", "").strip() or params.get("Caller", "").strip(),
        name=params.get("CallerName", "").strip() or None,
        country=params.get("FromCountry", "").strip() or None,
    )


def _fact(
    kind: FactKind,
    params: Mapping[str, str],
    *,
    distinguisher: str,
    received_at: datetime,
    language: Language | None,
    team: str | None,
    **fields: object,
) -> CallFact:
    account = _required(params, "AccountSid")
    call_sid = _required(params, "CallSid")
    return CallFact(
        fact_id=event_id(PROVIDER, account, call_sid, kind.value, distinguisher),
        kind=kind,
        provider=PROVIDER,
        account=account,
        call_id=call_sid,
        received_at=received_at,
        caller=_caller(params),
        language=language,
        team=team,
        provider_ids={"call_sid": call_sid, "account_sid": account},
        raw_ref=f"twilio:{account}/Calls/{call_sid}",
        **fields,
    )


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def recording_fact(
    params: Mapping[str, str], *, received_at: datetime, language: Language | None, team: str | None
) -> CallFact:
    """From the <Record> action or the recording status callback (same RecordingSid: same fact)."""
    sid = params.get("RecordingSid", "").strip()
    status = params.get("RecordingStatus", "completed").strip() or "completed"
    url = params.get("RecordingUrl", "").strip() or None
    completed = status == "completed" and url is not None
    started: datetime | None = None
    if params.get("RecordingStartTime"):
        try:
            started = parsedate_to_datetime(params["RecordingStartTime"])
        except (TypeError, ValueError):
            started = None
    fact = _fact(
        FactKind.RECORDING,
        params,
        distinguisher=sid or status,
        received_at=received_at,
        language=language,
        team=team,
        recording=Recording(
            completed=completed,
            sid=sid or None,
            url=url,
            duration_seconds=_seconds(params.get("RecordingDuration")),
            started_at=started,
            error=None if completed else (params.get("ErrorCode") or status),
        ),
    )
    if sid:
        fact.provider_ids["recording_sid"] = sid
    return fact


def transcription_fact(
    params: Mapping[str, str], *, received_at: datetime, language: Language | None, team: str | None
) -> CallFact:
    sid = params.get("TranscriptionSid", "").strip()
    recording_sid = params.get("RecordingSid", "").strip()
    status = params.get("TranscriptionStatus", "").strip()
    text = params.get("TranscriptionText", "")
    fact = _fact(
        FactKind.TRANSCRIPTION,
        params,
        distinguisher=sid or recording_sid or "transcription",
        received_at=received_at,
        language=language,
        team=team,
        transcription=Transcription(
            completed=status == "completed" and bool(text.strip()),
            sid=sid or None,
            text=text,
            recording_sid=recording_sid or None,
            recording_url=params.get("RecordingUrl", "").strip() or None,
        ),
    )
    if sid:
        fact.provider_ids["transcription_sid"] = sid
    if recording_sid:
        fact.provider_ids["recording_sid"] = recording_sid
    return fact


def transfer_fact(
    params: Mapping[str, str], *, received_at: datetime, language: Language | None, team: str | None
) -> CallFact:
    """From the <Dial> action (DialCallStatus) or the <Enqueue> action (QueueResult)."""
    if params.get("DialCallStatus"):
        provider_status = params["DialCallStatus"].strip()
        status = DIAL_STATUS.get(provider_status, CallStatus.FAILED)
        distinguisher = params.get("DialCallSid", "").strip() or "dial"
    elif params.get("QueueResult"):
        provider_status = params["QueueResult"].strip()
        status = QUEUE_RESULT.get(provider_status, CallStatus.FAILED)
        distinguisher = params.get("QueueSid", "").strip() or "queue"
    else:
        raise InvalidCallback("missing parameter DialCallStatus (or QueueResult)")
    return _fact(
        FactKind.TRANSFER,
        params,
        distinguisher=distinguisher,
        received_at=received_at,
        language=language,
        team=team,
        status=status,
        provider_status=provider_status,
    )


def call_ended_fact(params: Mapping[str, str], *, received_at: datetime) -> CallFact | None:
    """From the call's status callback; None for statuses that are not an end (ringing, in-progress)."""
    provider_status = _required(params, "CallStatus")
    status = CALL_STATUS.get(provider_status)
    if status is None:
        return None
    return _fact(
        FactKind.CALL_ENDED,
        params,
        distinguisher="end",
        received_at=received_at,
        language=None,
        team=None,
        status=status,
        provider_status=provider_status,
    )


def is_keyword_only(params: Mapping[str, str]) -> bool:
    """An opt-out/opt-in keyword Twilio handles itself (it reports OptOutType, or the body is the keyword)."""
    if params.get("OptOutType", "").strip():
        return True
    return params.get("Body", "").strip().upper() in OPT_OUT_KEYWORDS


def inbound_sms(params: Mapping[str, str], *, received_at: datetime) -> InboundSms:
    account = _required(params, "AccountSid")
    sid = _required(params, "MessageSid", "SmsMessageSid", "SmsSid")
    media: list[Media] = []
    count = params.get("NumMedia", "0").strip()
    for index in range(int(count) if count.isdigit() else 0):
        url = params.get(f"MediaUrl{index}", "").strip()
        if url:
            media.append(
                Media(url=url, content_type=params.get(f"MediaContentType{index}", "application/octet-stream"))
            )
    return InboundSms(
        provider=PROVIDER,
        account=account,
        message_id=sid,
        our_number=_required(params, "To"),
        sender=params.get("From", "").strip(),
        body=params.get("Body", ""),
        received_at=received_at,
        media=media,
        provider_ids={"message_sid": sid, "account_sid": account},
        raw_ref=f"twilio:{account}/Messages/{sid}",
    )
