"""Chat providers' webhook requests, built and signed the way each provider builds and signs them.

For tests and for ``switchboard-chat-sim``. The formats follow the providers' documentation:
Slack Events API and interactivity (``v0`` signature), Meta webhooks (``X-Hub-Signature-256``),
Telegram updates (``X-Telegram-Bot-Api-Secret-Token``). Button presses (Slack ``block_actions``,
Telegram ``callback_query``, WhatsApp interactive replies, Messenger quick replies and postbacks) are
built here too. Nothing here is imported from the code under test.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode

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


def slack_interaction_request(
    signing_secret: str, payload: dict[str, Any], timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """Body and headers of an interactivity request: a form with one ``payload`` field, signed like events."""
    body = urlencode({"payload": json.dumps(payload)}).encode()
    ts = str(timestamp if timestamp is not None else int(time.time()))
    digest = hmac.new(signing_secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return body, {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
    }


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


# -- button presses -----------------------------------------------------------------------------


def slack_block_actions(
    *,
    team: str,
    channel: str,
    user: str,
    value: str,
    message_ts: str,
    thread_ts: str | None = None,
    label: str = "4",
    action_ts: str | None = None,
    bot_user: str = "U0SUPPORTBOT",
    app_id: str = "A0SWITCHBD",
) -> dict[str, Any]:
    """A ``block_actions`` payload: ``user`` pressed a button of the app's message ``message_ts``.

    The message sits in the thread ``thread_ts`` when given (as a satisfaction request posted into
    the customer's thread does).
    """
    pressed_at = action_ts or f"{time.time():.6f}"
    message: dict[str, Any] = {
        "type": "message",
        "subtype": "bot_message",
        "text": "How satisfied are you?",
        "ts": message_ts,
        "bot_id": "B0SUPPORT",
        "user": bot_user,
        "blocks": [
            {
                "type": "actions",
                "block_id": "rating",
                "elements": [
                    {
                        "type": "button",
                        "action_id": f"rating-{label}",
                        "text": {"type": "plain_text", "text": label, "emoji": True},
                        "value": value,
                    }
                ],
            }
        ],
    }
    container: dict[str, Any] = {
        "type": "message",
        "message_ts": message_ts,
        "channel_id": channel,
        "is_ephemeral": False,
    }
    if thread_ts:
        message["thread_ts"] = thread_ts
        container["thread_ts"] = thread_ts
    return {
        "type": "block_actions",
        "user": {"id": user, "username": "customer", "name": "customer", "team_id": team},
        "api_app_id": app_id,
        "token": "verification-token-unused",
        "container": container,
        "trigger_id": "1111.2222.abcd",
        "team": {"id": team, "domain": "customer-workspace"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": "directmessage"},
        "message": message,
        "state": {"values": {}},
        "response_url": f"https://hooks.slack.com/actions/{team}/1/xyz",
        "actions": [
            {
                "action_id": f"rating-{label}",
                "block_id": "rating",
                "text": {"type": "plain_text", "text": label, "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": pressed_at,
            }
        ],
    }


def telegram_callback_query_update(
    *,
    update_id: int,
    query_id: str,
    chat_id: int,
    message_id: int,
    data: str,
    first_name: str = "Customer",
    language_code: str | None = "en",
    bot_id: int = 4242,
) -> dict[str, Any]:
    """An update with a ``callback_query``: the customer pressed an inline-keyboard button of the bot's message."""
    sender: dict[str, Any] = {"id": chat_id, "is_bot": False, "first_name": first_name}
    if language_code:
        sender["language_code"] = language_code
    return {
        "update_id": update_id,
        "callback_query": {
            "id": query_id,
            "from": sender,
            "message": {
                "message_id": message_id,
                "from": {"id": bot_id, "is_bot": True, "first_name": "Support", "username": "support_bot"},
                "chat": {"id": chat_id, "first_name": first_name, "type": "private"},
                "date": int(time.time()) - 60,
                "text": "How satisfied are you?",
                "reply_markup": {"inline_keyboard": [[{"text": "★★★★", "callback_data": data}]]},
            },
            "chat_instance": "-1234567890123456789",
            "data": data,
        },
    }


def whatsapp_interactive_reply(
    *,
    phone_number_id: str,
    wa_id: str,
    reply_id: str,
    title: str,
    message_id: str,
    kind: str = "button_reply",
    context_id: str = "wamid.survey",
    name: str = "Customer",
    description: str | None = None,
) -> dict[str, Any]:
    """A ``messages`` webhook with an interactive reply: a reply button (``button_reply``) or a list row."""
    reply: dict[str, Any] = {"id": reply_id, "title": title}
    if description and kind == "list_reply":
        reply["description"] = description
    payload = whatsapp_text(phone_number_id=phone_number_id, wa_id=wa_id, text="", message_id=message_id, name=name)
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    del message["text"]
    message.update(
        {
            "type": "interactive",
            "context": {"from": phone_number_id, "id": context_id},
            "interactive": {"type": kind, kind: reply},
        }
    )
    return payload


def messenger_quick_reply(*, page_id: str, psid: str, mid: str, text: str, payload: str) -> dict[str, Any]:
    """A Messenger message sent by tapping a quick reply: its title as text, its payload alongside."""
    body = messenger_text(page_id=page_id, psid=psid, text=text, mid=mid)
    body["entry"][0]["messaging"][0]["message"]["quick_reply"] = {"payload": payload}
    return body


def messenger_postback(*, page_id: str, psid: str, title: str, payload: str, mid: str | None = None) -> dict[str, Any]:
    """A ``messaging_postbacks`` event: a postback button pressed."""
    when = int(time.time() * 1000)
    postback: dict[str, Any] = {"title": title, "payload": payload}
    if mid:
        postback["mid"] = mid
    return {
        "object": "page",
        "entry": [
            {
                "id": page_id,
                "time": when,
                "messaging": [
                    {"sender": {"id": psid}, "recipient": {"id": page_id}, "timestamp": when, "postback": postback}
                ],
            }
        ],
    }
