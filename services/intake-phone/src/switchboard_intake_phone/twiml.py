"""TwiML, the XML Twilio executes during a call: the verbs the IVR uses, rendered safely.

Pure code: the verbs are data, :func:`render` turns them into the XML document (escaped by the XML
serialiser, so a prompt or a URL can never break out of its element).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from xml.etree import ElementTree

CONTENT_TYPE = "application/xml"


@dataclass(frozen=True, slots=True)
class Say:
    text: str
    language: str
    voice: str | None = None


@dataclass(frozen=True, slots=True)
class Gather:
    """Collects keypad input, then requests ``action`` (also without input: ``actionOnEmptyResult``)."""

    action: str
    prompts: Sequence[Say]
    num_digits: int = 1
    timeout_seconds: int = 6


@dataclass(frozen=True, slots=True)
class Dial:
    """Transfers the call to a number or SIP address; ``action`` learns how the transfer ended."""

    action: str
    number: str | None = None
    sip: str | None = None
    timeout_seconds: int = 20
    caller_id: str | None = None


@dataclass(frozen=True, slots=True)
class Enqueue:
    """Puts the caller in a queue for agents; ``action`` learns how the wait ended."""

    queue: str
    action: str


@dataclass(frozen=True, slots=True)
class Record:
    """Records a voicemail; the recording and its transcript arrive at the callbacks."""

    action: str
    recording_status_callback: str
    transcribe_callback: str | None
    max_length_seconds: int
    finish_on_key: str = "#"
    timeout_seconds: int = 5


@dataclass(frozen=True, slots=True)
class Hangup:
    pass


Verb = Say | Gather | Dial | Enqueue | Record | Hangup


@dataclass(frozen=True, slots=True)
class TwimlResponse:
    verbs: Sequence[Verb] = field(default_factory=tuple)


def _say(parent: ElementTree.Element, say: Say) -> None:
    attributes = {"language": say.language}
    if say.voice:
        attributes["voice"] = say.voice
    ElementTree.SubElement(parent, "Say", attributes).text = say.text


def render(response: TwimlResponse) -> str:
    """The TwiML document."""
    root = ElementTree.Element("Response")
    for verb in response.verbs:
        if isinstance(verb, Say):
            _say(root, verb)
        elif isinstance(verb, Gather):
            gather = ElementTree.SubElement(
                root,
                "Gather",
                {
                    "input": "dtmf",
                    "numDigits": str(verb.num_digits),
                    "timeout": str(verb.timeout_seconds),
                    "action": verb.action,
                    "method": "POST",
                    "actionOnEmptyResult": "true",
                },
            )
            for prompt in verb.prompts:
                _say(gather, prompt)
        elif isinstance(verb, Dial):
            attributes = {"action": verb.action, "method": "POST", "timeout": str(verb.timeout_seconds)}
            if verb.caller_id:
                attributes["callerId"] = verb.caller_id
            dial = ElementTree.SubElement(root, "Dial", attributes)
            if verb.number is not None:
                ElementTree.SubElement(dial, "Number").text = verb.number
            elif verb.sip is not None:
                ElementTree.SubElement(dial, "Sip").text = verb.sip
        elif isinstance(verb, Enqueue):
            ElementTree.SubElement(root, "Enqueue", {"action": verb.action, "method": "POST"}).text = verb.queue
        elif isinstance(verb, Record):
            attributes = {
                "action": verb.action,
                "method": "POST",
                "maxLength": str(verb.max_length_seconds),
                "finishOnKey": verb.finish_on_key,
                "timeout": str(verb.timeout_seconds),
                "playBeep": "true",
                "recordingStatusCallback": verb.recording_status_callback,
                "recordingStatusCallbackMethod": "POST",
                "recordingStatusCallbackEvent": "completed absent",
            }
            if verb.transcribe_callback is not None:
                attributes["transcribe"] = "true"
                attributes["transcribeCallback"] = verb.transcribe_callback
            ElementTree.SubElement(root, "Record", attributes)
        elif isinstance(verb, Hangup):
            ElementTree.SubElement(root, "Hangup")
    body = ElementTree.tostring(root, encoding="unicode", short_empty_elements=True)
    return f'<?xml version="1.0" encoding="UTF-8"?>{body}'


EMPTY = render(TwimlResponse())
