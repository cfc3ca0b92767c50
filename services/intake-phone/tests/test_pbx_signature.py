"""The generic phone-system webhook's HMAC-SHA256 signature and replay window."""

from __future__ import annotations

import hashlib
import hmac

from switchboard_intake_phone.pbx_signature import pbx_signature, verify_pbx_signature

SECRET = "pbx-secret"
BODY = b'{"event":"call.status","call_id":"42","from":"+14155550100","to":"+18005550123","status":"missed"}'
NOW = 1_800_000_000


def check(signature: str | None, timestamp: str | None = str(NOW), body: bytes = BODY, now: float = NOW):
    return verify_pbx_signature(
        SECRET, timestamp=timestamp, signature=signature, body=body, now=now, window_seconds=300
    )


def test_the_documented_construction_is_hmac_sha256_over_timestamp_dot_body():
    expected = "v1=" + hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert pbx_signature(SECRET, NOW, BODY) == expected


def test_a_correctly_signed_request_is_accepted():
    assert check(pbx_signature(SECRET, NOW, BODY)).ok


def test_another_secret_is_refused():
    result = check(pbx_signature("other", NOW, BODY))
    assert not result.ok and "does not match" in result.reason


def test_a_tampered_body_is_refused():
    assert not check(pbx_signature(SECRET, NOW, BODY), body=BODY.replace(b"missed", b"answered")).ok


def test_a_changed_timestamp_is_refused():
    assert not check(pbx_signature(SECRET, NOW, BODY), timestamp=str(NOW + 1)).ok


def test_an_old_request_is_refused_as_a_replay():
    result = check(pbx_signature(SECRET, NOW, BODY), now=NOW + 301)
    assert not result.ok and "replay window" in result.reason


def test_a_request_from_the_future_is_refused():
    assert not check(pbx_signature(SECRET, NOW, BODY), now=NOW - 301).ok


def test_missing_headers_are_refused_with_a_reason():
    assert "missing" in check(None).reason
    assert "missing" in check(pbx_signature(SECRET, NOW, BODY), timestamp=None).reason


def test_a_timestamp_that_is_not_a_number_is_refused():
    assert "Unix timestamp" in check("v1=00", timestamp="yesterday").reason


def test_during_a_rotation_one_matching_signature_of_several_suffices():
    both = f"{pbx_signature('old-secret', NOW, BODY)}, {pbx_signature(SECRET, NOW, BODY)}"
    assert check(both).ok
