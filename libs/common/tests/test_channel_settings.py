"""A channel is off unless its credentials are set: the one rule every service applies to its channels."""

from __future__ import annotations

import logging

import pytest
from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from switchboard_common.channel_settings import env_name, optional_settings


class ExampleChannelSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EXAMPLECHAN_", extra="ignore")

    account_id: str
    secret: SecretStr
    timeout_seconds: float = Field(default=5.0, gt=0)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("EXAMPLECHAN_ACCOUNT_ID", "EXAMPLECHAN_SECRET", "EXAMPLECHAN_TIMEOUT_SECONDS"):
        monkeypatch.delenv(name, raising=False)


def test_a_channel_without_its_credentials_is_off():
    assert optional_settings(ExampleChannelSettings, "example") is None


def test_a_channel_with_its_credentials_is_on(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("EXAMPLECHAN_ACCOUNT_ID", "acct")
    monkeypatch.setenv("EXAMPLECHAN_SECRET", "s3cret")
    settings = optional_settings(ExampleChannelSettings, "example")
    assert settings is not None and settings.secret.get_secret_value() == "s3cret"


def test_half_configured_credentials_leave_the_channel_off_with_a_warning_naming_the_missing_variable(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    monkeypatch.setenv("EXAMPLECHAN_ACCOUNT_ID", "acct")
    with caplog.at_level(logging.WARNING, logger="switchboard_common.channel_settings"):
        assert optional_settings(ExampleChannelSettings, "example") is None
    [warning] = caplog.records
    assert warning.missing == ["EXAMPLECHAN_SECRET"]  # type: ignore[attr-defined]


def test_an_invalid_value_is_an_error_not_an_off_channel(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("EXAMPLECHAN_ACCOUNT_ID", "acct")
    monkeypatch.setenv("EXAMPLECHAN_SECRET", "s3cret")
    monkeypatch.setenv("EXAMPLECHAN_TIMEOUT_SECONDS", "-1")
    with pytest.raises(ValidationError):
        optional_settings(ExampleChannelSettings, "example")


def test_env_name_is_the_prefixed_field_name():
    assert env_name(ExampleChannelSettings, "account_id") == "EXAMPLECHAN_ACCOUNT_ID"
