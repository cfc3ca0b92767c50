"""A web-chat message as the normalised intake event. Pure."""

from __future__ import annotations

from datetime import datetime

from switchboard_common.events.models import (
    Channel,
    CustomerIdentity,
    IntakeMessage,
    Language,
    MessageText,
    ReplyTarget,
)
from switchboard_common.identity import customer_key, event_id
from switchboard_common.text import language_from_locale, safe_plain_text
from switchboard_intake_chat.ratings import rating_answer
from switchboard_intake_chat.webchat.protocol import ChatActionIn, ChatMessageIn


def normalise_webchat(
    message: ChatMessageIn,
    *,
    conversation_id: str,
    channel_account: str,
    received_at: datetime,
    max_text_chars: int,
    locale: str | None = None,
) -> IntakeMessage:
    """The intake event for one chat message; the same message id always gives the same event id."""
    plain, truncated = safe_plain_text(message.text, max_text_chars)
    customer = message.customer
    email = customer.email.lower() if customer and customer.email else None
    handle = email or conversation_id
    hint = message.language or _language(locale)
    return IntakeMessage(
        event_id=event_id("webchat", channel_account, conversation_id, message.id),
        channel=Channel.WEBCHAT,
        channel_account=channel_account,
        received_at=received_at,
        conversation_id=conversation_id,
        customer=CustomerIdentity(
            key=customer_key(Channel.WEBCHAT.value, handle),
            handle=handle,
            display_name=customer.name.strip() if customer and customer.name and customer.name.strip() else None,
            locale=locale,
        ),
        reply_to=ReplyTarget(channel=Channel.WEBCHAT, account=channel_account, address=conversation_id),
        text=MessageText(
            original=message.text[: max_text_chars * 2], plain=plain, new_content=plain, truncated=truncated
        ),
        language_hint=hint,
        provider_ids={"client_message_id": message.id},
        raw_ref=f"webchat://{channel_account}/{conversation_id}/{message.id}",
    )


def normalise_webchat_action(
    action: ChatActionIn,
    *,
    conversation_id: str,
    channel_account: str,
    received_at: datetime,
    locale: str | None = None,
) -> IntakeMessage | None:
    """The customer's answer a pressed button carries, in the session's conversation; None when it is none.

    The same action id always gives the same event id (distinct from any message's).
    """
    press = normalise_webchat(
        ChatMessageIn(id=action.id, text=action.value),
        conversation_id=conversation_id,
        channel_account=channel_account,
        received_at=received_at,
        max_text_chars=len(action.value),
        locale=locale,
    )
    answer = rating_answer(press, action.value)
    if answer is None:
        return None
    return answer.model_copy(
        update={
            "event_id": event_id("webchat", channel_account, conversation_id, "action", action.id),
            "provider_ids": {"client_action_id": action.id, "rating_payload": answer.provider_ids["rating_payload"]},
            "raw_ref": f"webchat://{channel_account}/{conversation_id}/action/{action.id}",
        }
    )


def _language(locale: str | None) -> Language | None:
    tag = language_from_locale(locale)
    return Language(tag) if tag else None
