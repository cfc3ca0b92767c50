"""Chat providers' webhook requests, built and signed the way each provider builds and signs them.

For tests and for ``switchboard-chat-sim``. The formats follow the providers' documentation:
Slack Events API (``v0`` signature), Meta webhooks (``X-Hub-Signature-256``), Telegram updates
(``X-Telegram-Bot-Api-Secret-Token``). Nothing here is imported from the code under test.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

JSON = {"Content-Type": "application/json"}


# -- signing ------------------------------------------------------------------------------------


def slack_request(
    signing_secret: str, payload: dict[str, Any], timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """Body and headers of an Events API request: ``v0=HMAC-SHA256(secret, "v0:<ts>:<body>")``."""
    body = json.dumps(payload).encode()
    ts = str(timestamp if timestamp is not None else int(time.time()))
    digest = hmac.new(signing_secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return body, {**JSON, "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def meta_request(app_secret: str, payload: dict[str, Any] | bytes) -> tuple[bytes, dict[str, str]]:
    """Body and headers of a Meta webhook POST: ``sha256=HMAC-SHA256(app secret, body)``."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {**JSON, "X-Hub-Signature-256": f"sha256={digest}"}


def telegram_request(secret_token: str, update: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """Body and headers of a Telegram webhook update."""
    return json.dumps(update).encode(), {**JSON, "X-Telegram-Bot-Api-Secret-Token": secret_token}


# -- payloads -----------------------------------------------------------------------------------


def slack_message_event(
    *,
    team: str,
    channel: str,
    user: str,
    text: str,
    ts: str,
    thread_ts: str | None = None,
    event_id: str | None = None,
    channel_type: str = "im",
    event_type: str = "message",
    app_id: str = "A0SWITCHBD",
    bot_user: str = "U0SUPPORTBOT",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An ``event_callback`` with a message (or app_mention) event, as Slack posts it."""
    event: dict[str, Any] = {
        "type": event_type,
        "user": user,
        "text": text,
        "ts": ts,
        "team": team,
        "channel": channel,
        "event_ts": ts,
        "client_msg_id": f"client-{ts}",
    }
    if event_type == "message":
        event["channel_type"] = channel_type
    if thread_ts:
        event["thread_ts"] = thread_ts
    event.update(extra or {})
    return {
        "token": "verification-token-unused",
        "team_id": team,
        "api_app_id": app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{ts.replace('.', '')}",
        "event_time": int(float(ts)),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team,
                "user_id": bot_user,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
    }


def whatsapp_text(
    *,
    phone_number_id: str,
    wa_id: str,
    text: str,
    message_id: str,
    name: str = "Customer",
    timestamp: int | None = None,
) -> dict[str, Any]:
    """A WhatsApp Cloud API ``messages`` webhook with one text message."""
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "WABA-ID",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "15550000000", "phone_number_id": phone_number_id},
                            "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
                            "messages": [
                                {
                                    "from": wa_id,
                                    "id": message_id,
                                    "timestamp": str(timestamp or int(time.time())),
                                    "type": "text",
                                    "text": {"body": text},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }


def messenger_text(*, page_id: str, psid: str, text: str, mid: str, timestamp_ms: int | None = None) -> dict[str, Any]:
    """A Messenger ``page`` webhook with one text message."""
    when = timestamp_ms or int(time.time() * 1000)
    return {
        "object": "page",
        "entry": [
            {
                "id": page_id,
                "time": when,
                "messaging": [
                    {
                        "sender": {"id": psid},
                        "recipient": {"id": page_id},
                        "timestamp": when,
                        "message": {"mid": mid, "text": text},
                    }
                ],
            }
        ],
    }


def telegram_text_update(
    *,
    update_id: int,
    chat_id: int,
    message_id: int,
    text: str,
    first_name: str = "Customer",
    language_code: str | None = "en",
    edited: bool = False,
) -> dict[str, Any]:
    """A Telegram update with a (possibly edited) text message in a private chat."""
    sender: dict[str, Any] = {"id": chat_id, "is_bot": False, "first_name": first_name}
    if language_code:
        sender["language_code"] = language_code
    now = int(time.time())
    message: dict[str, Any] = {
        "message_id": message_id,
        "from": sender,
        "chat": {"id": chat_id, "first_name": first_name, "type": "private"},
        "date": now,
        "text": text,
    }
    if edited:
        message["edit_date"] = now
    return {"update_id": update_id, "edited_message" if edited else "message": message}
