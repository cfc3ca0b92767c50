"""Meta webhooks (WhatsApp Cloud API and Messenger): verification and normalisation. Pure.

Meta checks the callback URL with a GET handshake (``hub.mode=subscribe``, ``hub.verify_token``,
``hub.challenge``: echo the challenge when the token is ours) and signs every POST with
``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>``. One POST may carry many
events for several accounts; each becomes a message to publish or a recorded event.

Customer identities: WhatsApp names a customer by their phone number (``wa_id``), so conversation
ids are opaque keys and the number travels only in the reply address and the customer handle;
Messenger names them by a page-scoped id (PSID).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from switchboard_common.events.models import (
    Attachment,
    Channel,
    CustomerIdentity,
    IntakeMessage,
    ReplyTarget,
    ThreadInfo,
)
from switchboard_common.identity import conversation_key, customer_key, event_id
from switchboard_common.satisfaction import parse_rating_payload
from switchboard_intake_chat.providers.normalised import (
    Ignored,
    IgnoreReason,
    Normalised,
    from_epoch,
    ids,
    items,
    location_text,
    mapping,
    message_text,
    text_of,
)
from switchboard_intake_chat.ratings import rating_answer


class MetaSettings(BaseSettings):
    """The WhatsApp and Messenger webhooks. Off unless ``META_APP_SECRET`` and ``META_VERIFY_TOKEN`` are set."""

    model_config = SettingsConfigDict(env_prefix="META_", extra="ignore", env_file=".env")

    app_secret: SecretStr = Field(description="The Meta app's secret: the key of X-Hub-Signature-256.")
    verify_token: SecretStr = Field(description="The token typed into the app's webhook settings (GET handshake).")
    max_body_bytes: int = Field(default=4 * 1_048_576, ge=1024)
    max_text_chars: int = Field(default=8_000, ge=100)


# ---------------------------------------------------------------------------------------------
# verification


def verify_handshake(verify_token: str, mode: str | None, token: str | None, challenge: str | None) -> str | None:
    """The challenge to echo when Meta's GET handshake carries our verify token; None otherwise."""
    if mode != "subscribe" or token is None or challenge is None:
        return None
    if not hmac.compare_digest(token.encode(), verify_token.encode()):
        return None
    return challenge


def meta_signature(app_secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value Meta sends for ``body``."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def verify_meta_signature(app_secret: str, body: bytes, header: str | None) -> str | None:
    """None when ``header`` is Meta's signature of the raw body; the reason otherwise."""
    if not header:
        return "X-Hub-Signature-256 is required"
    if not header.startswith("sha256="):
        return "X-Hub-Signature-256 must be sha256=<hex>"
    if not hmac.compare_digest(header.strip().encode(), meta_signature(app_secret, body).encode()):
        return "the signature does not match the body"
    return None


# ---------------------------------------------------------------------------------------------
# normalisation


def normalise_meta_payload(
    payload: dict[str, Any], *, expected_object: str | None, received_at: datetime, max_text_chars: int
) -> list[Normalised]:
    """Every event of a webhook POST; ``expected_object`` is the endpoint's product (None: any)."""
    kind = text_of(payload.get("object"))
    if expected_object is not None and kind != expected_object:
        return [
            Ignored(IgnoreReason.UNKNOWN_TYPE, f"object/{kind or '(none)'}", f"this endpoint takes {expected_object}")
        ]
    if kind == "whatsapp_business_account":
        return list(_whatsapp(payload, received_at, max_text_chars))
    if kind == "page":
        return list(_messenger(payload, received_at, max_text_chars))
    return [Ignored(IgnoreReason.UNKNOWN_TYPE, f"object/{kind or '(none)'}")]


# -- WhatsApp ---------------------------------------------------------------------------------

# Change fields about the business account, its templates and numbers, never customers' messages.
WHATSAPP_NOTICE_FIELDS = frozenset(
    {
        "account_alerts",
        "account_review_update",
        "account_update",
        "business_capability_update",
        "business_status_update",
        "message_template_components_update",
        "message_template_quality_update",
        "message_template_status_update",
        "phone_number_name_update",
        "phone_number_quality_update",
        "security",
        "template_category_update",
        "user_preferences",
    }
)
WHATSAPP_MEDIA = ("image", "video", "audio", "document", "sticker")
DEFAULT_MEDIA_TYPES = {
    "image": "image/*",
    "video": "video/*",
    "audio": "audio/*",
    "document": "application/octet-stream",
    "sticker": "image/webp",
    "file": "application/octet-stream",
}


def _whatsapp(payload: dict[str, Any], received_at: datetime, max_chars: int) -> Iterator[Normalised]:
    for entry in items(payload.get("entry")):
        for change in items(entry.get("changes")):
            field = text_of(change.get("field"))
            value = mapping(change.get("value"))
            if field == "messages":
                yield from _whatsapp_messages(value, received_at, max_chars)
            elif field == "smb_message_echoes":
                yield Ignored(IgnoreReason.OWN_MESSAGE, f"whatsapp/{field}", "sent from the WhatsApp Business app")
            elif field in WHATSAPP_NOTICE_FIELDS:
                yield Ignored(IgnoreReason.PLATFORM_NOTICE, f"whatsapp/{field}", text_of(value.get("event")))
            elif field == "calls":
                yield Ignored(IgnoreReason.NOT_CUSTOMER_CONTENT, "whatsapp/calls", "a WhatsApp call event")
            else:
                yield Ignored(IgnoreReason.UNKNOWN_TYPE, f"whatsapp/{field or '(no field)'}")


def _whatsapp_messages(value: dict[str, Any], received_at: datetime, max_chars: int) -> Iterator[Normalised]:
    metadata = mapping(value.get("metadata"))
    phone_number_id = text_of(metadata.get("phone_number_id"))
    names = {
        text_of(c.get("wa_id")): text_of(mapping(c.get("profile")).get("name")) for c in items(value.get("contacts"))
    }
    for status in items(value.get("statuses")):
        errors = "; ".join(f"{e.get('code')} {text_of(e.get('title'))}" for e in items(status.get("errors")))
        yield Ignored(
            IgnoreReason.DELIVERY_STATUS,
            f"whatsapp/status/{text_of(status.get('status')) or '(none)'}",
            errors,
            ids(message_id=status.get("id"), phone_number_id=phone_number_id),
        )
    for error in items(value.get("errors")):
        yield Ignored(
            IgnoreReason.UNSUPPORTED_CONTENT,
            "whatsapp/error",
            f"{error.get('code')} {text_of(error.get('title'))}: "
            f"{text_of(mapping(error.get('error_data')).get('details'))}",
        )
    for message in items(value.get("messages")):
        yield _whatsapp_message(message, phone_number_id, names, received_at, max_chars)


def _whatsapp_message(
    message: dict[str, Any], phone_number_id: str, names: dict[str, str], received_at: datetime, max_chars: int
) -> Normalised:
    kind = text_of(message.get("type")) or "(no type)"
    wa_id = text_of(message.get("from"))
    message_id = text_of(message.get("id"))
    provider = ids(message_id=message_id, phone_number_id=phone_number_id)
    if not (wa_id and message_id and phone_number_id):
        return Ignored(IgnoreReason.INCOMPLETE, f"whatsapp/{kind}", "missing from, id or phone_number_id", provider)
    extra: dict[str, str] = {}
    content = message
    if kind == "edit":
        edit = mapping(message.get("edit"))
        content = mapping(edit.get("message"))
        extra = ids(edit_of=edit.get("original_message_id"), edited="true")
        kind = text_of(content.get("type")) or "(no type)"
    body = _whatsapp_content(kind, content)
    if isinstance(body, Ignored):
        return Ignored(body.reason, body.kind, body.detail, provider)
    text, attachments, content_ids = body
    context = mapping(message.get("context")) or mapping(content.get("context"))
    referral = mapping(message.get("referral"))
    normalised = IntakeMessage(
        event_id=event_id("whatsapp", phone_number_id, message_id),
        channel=Channel.WHATSAPP,
        channel_account=f"whatsapp:{phone_number_id}",
        received_at=received_at,
        sent_at=from_epoch(message.get("timestamp")),
        conversation_id=conversation_key("whatsapp", phone_number_id, wa_id),
        customer=CustomerIdentity(
            key=customer_key(Channel.WHATSAPP.value, wa_id),
            handle=wa_id,
            display_name=names.get(wa_id) or None,
        ),
        reply_to=ReplyTarget(
            channel=Channel.WHATSAPP,
            account=phone_number_id,
            address=wa_id,
            thread=message_id,
        ),
        text=message_text(text, max_chars),
        attachments=attachments,
        thread=ThreadInfo(in_reply_to=text_of(context.get("id")) or None),
        provider_ids={
            **ids(
                message_id=message_id,
                phone_number_id=phone_number_id,
                type=kind,
                forwarded="true" if context.get("forwarded") or context.get("frequently_forwarded") else None,
                referral_source_type=referral.get("source_type"),
                referral_source_id=referral.get("source_id"),
            ),
            **content_ids,
            **extra,
        },
        raw_ref=f"whatsapp://{phone_number_id}/{message_id}",
    )
    # A pressed reply button or list row (interactive) or template quick-reply button carries its id.
    return rating_answer(normalised, content_ids.get("reply_id")) or normalised


def _whatsapp_content(kind: str, message: dict[str, Any]) -> tuple[str, list[Attachment], dict[str, str]] | Ignored:
    """(text, attachments, provider ids) of one message's content, or why it is not a customer message."""
    if kind == "text":
        return text_of(mapping(message.get("text")).get("body")), [], {}
    if kind in WHATSAPP_MEDIA:
        media = mapping(message.get(kind))
        attachment = Attachment(
            filename=text_of(media.get("filename")) or None,
            content_type=text_of(media.get("mime_type")) or DEFAULT_MEDIA_TYPES[kind],
            url=text_of(media.get("url")) or None,
            disposition="inline" if kind == "sticker" else "attachment",
        )
        voice = "true" if media.get("voice") is True else None
        return text_of(media.get("caption")), [attachment], ids(media_id=media.get("id"), media_kind=kind, voice=voice)
    if kind == "location":
        place = mapping(message.get("location"))
        text = location_text(place.get("latitude"), place.get("longitude"), place.get("name"), place.get("address"))
        return text, [], {}
    if kind == "interactive":
        interactive = mapping(message.get("interactive"))
        reply_kind = text_of(interactive.get("type"))
        reply = mapping(interactive.get(reply_kind)) if reply_kind else {}
        if reply_kind in ("button_reply", "list_reply"):
            parts = [text_of(reply.get("title")), text_of(reply.get("description"))]
            return " — ".join(p for p in parts if p), [], ids(reply_id=reply.get("id"), reply_kind=reply_kind)
        if reply_kind == "nfm_reply":
            return text_of(reply.get("body")), [], ids(reply_kind=reply_kind, flow=reply.get("name"))
        if reply_kind:
            return Ignored(IgnoreReason.NOT_CUSTOMER_CONTENT, f"whatsapp/interactive/{reply_kind}")
        return Ignored(IgnoreReason.UNSUPPORTED_CONTENT, "whatsapp/interactive", "interactive message without a reply")
    if kind == "button":
        button = mapping(message.get("button"))
        return text_of(button.get("text")), [], ids(reply_id=button.get("payload"), reply_kind="button")
    if kind == "contacts":
        cards = []
        for contact in items(message.get("contacts")):
            name = text_of(mapping(contact.get("name")).get("formatted_name"))
            phones = ", ".join(text_of(p.get("phone")) for p in items(contact.get("phones")) if p.get("phone"))
            cards.append(" ".join(part for part in (name, phones) if part))
        return "[contact] " + "; ".join(cards), [], {}
    if kind == "order":
        order = mapping(message.get("order"))
        lines = [
            f"{text_of(i.get('product_retailer_id'))} x{i.get('quantity')} "
            f"({i.get('item_price')} {text_of(i.get('currency'))})"
            for i in items(order.get("product_items"))
        ]
        note = text_of(order.get("text"))
        text = "[order] " + "; ".join(lines) + (f"\n{note}" if note else "")
        return text, [], ids(catalog_id=order.get("catalog_id"))
    if kind == "reaction":
        return Ignored(IgnoreReason.REACTION, "whatsapp/reaction")
    if kind == "revoke":
        return Ignored(IgnoreReason.DELETION, "whatsapp/revoke")
    if kind == "system":
        system = mapping(message.get("system"))
        return Ignored(IgnoreReason.PLATFORM_NOTICE, f"whatsapp/system/{text_of(system.get('type'))}")
    if kind == "unsupported":
        detail = "; ".join(f"{e.get('code')} {text_of(e.get('title'))}" for e in items(message.get("errors")))
        return Ignored(IgnoreReason.UNSUPPORTED_CONTENT, "whatsapp/unsupported", detail)
    return Ignored(IgnoreReason.UNKNOWN_TYPE, f"whatsapp/{kind}")


# -- Messenger --------------------------------------------------------------------------------

MESSENGER_NOTICES = (
    "optin",
    "referral",
    "account_linking",
    "policy_enforcement",
    "pass_thread_control",
    "take_thread_control",
    "request_thread_control",
    "app_roles",
    "game_play",
)


def _messenger(payload: dict[str, Any], received_at: datetime, max_chars: int) -> Iterator[Normalised]:
    for entry in items(payload.get("entry")):
        page_id = _id(entry.get("id"))
        for event in items(entry.get("messaging")):
            yield _messenger_event(event, page_id, received_at, max_chars)
        for _standby in items(entry.get("standby")):
            yield Ignored(IgnoreReason.STANDBY, "messenger/standby", "another app has thread control")
        for change in items(entry.get("changes")):
            yield Ignored(IgnoreReason.UNKNOWN_TYPE, f"messenger/changes/{text_of(change.get('field'))}")


def _messenger_event(event: dict[str, Any], page_id: str, received_at: datetime, max_chars: int) -> Normalised:
    psid = _id(mapping(event.get("sender")).get("id"))
    page = _id(mapping(event.get("recipient")).get("id")) or page_id
    timestamp = event.get("timestamp")
    if "message" in event:
        message = mapping(event.get("message"))
        mid = text_of(message.get("mid"))
        if message.get("is_echo") is True:
            return Ignored(IgnoreReason.OWN_MESSAGE, "messenger/echo", provider_ids=ids(mid=mid, page_id=page_id))
        body = _messenger_message_content(message)
        quick = mapping(message.get("quick_reply"))
        extra = ids(reply_id=quick.get("payload"), reply_kind="quick_reply" if quick else None)
        in_reply_to = text_of(mapping(message.get("reply_to")).get("mid")) or None
        parts: tuple[str, ...] = (mid,)
        kind = "message"
    elif "postback" in event:
        postback = mapping(event.get("postback"))
        mid = text_of(postback.get("mid"))
        body = (text_of(postback.get("title")), [])
        extra = ids(reply_id=postback.get("payload"), reply_kind="postback")
        in_reply_to = None
        parts = (mid,) if mid else ("postback", psid, str(timestamp))
        kind = "postback"
    elif "message_edit" in event:
        edit = mapping(event.get("message_edit"))
        mid = text_of(edit.get("mid"))
        body = (text_of(edit.get("text")), [])
        extra = ids(edit_of=mid, edited="true", num_edit=edit.get("num_edit"))
        in_reply_to = None
        parts = (mid, "edit", str(edit.get("num_edit")))
        kind = "message_edit"
    elif "delivery" in event or "read" in event:
        which = "delivery" if "delivery" in event else "read"
        return Ignored(IgnoreReason.DELIVERY_STATUS, f"messenger/{which}", provider_ids=ids(page_id=page))
    elif "reaction" in event:
        return Ignored(IgnoreReason.REACTION, "messenger/reaction", provider_ids=ids(page_id=page))
    else:
        known = next((name for name in MESSENGER_NOTICES if name in event), None)
        if known:
            return Ignored(IgnoreReason.PLATFORM_NOTICE, f"messenger/{known}", provider_ids=ids(page_id=page))
        other = next((k for k in event if k not in ("sender", "recipient", "timestamp")), "(empty)")
        return Ignored(IgnoreReason.UNKNOWN_TYPE, f"messenger/{other}", provider_ids=ids(page_id=page))
    provider = ids(mid=mid, page_id=page)
    if not (psid and page and all(parts)):
        return Ignored(IgnoreReason.INCOMPLETE, f"messenger/{kind}", "missing sender, page or message id", provider)
    if isinstance(body, Ignored):
        return Ignored(body.reason, body.kind, body.detail, provider)
    text, attachments = body
    rating = parse_rating_payload(extra.get("reply_id"))
    if not text and not attachments and rating is None:
        return Ignored(IgnoreReason.NOT_CUSTOMER_CONTENT, f"messenger/{kind}", "no text and no attachment", provider)
    normalised = IntakeMessage(
        event_id=event_id("messenger", page, *parts),
        channel=Channel.MESSENGER,
        channel_account=f"messenger:{page}",
        received_at=received_at,
        sent_at=from_epoch(timestamp),
        conversation_id=conversation_key("messenger", page, psid),
        customer=CustomerIdentity(key=customer_key(Channel.MESSENGER.value, f"{page}:{psid}"), handle=psid),
        reply_to=ReplyTarget(channel=Channel.MESSENGER, account=page, address=psid, thread=mid or None),
        text=message_text(text, max_chars),
        attachments=attachments,
        thread=ThreadInfo(in_reply_to=in_reply_to),
        provider_ids={**ids(mid=mid, page_id=page, type=kind), **extra},
        raw_ref=f"messenger://{page}/{'/'.join(parts)}",
    )
    # A quick reply's or a postback button's payload.
    return rating_answer(normalised, extra.get("reply_id")) or normalised


def _messenger_message_content(message: dict[str, Any]) -> tuple[str, list[Attachment]] | Ignored:
    texts = [text_of(message.get("text"))]
    attachments: list[Attachment] = []
    for attachment in items(message.get("attachments")):
        kind = text_of(attachment.get("type"))
        payload = mapping(attachment.get("payload"))
        if kind in ("image", "audio", "video", "file"):
            attachments.append(
                Attachment(
                    content_type=DEFAULT_MEDIA_TYPES.get(kind, "application/octet-stream"),
                    url=text_of(payload.get("url")) or None,
                    disposition="inline" if payload.get("sticker_id") else "attachment",
                )
            )
        elif kind == "location":
            coordinates = mapping(payload.get("coordinates"))
            texts.append(location_text(coordinates.get("lat"), coordinates.get("long"), attachment.get("title")))
        elif kind == "fallback":
            texts.append(" ".join(p for p in (text_of(attachment.get("title")), text_of(attachment.get("url"))) if p))
        elif kind:
            texts.append(f"[{kind}]")
    if not any(texts) and not attachments and message.get("is_unsupported") is True:
        return Ignored(IgnoreReason.UNSUPPORTED_CONTENT, "messenger/unsupported")
    return "\n".join(t for t in texts if t), attachments


def _id(value: Any) -> str:
    """Meta ids arrive as strings, occasionally as numbers."""
    if isinstance(value, bool):
        return ""
    if isinstance(value, int):
        return str(value)
    return text_of(value)
