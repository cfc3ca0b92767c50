"""What a provider's HTTP status means when its own error codes say nothing more (shared by every HTTP sender)."""

from __future__ import annotations

import pytest

from switchboard_notifier.channels import DeliveryFailed, DeliveryRetryable
from switchboard_notifier.channels.provider_answer import ProviderAnswer, retry_after_seconds, status_failure


def answer(status: int, **headers: str) -> ProviderAnswer:
    return ProviderAnswer(status=status, body=None, text="", headers=headers)


def test_a_rate_limit_is_retryable_after_the_wait_the_provider_names():
    failure = status_failure(answer(429, **{"retry-after": "7"}), "line: HTTP 429")
    assert isinstance(failure, DeliveryRetryable) and failure.retry_after == 7.0
    assert "rate limited" in failure.reason


def test_a_providers_own_failure_is_retryable():
    assert isinstance(status_failure(answer(503), "x: HTTP 503"), DeliveryRetryable)


@pytest.mark.parametrize("status", [400, 403, 404])
def test_any_other_refusal_is_final(status: int):
    assert isinstance(status_failure(answer(status), f"x: HTTP {status}"), DeliveryFailed)


def test_a_retry_after_given_as_a_date_or_nonsense_is_ignored():
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") is None
    assert retry_after_seconds(None) is None
    assert retry_after_seconds(" 2.5 ") == 2.5
    assert retry_after_seconds("-3") == 0.0
