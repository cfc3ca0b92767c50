"""intake-email settings: the service (``INTAKE_EMAIL_``), the channel (``EMAIL_``), the mailboxes file.

The mailboxes file (``EMAIL_MAILBOXES_FILE``) is YAML; each mailbox names the environment variable
that holds its password, so the file itself holds no secret and can be a ConfigMap::

    mailboxes:
      - name: support
        host: imap.example.com
        port: 993
        tls: tls                      # tls | starttls | none
        username: support@example.com
        password_env: IMAP_PASSWORD_SUPPORT
        folder: INBOX
        mark: keyword                 # keyword | move
        keyword: $SwitchboardProcessed
        processed_folder: Processed   # for mark: move
        poll_interval_seconds: 60     # without IDLE, or after IDLE failed
        idle_renew_seconds: 600       # IDLE is re-issued this often (servers drop it after 29 minutes)
        addresses: [support@example.com]   # the mailbox's own addresses: mail from them is never answered
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from switchboard_common.channel_settings import optional_settings
from switchboard_common.settings import HttpSettings, KafkaSettings, ObservabilitySettings
from switchboard_intake_email.attachments import AttachmentLimits
from switchboard_intake_email.charsets import DEFAULT_FALLBACKS
from switchboard_intake_email.normalise import EmailLimits

IDLE_LIMIT_SECONDS = 29 * 60


class MailboxesFileError(ValueError):
    """The mailboxes file is missing or invalid."""


class MailboxConfig(BaseModel):
    """One watched IMAP mailbox."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    host: str
    port: int | None = Field(default=None, ge=1, le=65535, description="993 for tls, else 143.")
    tls: Literal["tls", "starttls", "none"] = "tls"
    tls_verify: bool = True
    ca_file: Path | None = None
    username: str
    password_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    folder: str = "INBOX"
    mark: Literal["keyword", "move"] = "keyword"
    keyword: str = Field(default="$SwitchboardProcessed", pattern=r"^[^\s()\[\]{}%*\"\\]{1,64}$")
    processed_folder: str = "Processed"
    poll_interval_seconds: float = Field(default=60.0, gt=0, le=3600)
    idle: bool = True
    idle_renew_seconds: float = Field(default=600.0, gt=0, lt=IDLE_LIMIT_SECONDS)
    batch_size: int = Field(default=20, ge=1, le=500)
    timeout_seconds: float = Field(default=60.0, gt=0, description="Upper bound on one IMAP command.")
    account: str | None = Field(default=None, description="Channel account in events; default email:<name>.")
    addresses: list[str] = Field(default_factory=list)

    @field_validator("addresses")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        return [a.strip().lower() for a in value if a.strip()]

    @property
    def channel_account(self) -> str:
        return self.account or f"email:{self.name}"

    @property
    def effective_port(self) -> int:
        return self.port or (993 if self.tls == "tls" else 143)


class MailboxesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mailboxes: list[MailboxConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> MailboxesFile:
        names = [m.name for m in self.mailboxes]
        if len(names) != len(set(names)):
            raise ValueError("mailbox names must be unique")
        return self


def load_mailboxes(path: Path) -> list[MailboxConfig]:
    """The mailboxes of a file; raises :class:`MailboxesFileError` naming the problem."""
    try:
        document = yaml.safe_load(Path(path).read_text("utf-8")) or {}
        return MailboxesFile.model_validate(document).mailboxes
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise MailboxesFileError(f"invalid mailboxes file {path}: {exc}") from exc


def mailbox_password(mailbox: MailboxConfig) -> SecretStr | None:
    """The password from the environment variable the mailbox names, or None when it is not set."""
    value = os.environ.get(mailbox.password_env)
    return SecretStr(value) if value else None


class EmailSettings(BaseSettings):
    """The email channel. Environment prefix ``EMAIL_``."""

    model_config = SettingsConfigDict(env_prefix="EMAIL_", extra="ignore", env_file=".env")

    mailboxes_file: Path | None = Field(default=None, description="YAML of the IMAP mailboxes; none watched if unset.")
    inbound_token: SecretStr | None = Field(
        default=None,
        description="Authenticates the raw-MIME inbound endpoint (Bearer token, or key of the HMAC signature). "
        "The endpoint is off (404) when unset.",
    )
    inbound_account: str = Field(default="email:inbound", description="Channel account of webhook-delivered mail.")
    own_addresses: list[str] = Field(
        default_factory=list, description="Our own sending addresses: mail from them is never acknowledged."
    )
    max_message_bytes: int = Field(
        default=30 * 1024 * 1024, ge=1024, description="Larger messages are read only up to this size."
    )
    max_text_chars: int = Field(default=20_000, ge=100)
    max_attachment_bytes: int = Field(default=25 * 1024 * 1024, ge=0)
    max_attachments: int = Field(default=50, ge=0)
    fallback_charsets: list[str] = Field(
        default_factory=lambda: list(DEFAULT_FALLBACKS),
        description="Tried in order when a part's declared charset does not fit its bytes.",
    )
    pause_before_mark_seconds: float = Field(
        default=0.0,
        ge=0,
        description="Testing aid for crash tests: hold each batch this long between Kafka's acknowledgement "
        "and marking it processed on the IMAP server. Leave at 0 in production.",
    )

    def limits(self) -> EmailLimits:
        return EmailLimits(
            max_text_chars=self.max_text_chars,
            attachments=AttachmentLimits(
                max_attachment_bytes=self.max_attachment_bytes, max_attachments=self.max_attachments
            ),
            fallback_charsets=tuple(self.fallback_charsets),
        )


class RatingSettings(BaseSettings):
    """The satisfaction rating links of emails (``/v1/email/rating/{token}``). Off without the link secret.

    ``SATISFACTION_LINK_SECRET`` is shared with the notifier, which signs the links; other settings
    have the prefix ``EMAIL_RATING_``.
    """

    model_config = SettingsConfigDict(
        env_prefix="EMAIL_RATING_", extra="ignore", env_file=".env", populate_by_name=True
    )

    link_secret: SecretStr = Field(
        validation_alias="SATISFACTION_LINK_SECRET",
        description="Key of the rating links' HMAC, shared with the notifier. Never logged.",
    )
    account: str = Field(
        default="email:rating-link", description="Channel account of the answers recorded from rating links."
    )
    attempts_per_minute: int = Field(
        default=30, ge=1, description="Requests to the rating page one client address may make per minute."
    )
    remember_answers: int = Field(
        default=100_000, ge=100, description="Cases whose recorded answer this replica remembers (already recorded)."
    )


class IntakeEmailSettings(BaseSettings):
    """Everything intake-email reads from the environment."""

    model_config = SettingsConfigDict(
        env_prefix="INTAKE_EMAIL_", extra="ignore", env_file=".env", env_nested_delimiter="__"
    )

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
    email: EmailSettings = Field(default_factory=EmailSettings)
    rating: RatingSettings | None = Field(
        default_factory=partial(optional_settings, RatingSettings, "email-rating"),
        description="The rating page; off (404) without SATISFACTION_LINK_SECRET.",
    )
