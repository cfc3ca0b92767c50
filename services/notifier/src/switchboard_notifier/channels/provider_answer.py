"""What a provider API's HTTP answer means for a notification: the rules every HTTP sender shares. Pure.

A provider's own classifier reads its error codes first (a closed 24-hour window is final, a
provider's own rate-limit code is retryable, a 200 whose body says "not ok" is an error); what it
leaves is told by the HTTP status (:func:`status_failure`): 429 is retryable after ``Retry-After``,
5xx is retryable, anything else that is not a success is final.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from switchboard_notifier.channels.base import DeliveryFailed, DeliveryRetryable

Failure = DeliveryRetryable | DeliveryFailed


@dataclass(frozen=True, slots=True)
class ProviderAnswer:
    """A provider API's HTTP answer: status, the JSON body (None when it is not JSON), text and headers."""

    status: int
    body: Any
    text: str
    headers: Mapping[str, str]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def transient(self) -> bool:
        """Whether the status says "try again later": rate limited (429) or the provider's own failure (5xx)."""
        return self.status == 429 or self.status >= 500

    @property
    def retry_after(self) -> float | None:
        return retry_after_seconds(self.headers.get("retry-after"))


ErrorClassifier = Callable[[ProviderAnswer], Failure | None]
"""A provider's reading of an answer: the failure it means, or None to leave it to :func:`status_failure`."""


def no_provider_codes(answer: ProviderAnswer) -> Failure | None:
    """The classifier of a provider whose errors are told by the HTTP status alone."""
    return None


def status_failure(answer: ProviderAnswer, described: str) -> Failure:
    """What a failed answer's HTTP status means, ``described`` in the provider's words."""
    if answer.status == 429:
        return DeliveryRetryable(f"{described} (rate limited)", retry_after=answer.retry_after)
    if answer.status >= 500:
        return DeliveryRetryable(described, retry_after=answer.retry_after)
    return DeliveryFailed(described)


def retry_after_seconds(value: object) -> float | None:
    """Seconds from a ``Retry-After`` value given in seconds (an HTTP date, or nothing, gives None)."""
    if value is None:
        return None
    try:
        return max(0.0, float(str(value).strip()))
    except ValueError:
        return None
