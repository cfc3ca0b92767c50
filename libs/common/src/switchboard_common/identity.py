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
    return str(uuid.uuid5(SWITCHBOARD_NAMESPACE, name))


def derived_event_id(source_event_id: str, stage: str) -> str:
    """The id of an event derived from another one (classified, routed, ...), stable across retries."""
    return str(uuid.uuid5(uuid.UUID(source_event_id), stage))


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
