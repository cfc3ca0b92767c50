"""Notifier settings (environment prefix ``NOTIFIER_``)."""

from __future__ import annotations

from datetime import UTC, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from switchboard_common.events.models import Channel
from switchboard_common.routing import Duration
from switchboard_common.settings import ConsumerServiceSettings

DEFAULT_SLA = {
    Channel.WEBCHAT: timedelta(seconds=30),
    Channel.PHONE: timedelta(seconds=60),
    Channel.SMS: timedelta(seconds=60),
    Channel.EMAIL: timedelta(hours=4),
    Channel.SLACK: timedelta(seconds=30),
    Channel.WECHAT: timedelta(seconds=30),
    Channel.WECOM: timedelta(seconds=30),
    Channel.WHATSAPP: timedelta(seconds=30),
    Channel.MESSENGER: timedelta(seconds=30),
    Channel.LINE: timedelta(seconds=30),
    Channel.TELEGRAM: timedelta(seconds=30),
}


class NotifierSettings(ConsumerServiceSettings):
    """How and when the notifier acknowledges."""

    model_config = SettingsConfigDict(
        env_prefix="NOTIFIER_", extra="ignore", env_file=".env", env_nested_delimiter="__", populate_by_name=True
    )

    templates_path: Path | None = Field(default=None, description="Templates YAML; the packaged one if unset.")
    sla: dict[Channel, Duration] = Field(
        default_factory=lambda: dict(DEFAULT_SLA),
        description='First-response SLA per channel, JSON: {"webchat": "30s", "email": "4h"}.',
    )
    fallback_fraction: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Send a generic acknowledgement when the routed event has not arrived by this fraction of the SLA.",
    )
    conversation_window: Duration = Field(
        default=timedelta(minutes=10),
        description="At most one acknowledgement per conversation within this window.",
    )
    recipient_limit: int = Field(
        default=5,
        ge=1,
        description="At most this many acknowledgements to one address (email, phone number, ...) per "
        "recipient_window, so that no mail loop or flood can make the gateway send without end.",
    )
    recipient_window: Duration = Field(default=timedelta(hours=1))
    max_ack_age: Duration = Field(
        default=timedelta(hours=24),
        description="Messages older than this when first seen are recorded as expired, not acknowledged.",
    )
    state_window: Duration = Field(
        default=timedelta(days=3),
        description="How far back notify.acks.v1 is read to rebuild what was already acknowledged; "
        "must exceed max_ack_age.",
    )
    send_timeout: Duration = Field(default=timedelta(seconds=10), description="Upper bound on one channel send.")
    retry_initial: Duration = timedelta(seconds=1)
    retry_max: Duration = timedelta(minutes=5)
    display_timezone: str = Field(
        default="UTC", description="Time zone of the times shown to customers (an expected time), e.g. Asia/Shanghai."
    )
    origin_cache_size: int = Field(
        default=10_000, ge=1, description="Case origins (the first message of a case) kept in memory for updates."
    )
    survey_window: Duration = Field(
        default=timedelta(days=3),
        description="How long a satisfaction request can be answered (its email links expire then).",
    )
    survey_answer_grace: Duration = Field(
        default=timedelta(seconds=30),
        description="How long a rating button's answer waits for its satisfaction request's record to be read "
        "(written by another replica) before it counts as an answer to no request.",
    )
    rating_link_secret: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("SATISFACTION_LINK_SECRET", "NOTIFIER_SATISFACTION_LINK_SECRET"),
        description="SATISFACTION_LINK_SECRET: signs email rating links; intake-email verifies them with the same "
        "secret. Without it (or without EMAIL_PUBLIC_BASE_URL) email customers get no satisfaction request.",
    )
    rating_base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("EMAIL_PUBLIC_BASE_URL", "NOTIFIER_RATING_BASE_URL"),
        description="EMAIL_PUBLIC_BASE_URL: intake-email's public base URL; rating links are "
        "<url>/v1/email/rating/<token>.",
    )

    @field_validator("display_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if value == "UTC":
            return value
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def zone(self) -> tzinfo:
        # UTC needs no time-zone database (a slim image may have none).
        return UTC if self.display_timezone == "UTC" else ZoneInfo(self.display_timezone)

    @property
    def rating_links(self) -> tuple[bytes, str] | None:
        """The secret and base URL of email rating links, when both are set."""
        if self.rating_link_secret is None or not self.rating_base_url:
            return None
        return self.rating_link_secret.get_secret_value().encode(), self.rating_base_url.rstrip("/")

    @field_validator("sla", mode="before")
    @classmethod
    def _sla(cls, value: object) -> object:
        if isinstance(value, dict):
            return {**{k.value: v for k, v in DEFAULT_SLA.items()}, **value}
        return value

    def sla_for(self, channel: Channel) -> timedelta:
        return self.sla.get(channel, DEFAULT_SLA[channel])
