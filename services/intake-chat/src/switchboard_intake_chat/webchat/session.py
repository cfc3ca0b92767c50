"""Chat sessions: a conversation id and a token that proves the client owns it.

A token is ``<conversation id>.<issued-at>.<HMAC>``; the server keeps no session table, so any
replica can verify any token, and a client cannot resume (or read) another customer's conversation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

PREFIX = "wc_"


@dataclass(frozen=True, slots=True)
class ChatSession:
    conversation_id: str
    issued_at: int
    token: str


def _signature(secret: bytes, conversation_id: str, issued_at: int) -> str:
    mac = hmac.new(secret, f"{conversation_id}.{issued_at}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:18]).decode()


def new_session(secret: bytes, now: int) -> ChatSession:
    conversation_id = PREFIX + secrets.token_urlsafe(16)
    return ChatSession(conversation_id, now, f"{conversation_id}.{now}.{_signature(secret, conversation_id, now)}")


def verify_session(secret: bytes, token: str, now: int, ttl_seconds: int) -> ChatSession | None:
    """The session a token proves, or None for a forged, malformed or expired token."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[0].startswith(PREFIX) or not parts[1].isdigit():
        return None
    conversation_id, issued, signature = parts[0], int(parts[1]), parts[2]
    if not hmac.compare_digest(signature, _signature(secret, conversation_id, issued)):
        return None
    if issued > now + 60 or now - issued > ttl_seconds:
        return None
    return ChatSession(conversation_id, issued, token)
