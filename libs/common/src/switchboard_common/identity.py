"""Deterministic identifiers.

Event ids derive from the provider's own ids, so a redelivered provider message produces the same
event id and is suppressed downstream. Customer keys derive from the channel and handle, so the same
customer on the same channel always has the same key without a lookup.
"""

from __future__ import annotations

import hashlib
import uuid

SWITCHBOARD_NAMESPACE = uuid.UUID("6f1f3c52-5b8e-4d0e-9a55-3b1f0a9d2c41")


def event_id(kind: str, *parts: str) -> str:
    """A UUIDv5 over ``kind`` and the provider ids that identify one provider message.

    ``event_id("slack", team_id, event_id)`` is the same every time Slack redelivers that event.
    Parts are joined with a separator that cannot appear inside them unescaped.
    """
    if not parts:
        raise ValueError("an event id needs at least one provider id")
    name = "\x1f".join((kind, *(p.replace("\x1f", " ") for p in parts)))
    return uuid5(SWITCHBOARD_NAMESPACE.bytes, name)


def derived_event_id(source_event_id: str, stage: str) -> str:
    """The id of an event derived from another one (classified, routed, ...), stable across retries."""
    return uuid5(_uuid_bytes(source_event_id), stage)


def uuid5(namespace: bytes, name: str) -> str:
    """``str(uuid.uuid5(UUID(bytes=namespace), name))`` without building UUID objects (every event pays it)."""
    digest = bytearray(hashlib.sha1(namespace + name.encode("utf-8"), usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _uuid_bytes(text: str) -> bytes:
    """The 16 bytes of a UUID string; the canonical 8-4-4-4-12 form directly, any other form through ``uuid``."""
    if len(text) == 36 and text[8] == text[13] == text[18] == text[23] == "-":
        try:
            raw = bytes.fromhex(text.replace("-", ""))
        except ValueError:
            raw = b""
        if len(raw) == 16:
            return raw
    return uuid.UUID(text).bytes


def customer_key(channel: str, handle: str) -> str:
    """A stable, non-reversible key for one customer identity on one channel."""
    normalised = handle.strip().lower()
    digest = hashlib.blake2b(f"{channel}\x1f{normalised}".encode(), digest_size=12).hexdigest()
    return f"cust_{digest}"


def conversation_key(channel: str, *parts: str) -> str:
    """An opaque conversation id for conversations named by contact details (a phone number, an email thread).

    Conversation ids travel as record keys and in department events, which must not carry contact
    details: ``conversation_key("phone", account, caller_number)`` is stable and reveals nothing.
    """
    if not parts:
        raise ValueError("a conversation key needs at least one part")
    name = "\x1f".join((channel, *(p.strip().lower() for p in parts)))
    return f"{channel}_{hashlib.blake2b(name.encode(), digest_size=12).hexdigest()}"
