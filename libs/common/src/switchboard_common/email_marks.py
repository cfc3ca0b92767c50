"""How Switchboard marks the email it sends, so that its own mail is recognised when it comes back.

The notifier gives every email it sends a Message-ID derived from the notification id with the
local part ``switchboard.<kind>.<uuid>`` and a ``X-Switchboard-Notification`` header. intake-email
treats a message carrying either as its own (never acknowledged, never routed), whatever domain the
operator configured, so an acknowledgement that lands in a watched mailbox can never start a loop.
"""

from __future__ import annotations

import re

NOTIFICATION_HEADER = "X-Switchboard-Notification"

_LOCAL_PART = re.compile(r"^switchboard\.[a-z_]+\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def notification_message_id(notification_id: str, kind: str, domain: str) -> str:
    """``<switchboard.ack.<notification id>@<domain>>``: the same notification always gets the same id."""
    return f"<switchboard.{kind}.{notification_id.lower()}@{domain}>"


def is_notification_message_id(message_id: str | None) -> bool:
    """Whether a Message-ID is one :func:`notification_message_id` made."""
    if not message_id:
        return False
    local, sep, _ = message_id.strip().strip("<>").rpartition("@")
    return bool(sep) and _LOCAL_PART.match(local.lower()) is not None
