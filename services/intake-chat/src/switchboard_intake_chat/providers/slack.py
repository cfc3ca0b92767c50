"""Slack Events API: request verification and normalisation. Pure (no web framework, no I/O).

Slack signs every request with the app's signing secret: ``X-Slack-Signature: v0=<hex HMAC-SHA256
of "v0:<X-Slack-Request-Timestamp>:<raw body>">``; a timestamp more than five minutes off is a
replay. A conversation is a Slack thread: a top-level message starts one (its ``ts`` names it) and
replies carry its ``thread_ts``; the acknowledgement goes into that thread.

Interactivity (buttons pressed in a message) arrives signed the same way, as a form whose ``payload``
field holds the JSON. A ``block_actions`` press on a satisfaction request's rating button (posted
into the customer's thread) is the customer's answer, in that thread's conversation; every other
interaction is recorded and not published.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from slack_sdk.signature import Clock, SignatureVerifier

from switchboard_common.events.models import Attachment, Channel, CustomerIdentity, IntakeMessage, ReplyTarget
from switchboard_common.identity import conversation_key, customer_key, event_id
from switchboard_common.satisfaction import parse_rating_payload
from switchboard_intake_chat.providers.normalised import (
    Ignored,
    IgnoreReason,
    Normalised,
    from_epoch,
    ids,
    items,
    mapping,
    message_text,
    text_of,
)
from switchboard_intake_chat.ratings import rating_answer

REPLAY_WINDOW_SECONDS = 5 * 60

# Message subtypes that carry what a person wrote; every other subtype (joins, topic changes, edits,
# deletions, bot messages ...) is not a customer's message.
CUSTOMER_SUBTYPES = frozenset({"", "file_share", "thread_broadcast", "me_message"})
EDIT_SUBTYPES = frozenset({"message_changed"})
DELETION_SUBTYPES = frozenset({"message_deleted"})


class SlackSettings(BaseSettings):
    """The Slack Events API endpoint. Off unless ``SLACK_SIGNING_SECRET`` is set."""

    model_config = SettingsConfigDict(env_prefix="SLACK_", extra="ignore", env_file=".env")

    signing_secret: SecretStr = Field(description="The Slack app's signing secret (Basic Information page).")
    ack_deadline_seconds: float = Field(
        default=2.5,
        gt=0,
        le=2.9,
        description="Longest wait for Kafka before answering 503 (Slack gives up after 3 s and retries).",
    )
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_text_chars: int = Field(default=8_000, ge=100)
    ignore_staff_in_shared_channels: bool = Field(
        default=True,
        description="In channels shared with other organisations (Slack Connect), messages by members of "
        "the app's own workspace are staff, not customers.",
    )


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a request is not from Slack."""

    code: str
    reason: str


def verify_slack_request(
    secret: str, body: bytes, timestamp: str | None, signature: str | None, now: float
) -> Rejection | None:
    """None when the request is Slack's own and fresh; the reason otherwise."""
    if not timestamp or not signature:
        return Rejection("missing_signature", "X-Slack-Request-Timestamp and X-Slack-Signature are required")
    if not timestamp.isdigit():
        return Rejection("bad_timestamp", "X-Slack-Request-Timestamp is not a Unix time")
    if abs(now - int(timestamp)) > REPLAY_WINDOW_SECONDS:
        return Rejection("stale_timestamp", "the request timestamp is more than 5 minutes off: a replay?")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return Rejection("bad_body", "the body is not UTF-8")
    verifier = SignatureVerifier(secret, clock=_FixedClock(now))
    if not verifier.is_valid(body=body, timestamp=timestamp, signature=signature):
        return Rejection("bad_signature", "the signature does not match the body")
    return None


class _FixedClock(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


@dataclass(frozen=True, slots=True)
class UrlVerification:
    """Slack checking the endpoint when the Request URL is set: answer with the challenge."""

    challenge: str


@dataclass(frozen=True, slots=True)
class Malformed:
    """A body that is neither JSON nor a form Slack sends."""

    reason: str


def parse_slack_body(body: bytes, content_type: str | None) -> dict[str, Any] | Malformed:
    """The payload: JSON for the Events API; interactivity and slash commands come as forms."""
    kind = (content_type or "").split(";")[0].strip().lower()
    try:
        text = body.decode("utf-8")
        if kind == "application/x-www-form-urlencoded":
            form = {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}
            if "payload" in form:  # interactivity: one field holding the JSON payload
                payload = json.loads(form["payload"])
                return payload if isinstance(payload, dict) else Malformed("the payload field is not a JSON object")
            return {"type": "slash_command" if "command" in form else "form", **form}
        document = json.loads(text)
    except (UnicodeDecodeError, ValueError) as exc:
        return Malformed(f"not valid JSON: {exc}")
    return document if isinstance(document, dict) else Malformed("the body is not a JSON object")


def normalise_slack_payload(
    payload: dict[str, Any], *, received_at: datetime, settings: SlackSettings
) -> UrlVerification | list[Normalised]:
    """An Events API payload: the url_verification challenge, or what its event amounts to."""
    kind = text_of(payload.get("type"))
    if kind == "url_verification":
        return UrlVerification(text_of(payload.get("challenge")))
    if kind == "block_actions":
        return normalise_block_actions(payload, received_at=received_at)
    if kind in INTERACTION_TYPES:
        return [Ignored(IgnoreReason.NOT_CUSTOMER_CONTENT, kind, provider_ids=ids(team_id=_team_of(payload)))]
    if kind != "event_callback":
        reason = IgnoreReason.PLATFORM_NOTICE if kind == "app_rate_limited" else IgnoreReason.UNKNOWN_TYPE
        return [Ignored(reason, kind or "(no type)", provider_ids=ids(team_id=payload.get("team_id")))]
    event = mapping(payload.get("event"))
    event_type = text_of(event.get("type"))
    if event_type not in ("message", "app_mention"):
        return [
            Ignored(
                IgnoreReason.NOT_CUSTOMER_CONTENT if event_type else IgnoreReason.UNKNOWN_TYPE,
                f"event_callback/{event_type or '(no type)'}",
                provider_ids=ids(event_id=payload.get("event_id")),
            )
        ]
    return [_normalise_message(payload, event, received_at, settings)]


def _normalise_message(
    payload: dict[str, Any], event: dict[str, Any], received_at: datetime, settings: SlackSettings
) -> Normalised:
    event_type = text_of(event.get("type"))
    subtype = text_of(event.get("subtype"))
    kind = f"{event_type}/{subtype}" if subtype else event_type
    team = text_of(payload.get("team_id")) or text_of(event.get("team"))
    channel = text_of(event.get("channel"))
    ts = text_of(event.get("ts"))
    user = text_of(event.get("user"))
    provider = ids(event_id=payload.get("event_id"), team_id=team, channel=channel, ts=ts)
    bot_users = {text_of(a.get("user_id")) for a in items(payload.get("authorizations")) if a.get("is_bot") is True} - {
        ""
    }
    own_app = text_of(payload.get("api_app_id"))
    if (own_app and text_of(event.get("app_id")) == own_app) or (user and user in bot_users):
        return Ignored(IgnoreReason.OWN_MESSAGE, kind, provider_ids=provider)
    if text_of(event.get("bot_id")) or subtype == "bot_message":
        return Ignored(IgnoreReason.BOT, kind, provider_ids=provider)
    if subtype in EDIT_SUBTYPES:
        return Ignored(IgnoreReason.EDIT, kind, provider_ids=provider)
    if subtype in DELETION_SUBTYPES:
        return Ignored(IgnoreReason.DELETION, kind, provider_ids=provider)
    if subtype not in CUSTOMER_SUBTYPES or event.get("hidden") is True:
        return Ignored(IgnoreReason.NOT_CUSTOMER_CONTENT, kind, provider_ids=provider)
    if not (team and channel and ts and user):
        missing = [
            name for name, value in (("team", team), ("channel", channel), ("ts", ts), ("user", user)) if not value
        ]
        return Ignored(IgnoreReason.INCOMPLETE, kind, f"missing {', '.join(missing)}", provider)
    user_team = text_of(event.get("user_team")) or text_of(event.get("team")) or team
    if settings.ignore_staff_in_shared_channels and payload.get("is_ext_shared_channel") is True and user_team == team:
        return Ignored(IgnoreReason.STAFF, kind, "a member of the app's workspace in a shared channel", provider)

    thread_ts = text_of(event.get("thread_ts")) or ts
    text = slack_plain_text(text_of(event.get("text")), strip_mentions=bot_users)
    profile = mapping(event.get("user_profile"))
    name = text_of(profile.get("display_name")).strip() or text_of(profile.get("real_name")).strip()
    account = team
    return IntakeMessage(
        # The message itself (team, channel, ts) names the event: Slack's retries of one event and the
        # message and app_mention events that one message in a channel produces give the same id.
        event_id=event_id("slack", team, channel, ts),
        channel=Channel.SLACK,
        channel_account=f"slack:{account}",
        received_at=received_at,
        sent_at=from_epoch(ts),
        conversation_id=conversation_key("slack", team, channel, thread_ts),
        customer=CustomerIdentity(
            key=customer_key(Channel.SLACK.value, f"{user_team}:{user}"),
            handle=user,
            display_name=name or None,
        ),
        reply_to=ReplyTarget(
            channel=Channel.SLACK,
            account=account,
            address=channel,
            thread=thread_ts,
            metadata=ids(channel_type=event.get("channel_type")),
        ),
        text=message_text(text, settings.max_text_chars),
        attachments=[_attachment(f) for f in items(event.get("files"))],
        provider_ids=ids(
            event_id=payload.get("event_id"),
            event_type=event_type,
            subtype=subtype,
            team_id=team,
            user_team=user_team if user_team != team else None,
            channel=channel,
            channel_type=event.get("channel_type"),
            ts=ts,
            thread_ts=event.get("thread_ts"),
            client_msg_id=event.get("client_msg_id"),
        ),
        raw_ref=f"slack://{team}/{channel}/{ts}",
    )


INTERACTION_TYPES = frozenset(
    {
        "block_actions",
        "block_suggestion",
        "interactive_message",
        "message_action",
        "shortcut",
        "view_submission",
        "view_closed",
        "dialog_submission",
        "dialog_suggestion",
        "dialog_cancellation",
        "slash_command",
        "form",
    }
)
"""Payload types of Slack's interactivity request URL (and slash commands): not Events API events."""


def _team_of(payload: dict[str, Any]) -> str:
    return text_of(mapping(payload.get("team")).get("id")) or text_of(payload.get("team_id"))


def normalise_block_actions(payload: dict[str, Any], *, received_at: datetime) -> list[Normalised]:
    """Buttons (or menu options) pressed in a message: a rating is the customer's answer in the message's thread.

    The conversation is the thread the pressed message sits in (``thread_ts``; the message's own ``ts``
    when it is not in a thread): the same id the message normaliser gives the customer's messages there.
    """
    team = _team_of(payload)
    user = mapping(payload.get("user"))
    user_id = text_of(user.get("id"))
    user_team = text_of(user.get("team_id")) or team
    container = mapping(payload.get("container"))
    message = mapping(payload.get("message"))
    channel = text_of(mapping(payload.get("channel")).get("id")) or text_of(container.get("channel_id"))
    message_ts = text_of(container.get("message_ts")) or text_of(message.get("ts"))
    thread_ts = text_of(message.get("thread_ts")) or text_of(container.get("thread_ts")) or message_ts
    outcomes: list[Normalised] = []
    for action in items(payload.get("actions")):
        action_type = text_of(action.get("type")) or "(no type)"
        kind = f"block_actions/{action_type}"
        value = text_of(action.get("value")) or text_of(mapping(action.get("selected_option")).get("value"))
        action_ts = text_of(action.get("action_ts"))
        provider = ids(team_id=team, channel=channel, message_ts=message_ts, action_id=action.get("action_id"))
        if parse_rating_payload(value) is None:
            outcomes.append(Ignored(IgnoreReason.NOT_CUSTOMER_CONTENT, kind, "not a satisfaction rating", provider))
            continue
        if text_of(container.get("type")) not in ("", "message") or not (team and channel and thread_ts and user_id):
            outcomes.append(Ignored(IgnoreReason.INCOMPLETE, kind, "no team, channel, message or user", provider))
            continue
        label = text_of(mapping(action.get("text")).get("text"))
        press = IntakeMessage(
            event_id=event_id("slack", team, channel, message_ts, "action", user_id, action_ts or value),
            channel=Channel.SLACK,
            channel_account=f"slack:{team}",
            received_at=received_at,
            sent_at=from_epoch(action_ts),
            conversation_id=conversation_key("slack", team, channel, thread_ts),
            customer=CustomerIdentity(
                key=customer_key(Channel.SLACK.value, f"{user_team}:{user_id}"),
                handle=user_id,
                display_name=text_of(user.get("name")) or text_of(user.get("username")) or None,
            ),
            reply_to=ReplyTarget(channel=Channel.SLACK, account=team, address=channel, thread=thread_ts),
            text=message_text(label, 200),
            provider_ids=ids(
                team_id=team,
                user_team=user_team if user_team != team else None,
                channel=channel,
                message_ts=message_ts,
                thread_ts=thread_ts,
                action_id=action.get("action_id"),
                block_id=action.get("block_id"),
                action_ts=action_ts,
            ),
            raw_ref=f"slack://{team}/{channel}/{message_ts}/action/{action_ts}",
        )
        answer = rating_answer(press, value)
        outcomes.append(answer if answer is not None else Ignored(IgnoreReason.NOT_CUSTOMER_CONTENT, kind))
    if not outcomes:
        outcomes.append(Ignored(IgnoreReason.INCOMPLETE, "block_actions", "no actions", ids(team_id=team)))
    return outcomes


def _attachment(file: dict[str, Any]) -> Attachment:
    size = file.get("size")
    return Attachment(
        filename=text_of(file.get("name")) or text_of(file.get("title")) or None,
        content_type=text_of(file.get("mimetype")) or "application/octet-stream",
        size_bytes=size if isinstance(size, int) and size >= 0 else None,
        url=text_of(file.get("url_private")) or text_of(file.get("permalink")) or None,
        duration_seconds=file["duration_ms"] / 1000 if isinstance(file.get("duration_ms"), int | float) else None,
    )


_LINK = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")


def slack_plain_text(text: str, strip_mentions: set[str] | frozenset[str] = frozenset()) -> str:
    """Slack's message markup as plain text: ``<@U1>`` → ``@U1``, ``<url|label>`` → label, entities unescaped.

    Mentions of ``strip_mentions`` (the app's own bot user, in an app_mention) are removed.
    """

    def replace(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        if target.startswith("@"):
            return "" if target[1:] in strip_mentions else f"@{label or target[1:]}"
        if target.startswith("#"):
            return f"#{label or target[1:]}"
        if target.startswith("!"):
            return f"@{label or target[1:].split('^')[0]}"
        return label or target

    return html.unescape(_LINK.sub(replace, text)).strip()
