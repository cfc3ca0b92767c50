"""intake-phone settings: one class per concern, read from the environment.

A channel whose credentials are absent is off (:func:`~switchboard_common.channel_settings.optional_settings`):
without ``TWILIO_AUTH_TOKEN`` the Twilio webhooks answer 404, without ``PBX_WEBHOOK_SECRET`` the generic
phone-system webhook does.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from switchboard_common.channel_settings import optional_settings
from switchboard_common.routing import Duration
from switchboard_common.settings import ConsumerServiceSettings


class TwilioWebhookSettings(BaseSettings):
    """Twilio voice and SMS webhooks. Environment prefix ``TWILIO_``; off without ``TWILIO_AUTH_TOKEN``."""

    model_config = SettingsConfigDict(env_prefix="TWILIO_", extra="ignore", env_file=".env")

    auth_token: SecretStr = Field(description="The account's auth token: Twilio signs every webhook with it.")
    account_sid: str | None = Field(
        default=None, description="When set, webhooks for another account are refused (403)."
    )


class PbxWebhookSettings(BaseSettings):
    """The generic signed JSON webhook for other phone systems. Environment prefix ``PBX_``; off without
    ``PBX_WEBHOOK_SECRET``."""

    model_config = SettingsConfigDict(env_prefix="PBX_", extra="ignore", env_file=".env")

    webhook_secret: SecretStr = Field(description="Signs the phone-system webhook (HMAC-SHA256).")
    replay_window_seconds: float = Field(
        default=300.0, gt=0, description="Requests whose timestamp is further from now than this are refused."
    )


class PhoneSettings(BaseSettings):
    """IVR, voicemail and call-outcome timing. Environment prefix ``PHONE_``."""

    model_config = SettingsConfigDict(env_prefix="PHONE_", extra="ignore", env_file=".env")

    public_base_url: str | None = Field(
        default=None,
        description="The URL the provider calls, as it calls it (scheme, host, port, path prefix of the proxy in "
        "front): signatures cover the full URL. Unset: the URL this service sees (X-Forwarded-* from trusted "
        "proxies applied).",
    )
    ivr_file: Path | None = Field(default=None, description="IVR menu YAML; the packaged one if unset.")
    transcript_timeout: Duration = Field(
        default=timedelta(seconds=25),
        description="How long a voicemail waits for its transcript before it is published untranscribed. Keep it "
        "well under the phone SLA (60 s): the acknowledgement needs the published event. A transcript that comes "
        "later follows as a second message of the same conversation.",
    )
    recording_wait: Duration = Field(
        default=timedelta(seconds=10),
        description="How long a transcript that arrived before its recording's callback waits for it.",
    )
    call_end_grace: Duration = Field(
        default=timedelta(seconds=15),
        description="After a call ends, how long to wait for a late recording before deciding it was missed.",
    )
    voicemail_window: Duration = Field(
        default=timedelta(minutes=3),
        description="After an unanswered transfer, how long to wait for a voicemail (or the call's end) before "
        "recording a callback request.",
    )
    state_window: Duration = Field(
        default=timedelta(days=2),
        description="How far back phone.callbacks.v1 is read on assignment to learn which calls were decided "
        "(provider retries within it are recognised). Keep it below the topic's retention.",
    )
    max_body_bytes: int = Field(default=65_536, ge=1024, description="Largest webhook body accepted.")
    max_text_chars: int = Field(default=4_000, ge=1, description="Longest SMS body or transcript kept.")


class IntakePhoneSettings(ConsumerServiceSettings):
    """Everything intake-phone reads from the environment."""

    model_config = SettingsConfigDict(
        env_prefix="INTAKE_PHONE_", extra="ignore", env_file=".env", env_nested_delimiter="__"
    )

    phone: PhoneSettings = Field(default_factory=PhoneSettings)
    twilio: TwilioWebhookSettings | None = Field(
        default_factory=partial(optional_settings, TwilioWebhookSettings, "twilio"),
        description="Off (404) without TWILIO_AUTH_TOKEN.",
    )
    pbx: PbxWebhookSettings | None = Field(
        default_factory=partial(optional_settings, PbxWebhookSettings, "pbx"),
        description="Off (404) without PBX_WEBHOOK_SECRET.",
    )
