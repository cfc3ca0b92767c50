"""SMS through Twilio's Messages REST API: acknowledgements for phone and SMS customers.

One POST per notification (``/2010-04-01/Accounts/{sid}/Messages.json``, basic auth with the account
SID and auth token). How Twilio's answers are taken:

* 201: sent (Twilio accepted it for delivery); the message SID is the provider id;
* 429 and 5xx, and network errors: :class:`DeliveryRetryable` (the notifier backs off, honouring
  ``Retry-After``); 401/403 too: credentials are fixed by an operator, and the acknowledgement waits;
* errors that mean the number cannot receive SMS (invalid, not a mobile, unreachable, opted out with
  STOP, a region not enabled) and every other 4xx: :class:`DeliveryFailed`, recorded as failed and
  never retried. A withheld or malformed caller number fails at once, without a request.
"""

from __future__ import annotations

import logging
import re

import httpx
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from switchboard_common.channel_settings import optional_settings
from switchboard_common.events.models import Channel
from switchboard_common.pii import mask_handle
from switchboard_notifier.channels.base import Delivery, DeliveryFailed, DeliveryRetryable, Notification
from switchboard_notifier.channels.http_delivery import ProviderApi
from switchboard_notifier.channels.provider_answer import ProviderAnswer, status_failure
from switchboard_notifier.settings import NotifierSettings

log = logging.getLogger(__name__)

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
MAX_BODY_CHARS = 1600  # Twilio's limit for one message (it splits it into segments itself)

# Twilio error codes that mean this recipient cannot get an SMS from us: never retried.
UNREACHABLE = {
    21211: "invalid 'To' phone number",
    21214: "'To' phone number cannot be reached",
    21217: "phone number does not appear to be valid",
    21408: "sending to this region is not enabled",
    21610: "the recipient replied STOP (unsubscribed)",
    21612: "the 'To' number cannot be reached on this route",
    21614: "'To' number is not a mobile number",
    21635: "'To' number cannot receive SMS (landline)",
}


class TwilioSmsSettings(BaseSettings):
    """The SMS channel. Environment prefix ``TWILIO_``; without an account SID and auth token it is off."""

    model_config = SettingsConfigDict(env_prefix="TWILIO_", extra="ignore", env_file=".env")

    account_sid: str
    auth_token: SecretStr
    from_number: str | None = Field(
        default=None,
        description="Sender: a phone number, or a Messaging Service SID (MG...). Unset: the number the customer "
        "called or texted.",
    )
    api_base_url: str = Field(default="https://api.twilio.com", description="Twilio's REST API (a stand-in in tests).")
    timeout_seconds: float = Field(default=10.0, gt=0)


def from_settings(settings: NotifierSettings) -> TwilioSmsSender | None:
    """An SMS sender when ``TWILIO_ACCOUNT_SID`` and ``TWILIO_AUTH_TOKEN`` are set."""
    sms = optional_settings(TwilioSmsSettings, "sms")
    return TwilioSmsSender(sms) if sms is not None else None


def twilio_failure(answer: ProviderAnswer, recipient: str) -> DeliveryRetryable | DeliveryFailed | None:
    """What a Messages API answer means: None for a success; wrong credentials wait for an operator (retryable);
    a number that cannot receive SMS, and every other refusal, is final."""
    if answer.ok:
        return None
    code, message = twilio_error(answer)
    described = f"twilio {answer.status} (code {code}): {message}"
    if answer.transient:
        return status_failure(answer, described)
    if answer.status in (401, 403):
        log.error("Twilio refused the SMS credentials", extra={"status": answer.status, "code": code})
        return DeliveryRetryable(
            f"twilio {answer.status} (code {code}): check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"
        )
    if code in UNREACHABLE:
        log.info("number cannot receive SMS", extra={"code": code, "recipient": mask_handle(recipient)})
        return DeliveryFailed(f"sms_unreachable: twilio {code}: {UNREACHABLE[code]}")
    return DeliveryFailed(f"sms_rejected: {described}")


def twilio_error(answer: ProviderAnswer) -> tuple[int | None, str]:
    """Twilio's error code and message (``{"code": 21211, "message": ...}``)."""
    if answer.body is None:
        return None, answer.text[:200]
    if not isinstance(answer.body, dict):
        return None, str(answer.body)[:200]
    code = answer.body.get("code")
    return (code if isinstance(code, int) else None), str(answer.body.get("message", ""))[:300]


class TwilioSmsSender:
    """Sends notifications as SMS (for customers who reached us by phone or by SMS)."""

    channels = frozenset({Channel.SMS, Channel.PHONE})

    def __init__(self, settings: TwilioSmsSettings, client: httpx.AsyncClient | None = None) -> None:
        self._settings = settings
        self._url = f"{settings.api_base_url.rstrip('/')}/2010-04-01/Accounts/{settings.account_sid}/Messages.json"
        self._api = ProviderApi(
            "twilio",
            timeout_seconds=settings.timeout_seconds,
            auth=httpx.BasicAuth(settings.account_sid, settings.auth_token.get_secret_value()),
            client=client,
        )

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        await self._api.close()

    def _form(self, notification: Notification) -> dict[str, str]:
        reply = notification.message.reply_to
        if not E164.match(reply.address):
            raise DeliveryFailed("sms_unreachable: the customer's number is withheld or not a phone number")
        sender = self._settings.from_number or reply.account
        form = {"To": reply.address, "Body": notification.text[:MAX_BODY_CHARS]}
        if sender.startswith("MG"):
            form["MessagingServiceSid"] = sender
        elif E164.match(sender):
            form["From"] = sender
        else:
            raise DeliveryFailed(f"sms_no_sender: {sender!r} is not a phone number; set TWILIO_FROM_NUMBER")
        return form

    async def deliver(self, notification: Notification) -> Delivery:
        form = self._form(notification)
        answer = await self._api.send(self._url, data=form, classify=lambda answer: twilio_failure(answer, form["To"]))
        body = answer.body if isinstance(answer.body, dict) else {}
        return Delivery(provider_id=body.get("sid"), details={"status": str(body.get("status", ""))})
