"""What Meta's Graph API answers mean for a notification (WhatsApp Cloud API and Messenger Send API). Pure.

Graph errors are ``{"error": {"code": ..., "error_subcode": ..., "message": ...}}``. Rate limits and
Meta's own failures are worth retrying; everything else about the request (a closed 24-hour window, a
recipient who cannot receive messages, a revoked token) will fail the same way again.
"""

from __future__ import annotations

from switchboard_notifier.channels.base import DeliveryFailed, DeliveryRetryable
from switchboard_notifier.channels.provider_answer import ProviderAnswer, status_failure

# Graph error codes: throttling, and transient failures on Meta's side.
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, 80007, 130429, 131048, 131056})
TRANSIENT_CODES = frozenset({1, 2, 1200, 131000, 131016, 133004})

# Permanent failures worth naming in the ack record.
KNOWN_FAILURES: dict[tuple[int, int | None], str] = {
    (131047, None): "the 24-hour customer service window is closed",
    (131026, None): "the message is undeliverable (the recipient cannot receive it)",
    (131030, None): "the recipient is not on the allowed list",
    (131031, None): "the business account is locked",
    (551, None): "the person is not available",
    (10, 2018278): "outside the 24-hour messaging window",
    (100, 2018001): "no matching user",
    (200, None): "the page token lacks permission",
    (190, None): "the access token is invalid or expired",
}


def graph_failure(channel: str, answer: ProviderAnswer) -> DeliveryRetryable | DeliveryFailed | None:
    """What a Graph API answer means: None for a success, else the failure (Graph codes before HTTP statuses)."""
    if answer.ok:
        return None
    error = answer.body.get("error") if isinstance(answer.body, dict) else None
    error = error if isinstance(error, dict) else {}
    code = error.get("code") if isinstance(error.get("code"), int) else None
    subcode = error.get("error_subcode") if isinstance(error.get("error_subcode"), int) else None
    message = str(error.get("message") or f"HTTP {answer.status}")[:200]
    described = f"{channel}: {code if code is not None else answer.status} {message}"
    if code in RATE_LIMIT_CODES:
        return DeliveryRetryable(f"{described} (rate limited)", retry_after=answer.retry_after)
    if code in TRANSIENT_CODES:
        return DeliveryRetryable(described, retry_after=answer.retry_after)
    if code is not None and not answer.transient:
        known = KNOWN_FAILURES.get((code, subcode)) or KNOWN_FAILURES.get((code, None))
        if known:
            return DeliveryFailed(f"{channel}: {known} ({code})")
    return status_failure(answer, described)
