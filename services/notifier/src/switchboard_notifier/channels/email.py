"""Email: acknowledgements by SMTP (aiosmtplib), in the customer's thread.

Off when ``SMTP_HOST`` is unset. ``SMTP_TLS_MODE`` is ``tls`` (implicit TLS, port 465),
``starttls`` (port 587) or ``none`` (port 25, local relays and tests); ``SMTP_USERNAME`` and
``SMTP_PASSWORD`` authenticate when set. An unreachable or busy server, a timeout, a 4xx answer, or
a refused login is retryable: the notifier backs off and tries again until the email SLA would be
broken (and records the breach). A permanent refusal of the recipient or the message (5xx to RCPT or
DATA) is a failed delivery, recorded and not retried.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import aiosmtplib
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from switchboard_common.events.models import Channel
from switchboard_notifier.channels.base import Delivery, DeliveryFailed, DeliveryRetryable, Notification
from switchboard_notifier.channels.email_message import InvalidRecipient, build_reply
from switchboard_notifier.settings import NotifierSettings

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"tls": 465, "starttls": 587, "none": 25}


class SmtpSettings(BaseSettings):
    """The SMTP server acknowledgements are sent through. Environment prefix ``SMTP_``."""

    model_config = SettingsConfigDict(env_prefix="SMTP_", extra="ignore", env_file=".env", populate_by_name=True)

    host: str | None = Field(default=None, description="SMTP server; the email channel is off when unset.")
    port: int | None = Field(default=None, ge=1, le=65535, description="Default by TLS mode: 465, 587 or 25.")
    tls_mode: Literal["none", "starttls", "tls"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    from_address: str | None = Field(
        default=None, alias="SMTP_FROM", description='Sender, e.g. "Example Support <support@example.com>".'
    )
    message_id_domain: str | None = Field(default=None, description="Domain of Message-IDs; SMTP_FROM's by default.")
    timeout_seconds: float = Field(default=30.0, gt=0)
    validate_certs: bool = True
    ca_file: Path | None = Field(default=None, description="CA bundle to trust for the server (a private CA).")

    @model_validator(mode="after")
    def _complete(self) -> SmtpSettings:
        if self.host and not self.from_address:
            raise ValueError("SMTP_FROM is required when SMTP_HOST is set")
        if self.password is not None and not self.username:
            raise ValueError("SMTP_PASSWORD needs SMTP_USERNAME")
        return self

    @property
    def effective_port(self) -> int:
        return self.port or DEFAULT_PORTS[self.tls_mode]

    @property
    def domain(self) -> str:
        if self.message_id_domain:
            return self.message_id_domain
        address = (self.from_address or "").rsplit("<", 1)[-1].rstrip(">").strip()
        return address.rpartition("@")[2] or "switchboard.invalid"


def from_settings(settings: NotifierSettings) -> EmailSender | None:
    """The email sender, or None when SMTP is not configured."""
    smtp = SmtpSettings()
    if not smtp.host:
        return None
    return EmailSender(smtp)


def _permanent(code: int) -> bool:
    return 500 <= code < 600


class EmailSender:
    """Sends acknowledgements as replies in the customer's email thread."""

    channels = frozenset({Channel.EMAIL})

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def deliver(self, notification: Notification) -> Delivery:
        settings = self.settings
        assert settings.from_address is not None
        try:
            email = build_reply(notification, from_address=settings.from_address, message_id_domain=settings.domain)
        except InvalidRecipient as exc:
            raise DeliveryFailed(str(exc)) from None
        try:
            await aiosmtplib.send(
                email,
                hostname=settings.host,
                port=settings.effective_port,
                use_tls=settings.tls_mode == "tls",
                start_tls=settings.tls_mode == "starttls",
                username=settings.username,
                password=settings.password.get_secret_value() if settings.password else None,
                timeout=settings.timeout_seconds,
                validate_certs=settings.validate_certs,
                cert_bundle=str(settings.ca_file) if settings.ca_file else None,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [refused.code for refused in exc.recipients]
            if codes and all(_permanent(code) for code in codes):
                raise DeliveryFailed(f"recipient refused by the SMTP server ({codes[0]})") from None
            raise DeliveryRetryable(f"recipient temporarily refused ({codes})") from None
        except aiosmtplib.SMTPDataError as exc:
            if _permanent(exc.code):
                raise DeliveryFailed(f"message refused by the SMTP server ({exc.code})") from None
            raise DeliveryRetryable(f"SMTP server deferred the message ({exc.code})") from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            # Connection problems, timeouts, 4xx, refused login or sender: the server or our configuration
            # may recover; retrying until the SLA passes is better than giving up on the customer.
            raise DeliveryRetryable(f"SMTP unavailable: {type(exc).__name__}: {str(exc)[:200]}") from None
        return Delivery(provider_id=str(email["Message-ID"]), details={"message_id": str(email["Message-ID"])})
