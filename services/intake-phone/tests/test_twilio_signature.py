"""X-Twilio-Signature, checked against signatures made by the twilio package (the provider's own code)."""

from __future__ import annotations

import json

from phone_support import AUTH_TOKEN, signature
from twilio.request_validator import RequestValidator

from switchboard_intake_phone.twilio_signature import (
    body_sha256,
    twilio_signature,
    url_variants,
    verify_twilio_signature,
)

URL = "https://phone.example.com/v1/phone/twilio/voice/menu?attempt=1&lang=zh-Hans&step=team"
PARAMS = {"CallSid": "CA123", "Digits": "2", "From": "+14155550100", "To": "+18005550123", "CalledZip": ""}


def test_a_request_signed_by_twilio_is_accepted():
    assert verify_twilio_signature(AUTH_TOKEN, URL, signature(URL, PARAMS), params=PARAMS.items())


def test_our_signature_equals_the_reference_implementation():
    assert twilio_signature(AUTH_TOKEN, URL, PARAMS.items()) == RequestValidator(AUTH_TOKEN).compute_signature(
        URL, PARAMS
    )


def test_a_signature_made_with_another_token_is_refused():
    forged = signature(URL, PARAMS, token="another-token-of-32-characters!!")
    assert not verify_twilio_signature(AUTH_TOKEN, URL, forged, params=PARAMS.items())


def test_a_tampered_parameter_is_refused():
    signed = signature(URL, PARAMS)
    assert not verify_twilio_signature(AUTH_TOKEN, URL, signed, params={**PARAMS, "Digits": "5"}.items())


def test_an_added_parameter_is_refused():
    signed = signature(URL, PARAMS)
    assert not verify_twilio_signature(AUTH_TOKEN, URL, signed, params={**PARAMS, "Extra": "x"}.items())


def test_a_tampered_query_string_is_refused():
    signed = signature(URL, PARAMS)
    moved = URL.replace("lang=zh-Hans", "lang=en")
    assert not verify_twilio_signature(AUTH_TOKEN, moved, signed, params=PARAMS.items())


def test_the_query_string_is_part_of_what_is_signed():
    without_query = URL.split("?")[0]
    assert not verify_twilio_signature(AUTH_TOKEN, without_query, signature(URL, PARAMS), params=PARAMS.items())


def test_a_missing_signature_is_refused():
    assert not verify_twilio_signature(AUTH_TOKEN, URL, None, params=PARAMS.items())
    assert not verify_twilio_signature(AUTH_TOKEN, URL, "", params=PARAMS.items())


def test_a_url_signed_with_the_default_port_matches_the_url_without_it():
    with_port = URL.replace("phone.example.com", "phone.example.com:443")
    assert verify_twilio_signature(AUTH_TOKEN, URL, signature(with_port, PARAMS), params=PARAMS.items())


def test_a_url_signed_without_the_port_matches_the_url_with_it():
    with_port = URL.replace("phone.example.com", "phone.example.com:443")
    assert verify_twilio_signature(AUTH_TOKEN, with_port, signature(URL, PARAMS), params=PARAMS.items())


def test_a_url_with_a_non_default_port_is_accepted_as_signed():
    on_8443 = URL.replace("phone.example.com", "phone.example.com:8443")
    assert verify_twilio_signature(AUTH_TOKEN, on_8443, signature(on_8443, PARAMS), params=PARAMS.items())


def test_another_host_is_refused():
    elsewhere = URL.replace("phone.example.com", "phone.example.org")
    assert not verify_twilio_signature(AUTH_TOKEN, elsewhere, signature(URL, PARAMS), params=PARAMS.items())


def test_url_variants_cover_with_and_without_the_port():
    assert set(url_variants("http://example.com/a?b=1")) == {"http://example.com/a?b=1", "http://example.com:80/a?b=1"}


def test_repeated_parameters_are_signed_sorted_by_value_as_twilio_does():
    pairs = [("MediaUrl", "https://b"), ("MediaUrl", "https://a"), ("Body", "hi")]
    expected = RequestValidator(AUTH_TOKEN).compute_signature(URL, _MultiDict(pairs))
    assert verify_twilio_signature(AUTH_TOKEN, URL, expected, params=pairs)


def test_a_json_body_is_checked_through_body_sha256():
    body = json.dumps({"CallSid": "CA123", "Event": "x"}).encode()
    url = f"https://phone.example.com/v1/phone/twilio/voice/status?bodySHA256={body_sha256(body)}"
    signed = RequestValidator(AUTH_TOKEN).compute_signature(url, {})
    assert RequestValidator(AUTH_TOKEN).validate(url, body.decode(), signed)  # the reference agrees
    assert verify_twilio_signature(AUTH_TOKEN, url, signed, json_body=body)


def test_a_tampered_json_body_is_refused():
    body = json.dumps({"CallSid": "CA123"}).encode()
    url = f"https://phone.example.com/v1/phone/twilio/voice/status?bodySHA256={body_sha256(body)}"
    signed = RequestValidator(AUTH_TOKEN).compute_signature(url, {})
    assert not verify_twilio_signature(AUTH_TOKEN, url, signed, json_body=body.replace(b"CA123", b"CA999"))


def test_a_json_body_without_body_sha256_is_refused():
    body = b'{"CallSid": "CA123"}'
    url = "https://phone.example.com/v1/phone/twilio/voice/status"
    signed = RequestValidator(AUTH_TOKEN).compute_signature(url, {})
    assert not verify_twilio_signature(AUTH_TOKEN, url, signed, json_body=body)


class _MultiDict(dict):
    """A dict with repeated keys, in the shape RequestValidator accepts (getall)."""

    def __init__(self, pairs):
        super().__init__()
        self._pairs = pairs
        for name, value in pairs:
            self.setdefault(name, value)

    def getall(self, name):
        return [v for n, v in self._pairs if n == name]
