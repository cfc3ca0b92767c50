"""The signature of the generic phone-system webhook (PBX, contact-center software).

The sender computes ``v1=`` + hex HMAC-SHA256(secret, ``"{timestamp}.{raw body}"``) and sends it in
``X-Switchboard-Signature`` with the Unix timestamp (seconds) in ``X-Switchboard-Timestamp``. A
request whose timestamp is further than the replay window from now is refused, so a captured request
cannot be replayed later; within the window, event ids derived from the sender's ids make a replay
produce the same event, which is suppressed.

Pure code, no web framework.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

SIGNATURE_HEADER = "X-Switchboard-Signature"
TIMESTAMP_HEADER = "X-Switchboard-Timestamp"
SCHEME = "v1"


def pbx_signature(secret: str, timestamp: int | str, body: bytes) -> str:
    """The header value a sender computes: ``v1=<hex>``."""
    message = str(timestamp).encode("ascii") + b"." + body
    return f"{SCHEME}=" + hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    """The outcome of a check; ``reason`` says why it failed (for the 403 answer and the log)."""

    ok: bool
    reason: str = ""


def verify_pbx_signature(
    secret: str,
    *,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: float,
    window_seconds: float,
) -> SignatureCheck:
    """Check the signature and that the timestamp lies within ``window_seconds`` of ``now``."""
    if not timestamp or not signature:
        return SignatureCheck(False, f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header")
    if not timestamp.strip().isdigit():
        return SignatureCheck(False, f"{TIMESTAMP_HEADER} is not a Unix timestamp in seconds")
    if abs(now - int(timestamp)) > window_seconds:
        return SignatureCheck(False, f"timestamp outside the replay window of {window_seconds:.0f}s")
    expected = pbx_signature(secret, timestamp.strip(), body)
    candidates = [part.strip() for part in signature.split(",")]  # several during a secret rotation
    if not any(hmac.compare_digest(candidate, expected) for candidate in candidates):
        return SignatureCheck(False, "signature does not match")
    return SignatureCheck(True)
