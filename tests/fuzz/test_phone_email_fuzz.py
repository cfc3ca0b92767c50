"""Fuzzing intake-phone's and intake-email's public endpoints: no input makes them answer 5xx.

Two depths. Unsigned, from the OpenAPI document (schemathesis): whatever arrives is refused or
accepted, never a server error. Signed (hypothesis): bodies that pass the signature check (Twilio's
scheme, the phone-system HMAC, the inbound-mail bearer token) so that the parsing behind the check is
what gets fuzzed: random and half-plausible Twilio form fields, random JSON to the phone-system
webhook, and raw bytes and mangled real-looking messages as email. Both apps run against the real
broker, so an accepted input really is published.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

TWILIO_TOKEN = "f" * 32
PBX_SECRET = "fuzz-pbx-secret"
INBOUND_TOKEN = "fuzz-inbound-token"
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)


@dataclass
class Served:
    url: str
    client: httpx.Client


@pytest.fixture(scope="module")
def phone(serve_service) -> Iterator[Served]:
    env = {"TWILIO_AUTH_TOKEN": TWILIO_TOKEN, "TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "PBX_WEBHOOK_SECRET": PBX_SECRET}
    with serve_service("intake-phone", "switchboard_intake_phone.main", env) as url, httpx.Client(timeout=30) as client:
        yield Served(url, client)


@pytest.fixture(scope="module")
def email(serve_service) -> Iterator[Served]:
    env = {"EMAIL_INBOUND_TOKEN": INBOUND_TOKEN, "EMAIL_OWN_ADDRESSES": '["support@shop.example"]'}
    with serve_service("intake-email", "switchboard_intake_email.main", env) as url, httpx.Client(timeout=30) as client:
        yield Served(url, client)


def _schema_fuzz(served: Served) -> list[str]:
    document = served.client.get(f"{served.url}/openapi.json").json()
    operations = [result.ok() for result in schemathesis.openapi.from_dict(document).get_all_operations()]
    assert operations, "the OpenAPI document lists no operation"
    failures: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case) -> None:
            response = case.call(base_url=served.url, timeout=30)
            assert response.status_code < 500, f"{response.status_code}: {response.text[:300]}"

        try:
            check()
        except AssertionError as exc:
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    return failures


def test_unsigned_input_never_makes_intake_phone_fail(phone: Served) -> None:
    assert _schema_fuzz(phone) == []


def test_unsigned_input_never_makes_intake_email_fail(email: Served) -> None:
    assert _schema_fuzz(email) == []


TWILIO_PATHS = [
    "/voice",
    "/voice/menu",
    "/voice/dial",
    "/voice/recorded",
    "/voice/recording",
    "/voice/transcription",
    "/voice/status",
    "/sms",
]
TWILIO_FIELDS = [
    "AccountSid",
    "CallSid",
    "MessageSid",
    "From",
    "To",
    "Caller",
    "Called",
    "FromCountry",
    "CallStatus",
    "Direction",
    "Digits",
    "SpeechResult",
    "Body",
    "NumMedia",
    "MediaUrl0",
    "MediaContentType0",
    "RecordingUrl",
    "RecordingSid",
    "RecordingDuration",
    "RecordingStatus",
    "TranscriptionText",
    "TranscriptionStatus",
    "DialCallStatus",
    "QueueResult",
    "CallDuration",
]
PLAUSIBLE = st.sampled_from(
    ["", "+14155550100", "+8613800138000", "anonymous", "1", "2", "9", "#", "completed", "no-answer",
     "in-progress", "inbound", "STOP", "999999999999999999999", "-1", "NaN", "https://example.com/r",
     "\x00", "订单 12345 没到", "SB-78T-JAF-TKG"]
)  # fmt: skip
TWILIO_FORMS = st.dictionaries(
    st.sampled_from(TWILIO_FIELDS) | st.text(min_size=1, max_size=12),
    PLAUSIBLE | st.text(max_size=300),
    max_size=14,
)


@FUZZ
@given(path=st.sampled_from(TWILIO_PATHS), form=TWILIO_FORMS)
def test_signed_twilio_webhooks_with_any_fields_never_fail(phone: Served, path: str, form: dict[str, str]) -> None:
    url = f"{phone.url}/v1/phone/twilio{path}"
    form = {key: value.replace("\x00", "") for key, value in form.items() if "\x00" not in key}
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, form)
    response = phone.client.post(url, data=form, headers={"X-Twilio-Signature": signature})
    assert response.status_code < 500, f"{path} {form!r}: {response.status_code} {response.text[:300]}"
    assert "X-Twilio-Signature" not in response.text, "the fuzzed body must get past the signature check"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=60) | PLAUSIBLE,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)
PBX_EVENTS = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["sms", "missed_call", "voicemail", "call_ended", "unknown"]) | st.text(max_size=10),
        "event_id": st.text(max_size=40),
        "from": PLAUSIBLE | st.text(max_size=20),
        "to": PLAUSIBLE | st.text(max_size=20),
        "text": st.text(max_size=300),
        "occurred_at": st.sampled_from(["2026-11-24T10:00:00Z", "yesterday", "", "2026-13-40T99:00:00"]),
        "recording_url": PLAUSIBLE,
        "language": st.sampled_from(["en", "zh-Hans", "xx", ""]),
        "team": st.sampled_from(["orders", "nobody", ""]),
        "extra": JSON_VALUES,
    },
)


@FUZZ
@given(event=PBX_EVENTS | JSON_VALUES)
def test_signed_phone_system_events_with_any_json_never_fail(phone: Served, event: object) -> None:
    from switchboard_intake_phone.pbx_signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, pbx_signature

    body = json.dumps(event).encode()
    stamp = int(time.time())
    response = phone.client.post(
        f"{phone.url}/v1/phone/pbx/events",
        content=body,
        headers={
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: str(stamp),
            SIGNATURE_HEADER: pbx_signature(PBX_SECRET, stamp, body),
        },
    )
    assert response.status_code < 500, f"{event!r}: {response.status_code} {response.text[:300]}"
    assert response.status_code != 403, f"the fuzzed body must get past the signature check: {response.text[:200]}"


def _mail(subject: str, body: str, sender: str, charset: str) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "support@shop.example"
    message["Subject"] = subject
    message["Message-ID"] = f"<{uuid.uuid4().hex}@example.com>"
    try:
        body.encode(charset)
    except UnicodeEncodeError:
        charset = "utf-8"
    message.set_content(body.encode("utf-8", "replace").decode("utf-8"), charset=charset)
    return message.as_bytes()


MAILS = st.builds(
    _mail,
    st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=80),
    st.text(max_size=400),
    st.sampled_from(["Customer <c@example.com>", "no-reply@x", "=?utf-8?b?5a6i5oi3?= <k@example.cn>", "<>"]),
    st.sampled_from(["utf-8", "gb18030", "big5", "iso-8859-1"]),
)


def _mangle(data: bytes, cuts: list[int]) -> bytes:
    """Drop, duplicate or corrupt pieces of a well-formed message."""
    out = bytearray(data)
    for cut in cuts:
        if not out:
            break
        at = cut % len(out)
        if cut % 3 == 0:
            del out[at : at + 7]
        elif cut % 3 == 1:
            out[at:at] = out[at : at + 11]
        else:
            out[at] = (out[at] + cut) % 256
    return bytes(out)


RAW_MESSAGES = (
    st.binary(max_size=2000)
    | st.builds(_mangle, MAILS, st.lists(st.integers(0, 10_000), max_size=6))
    | st.builds(lambda h, b: (h + "\r\n\r\n" + b).encode("utf-8", "surrogatepass"), st.text(max_size=200), st.text())
)


@FUZZ
@given(raw=RAW_MESSAGES)
def test_authorised_raw_mail_of_any_shape_never_fails(email: Served, raw: bytes) -> None:
    response = email.client.post(
        f"{email.url}/v1/email/inbound",
        content=raw,
        headers={"Authorization": f"Bearer {INBOUND_TOKEN}", "Content-Type": "message/rfc822"},
    )
    assert response.status_code < 500, f"{raw[:200]!r}: {response.status_code} {response.text[:300]}"
    assert response.status_code in {200, 202, 400, 413, 422}, response.text[:300]
