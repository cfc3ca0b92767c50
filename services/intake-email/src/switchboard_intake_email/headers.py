"""Header values of real mail as text: RFC 2047 encoded words, raw 8-bit bytes, addresses, ids. Pure.

Every function here returns something usable for any input and never raises.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from email.header import Header, decode_header
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

from switchboard_intake_email.charsets import DEFAULT_FALLBACKS, decode_bytes

MAX_HEADER_CHARS = 2_000
MAX_REFERENCES = 50
_MSG_ID = re.compile(r"<[^<>\s]{1,900}>")
_WHITESPACE = re.compile(r"\s+")
# Encoded words glued together without the whitespace RFC 2047 asks for ("?==?"): split them first.
_GLUED_WORDS = re.compile(r"(\?=)(=\?)")


def _has_surrogates(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def decode_header_value(value: Any, fallbacks: Sequence[str] = DEFAULT_FALLBACKS) -> str:
    """The text of one header value (encoded words decoded, 8-bit bytes decoded by the usual charsets)."""
    try:
        if isinstance(value, Header):
            chunks = decode_header(value)
        else:
            text = str(value)
            if _has_surrogates(text):
                return decode_bytes(text.encode("ascii", "surrogateescape"), None, fallbacks)[0]
            if "=?" not in text:
                return text
            chunks = decode_header(_GLUED_WORDS.sub(r"\1 \2", text))
        parts = []
        for chunk, charset in chunks:
            if isinstance(chunk, bytes):
                parts.append(decode_bytes(chunk, charset, fallbacks)[0])
            else:
                parts.append(chunk)
        return "".join(parts)
    except Exception:  # a malformed encoded word: keep the raw value rather than lose the header
        try:
            return str(value)
        except Exception:
            return ""


def one_line(text: str, limit: int = MAX_HEADER_CHARS) -> str:
    """Folded header text as one line, trimmed."""
    return _WHITESPACE.sub(" ", text).strip()[:limit]


def message_ids(value: str | None) -> list[str]:
    """Every ``<id>`` in a Message-ID, In-Reply-To or References value, in order, without repeats."""
    if not value:
        return []
    found: list[str] = []
    for match in _MSG_ID.findall(value):
        if match not in found:
            found.append(match)
    return found


def first_message_id(value: str | None) -> str | None:
    """The Message-ID in a header value; a bare id without angle brackets is accepted and bracketed."""
    ids = message_ids(value)
    if ids:
        return ids[0]
    bare = one_line(value or "", 900)
    if bare and " " not in bare and "@" in bare:
        return f"<{bare.strip('<>')}>"
    return None


def capped_references(ids: list[str]) -> list[str]:
    """At most :data:`MAX_REFERENCES`: the thread root and the most recent ones (as RFC 5322 suggests)."""
    if len(ids) <= MAX_REFERENCES:
        return ids
    return [ids[0], *ids[-(MAX_REFERENCES - 1) :]]


def addresses(value: Any, fallbacks: Sequence[str] = DEFAULT_FALLBACKS) -> list[tuple[str, str]]:
    """``[(display name, address)]`` of an address header; names decoded, addresses lower-cased."""
    if value is None:
        return []
    try:
        raw = str(value) if not isinstance(value, Header) else decode_header_value(value, fallbacks)
        if _has_surrogates(raw):
            raw = decode_bytes(raw.encode("ascii", "surrogateescape"), None, fallbacks)[0]
        result = []
        for name, address in getaddresses([raw]):
            address = address.strip().strip("<>").strip().lower()
            if "@" not in address or len(address) > 320 or any(ch.isspace() for ch in address):
                continue
            decoded_name = one_line(decode_header_value(name, fallbacks), 200).strip("\"' ")
            result.append((decoded_name, address))
        return result
    except Exception:
        return []


def parse_date(value: str | None) -> datetime | None:
    """The Date header as an aware datetime (UTC when it names no zone), or None when unreadable."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
