"""What a provider webhook's payload becomes: customer messages to publish, or events recorded and not published.

Pure: shared by every provider's normaliser, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from switchboard_common.events.models import IntakeMessage, Language, MessageText
from switchboard_common.text import language_from_locale, safe_plain_text


class IgnoreReason(StrEnum):
    """Why a provider event is recorded (log line and metric) but not published as a customer message."""

    BOT = "bot"
    OWN_MESSAGE = "own_message"
    STAFF = "staff"
    EDIT = "edit"
    DELETION = "deletion"
    REACTION = "reaction"
    DELIVERY_STATUS = "delivery_status"
    NOT_CUSTOMER_CONTENT = "not_customer_content"
    UNSUPPORTED_CONTENT = "unsupported_content"
    PLATFORM_NOTICE = "platform_notice"
    STANDBY = "standby"
    """Another app or module answers this conversation (Messenger handover, LINE module standby)."""
    INCOMPLETE = "incomplete"
    UNKNOWN_TYPE = "unknown_type"
    NOT_CONFIGURED = "not_configured"
    """The event needs something this deployment lacks (a WeCom kf notification without ``WECOM_SECRET``)."""


@dataclass(frozen=True, slots=True)
class Ignored:
    """A provider event that is not a customer message, and why; ``kind`` names the provider's type."""

    reason: IgnoreReason
    kind: str
    detail: str = ""
    provider_ids: Mapping[str, str] = field(default_factory=dict)


Normalised = IntakeMessage | Ignored
"""One outcome of normalising a provider payload (a payload may hold several events)."""


def message_text(raw: str, max_chars: int) -> MessageText:
    """The three text forms for a chat message: chat has no quoting to strip, so new content is the whole text."""
    plain, truncated = safe_plain_text(raw, max_chars)
    return MessageText(original=raw[: max_chars * 2], plain=plain, new_content=plain, truncated=truncated)


def from_epoch(value: Any) -> datetime | None:
    """A provider's Unix time (seconds, as a number or a string like Slack's ``"1700000000.000100"``)."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    if seconds <= 0:
        return None
    if seconds > 1e11:  # milliseconds (Messenger)
        seconds /= 1000
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def location_text(latitude: Any, longitude: Any, name: Any = None, address: Any = None) -> str:
    """A shared location as text the classifier and a person can read."""
    place = ", ".join(str(part) for part in (name, address) if isinstance(part, str) and part.strip())
    where = f"({latitude}, {longitude})" if latitude is not None and longitude is not None else ""
    return " ".join(part for part in ("[location]", place, where) if part)


def language_hint(locale: str | None) -> Language | None:
    tag = language_from_locale(locale)
    return Language(tag) if tag else None


def text_of(value: Any) -> str:
    """A string field of a payload, or empty: providers send null, numbers or nothing where text is optional."""
    return value if isinstance(value, str) else ""


def mapping(value: Any) -> dict[str, Any]:
    """A JSON object field of a payload, or an empty one."""
    return value if isinstance(value, dict) else {}


def items(value: Any) -> list[dict[str, Any]]:
    """The objects of a JSON array field of a payload (anything else in it is skipped)."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def ids(**values: Any) -> dict[str, str]:
    """Provider ids for ``IntakeMessage.provider_ids``: only the present, non-empty ones, as strings."""
    return {k: str(v) for k, v in values.items() if v is not None and v != "" and not isinstance(v, dict | list)}
