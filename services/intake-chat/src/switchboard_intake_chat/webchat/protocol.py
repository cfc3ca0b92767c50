"""The web-chat wire protocol: JSON frames over WebSocket, JSON bodies over HTTP.

Client to server::

    {"type": "message", "id": "<client message id>", "text": "...", "language"?: "zh-Hans",
     "customer"?: {"name": "...", "email": "..."}}
    {"type": "action", "id": "<client action id>", "value": "<the pressed button's value>"}
    {"type": "ping"}

Server to client::

    {"type": "welcome", "conversation_id": "...", "session": "<token>", "limits": {...}}
    {"type": "accepted", "id": "<client message id>", "event_id": "..."}
    {"type": "message", "message_id": "...", "kind": "ack", "text": "...", "case_reference": "...",
     "department": "...", "sent_at": "...", "cursor": "<partition>-<offset>", "in_reply_to": "...",
     "actions": [{"label": "★★★★", "value": "sb-rating:SB-...:4"}, ...]}
    {"type": "error", "code": "...", "reason": "...", "retryable": false, "id"?: "...", "retry_after"?: 1.5}
    {"type": "pong"}

A message's ``actions`` are buttons (a satisfaction request's 1-5); pressing one sends an ``action``
frame with the button's value, answered ``accepted`` (with the same id) or an ``invalid_action``
error. A client keeps the last ``cursor`` it saw and sends it as ``after`` when it reconnects, to receive
what it missed. Unknown fields are rejected: a frame means exactly what it says.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from switchboard_common.events.models import Language

CLIENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,}$")


class CustomerDetails(BaseModel):
    """What the customer chose to tell about themselves in the chat widget."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not EMAIL.match(value):
            raise ValueError("not an email address")
        return value


class ChatMessageIn(BaseModel):
    """A customer's message."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["message"] = "message"
    id: str = Field(description="Client-chosen id; resending the same id never creates a second message.")
    text: str = Field(min_length=1)
    language: Language | None = None
    customer: CustomerDetails | None = None

    @field_validator("id")
    @classmethod
    def _client_id(cls, value: str) -> str:
        if not CLIENT_ID.match(value):
            raise ValueError("use 1-64 characters: letters, digits, '_', '-', '.', ':'")
        return value


class ChatActionIn(BaseModel):
    """A button of a message pressed (the value the button carried)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["action"] = "action"
    id: str = Field(description="Client-chosen id; resending the same id never records the press twice.")
    value: str = Field(min_length=1, max_length=200)

    @field_validator("id")
    @classmethod
    def _client_id(cls, value: str) -> str:
        if not CLIENT_ID.match(value):
            raise ValueError("use 1-64 characters: letters, digits, '_', '-', '.', ':'")
        return value


class Ping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["ping"]


class ErrorCode:
    """Error codes clients can rely on."""

    INVALID_JSON = "invalid_json"
    INVALID_FRAME = "invalid_frame"
    UNKNOWN_TYPE = "unknown_type"
    FRAME_TOO_LARGE = "frame_too_large"
    TEXT_TOO_LONG = "text_too_long"
    EMPTY_TEXT = "empty_text"
    INVALID_ACTION = "invalid_action"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    BINARY_NOT_SUPPORTED = "binary_not_supported"
