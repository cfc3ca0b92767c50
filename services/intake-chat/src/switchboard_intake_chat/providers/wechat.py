"""WeChat Official Account and WeCom callbacks: settings, safe XML parsing, normalisation. Pure.

What becomes an intake event: what a customer wrote or sent (text, image, voice with WeChat's
speech recognition as its text, video, short video, location, link; WeCom customer-service
messages pulled after a ``kf_msg_or_event`` notification). What is only recorded (an :class:`Ignored`: a
log line and ``switchboard_intake_webhook_events_total``): event pushes (subscribe, unsubscribe, menu CLICK/VIEW, SCAN,
LOCATION reports, customer-service session events, template and mass-send results, WeCom calendar
events ...), device messages, and message types this gateway does not know. An event push is not a
request: a customer who taps a menu item or follows the account has asked nothing yet, and an
acknowledgement with a case reference would be noise.

Event ids derive from MsgId (WeChat retries a push three times with the same MsgId); events without
MsgId from FromUserName, CreateTime and Event. Conversation ids are opaque keys of (account, user).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from switchboard_common.events.models import (
    Attachment,
    Channel,
    CustomerIdentity,
    IntakeMessage,
    Language,
    ReplyTarget,
)
from switchboard_common.identity import conversation_key, customer_key, event_id
from switchboard_intake_chat.providers.normalised import (
    Ignored,
    IgnoreReason,
    Normalised,
    from_epoch,
    ids,
    message_text,
)
from switchboard_intake_chat.providers.wechat_crypto import aes_key

MAX_XML_BYTES = 64 * 1024


class WeChatSettings(BaseSettings):
    """A WeChat Official Account's callback (environment prefix ``WECHAT_``). Off without ``WECHAT_TOKEN``."""

    model_config = SettingsConfigDict(env_prefix="WECHAT_", extra="ignore", env_file=".env")

    token: SecretStr = Field(description="The Token set on the account's server configuration page.")
    app_id: str | None = Field(
        default=None, description="The account's AppID; required in encrypted (safe or compatible) mode."
    )
    encoding_aes_key: SecretStr | None = Field(
        default=None, description="The 43-character EncodingAESKey; set it for encrypted mode."
    )
    language: Language = Field(
        default=Language.ZH_HANS, description="Language assumed where a message's text does not tell."
    )
    max_text_chars: int = Field(default=4_000, ge=1)
    answer_within_seconds: float = Field(
        default=4.0, gt=0, description="WeChat waits 5 s; answer 503 (WeChat retries) if Kafka is slower."
    )

    @model_validator(mode="after")
    def _encrypted_mode_needs_app_id(self) -> WeChatSettings:
        if self.encoding_aes_key is not None:
            if not self.app_id:
                raise ValueError("WECHAT_APP_ID is required with WECHAT_ENCODING_AES_KEY")
            aes_key(self.encoding_aes_key.get_secret_value())
        return self

    def key(self) -> bytes | None:
        return aes_key(self.encoding_aes_key.get_secret_value()) if self.encoding_aes_key else None


class WeComSettings(BaseSettings):
    """A WeCom (WeChat Work) callback and its customer-service pull (prefix ``WECOM_``). Off without ``WECOM_TOKEN``.

    WeCom callbacks are always encrypted. For WeChat customer service (微信客服) the callback only says
    that messages are waiting; they are pulled with ``kf/sync_msg``, which needs ``WECOM_SECRET`` (the
    customer-service secret) as well.
    """

    model_config = SettingsConfigDict(env_prefix="WECOM_", extra="ignore", env_file=".env")

    token: SecretStr = Field(description="The Token of the callback configuration.")
    corp_id: str = Field(description="The CorpID (the receiver id inside every ciphertext).")
    encoding_aes_key: SecretStr = Field(description="The 43-character EncodingAESKey.")
    secret: SecretStr | None = Field(
        default=None, description="Secret of the customer-service app: needed to pull kf messages."
    )
    api_base_url: str = Field(default="https://qyapi.weixin.qq.com", description="WeCom's API (tests: a stand-in).")
    api_timeout_seconds: float = Field(default=3.0, gt=0)
    language: Language = Language.ZH_HANS
    max_text_chars: int = Field(default=4_000, ge=1)
    answer_within_seconds: float = Field(default=4.0, gt=0)
    pull_limit: int = Field(default=1000, ge=1, le=1000, description="Messages per kf/sync_msg page.")

    @field_validator("encoding_aes_key")
    @classmethod
    def _valid_key(cls, value: SecretStr) -> SecretStr:
        aes_key(value.get_secret_value())
        return value

    def key(self) -> bytes:
        return aes_key(self.encoding_aes_key.get_secret_value())


class WeChatPayloadError(ValueError):
    """A body that is not a WeChat push: ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_xml(body: bytes) -> dict[str, str]:
    """The fields of a WeChat XML push: top-level elements by tag, nested ones as ``Parent.Child``.

    DTDs, entities and external references are refused (defusedxml), so a hostile body cannot expand
    or fetch anything.
    """
    if len(body) > MAX_XML_BYTES:
        raise WeChatPayloadError(f"the XML body exceeds {MAX_XML_BYTES} bytes")
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise WeChatPayloadError(f"forbidden XML construct: {type(exc).__name__}") from None
    except ParseError as exc:
        raise WeChatPayloadError(f"not well-formed XML: {exc}") from None
    if root.tag != "xml":
        raise WeChatPayloadError(f"the root element is <{root.tag}>, not <xml>")
    fields: dict[str, str] = {}
    _flatten(root, "", fields)
    return fields


def _flatten(element: Element, prefix: str, into: dict[str, str]) -> None:
    for child in element:
        name = f"{prefix}{child.tag}"
        if len(child):
            _flatten(child, f"{name}.", into)
        else:
            into.setdefault(name, (child.text or "").strip())


@dataclass(frozen=True, slots=True)
class KfNotification:
    """WeCom's ``kf_msg_or_event``: customer-service messages are waiting to be pulled."""

    token: str
    open_kfid: str


@dataclass(frozen=True, slots=True)
class Account:
    """Our side of a callback: the channel, the account id in events, and the language to assume."""

    channel: Channel
    account: str
    language: Language
    max_text_chars: int = 4_000
    reply_metadata: Mapping[str, str] = field(default_factory=dict)


Outcome = IntakeMessage | Ignored | KfNotification

MEDIA_TYPES = {
    "image": "image/jpeg",
    "voice": "audio/amr",
    "video": "video/mp4",
    "shortvideo": "video/mp4",
    "file": "application/octet-stream",
}


def push_event_id(channel: Channel, account: str, fields: Mapping[str, str]) -> str:
    """MsgId when the push has one; otherwise the sender, time and event (how WeChat dedupes events too)."""
    msg_id = fields.get("MsgId") or fields.get("MsgID")
    if msg_id:
        return event_id(channel.value, account, msg_id)
    return event_id(
        channel.value,
        account,
        fields.get("FromUserName", ""),
        fields.get("CreateTime", ""),
        fields.get("Event", fields.get("MsgType", "")),
    )


def normalise_push(fields: Mapping[str, str], account: Account, received_at: datetime) -> Outcome:
    """What one decrypted push means: an intake message, a kf pull notification, or something only recorded."""
    msg_type = fields.get("MsgType", "").strip()
    ident = push_event_id(account.channel, account.account, fields)
    if msg_type == "event":
        event = fields.get("Event", "")
        if event == "kf_msg_or_event" and fields.get("Token") and fields.get("OpenKfId"):
            return KfNotification(token=fields["Token"], open_kfid=fields["OpenKfId"])
        return Ignored(
            IgnoreReason.PLATFORM_NOTICE,
            f"event:{event or '?'}",
            "event pushes are recorded, not acknowledged",
            _recorded_ids(ident, fields),
        )
    user = fields.get("FromUserName", "").strip()
    if not user:
        return Ignored(IgnoreReason.INCOMPLETE, msg_type or "?", "no FromUserName", _recorded_ids(ident, fields))
    content = _content(msg_type, fields)
    if content is None:
        return Ignored(
            IgnoreReason.UNKNOWN_TYPE,
            msg_type or "?",
            f"message type {msg_type!r} is not handled",
            _recorded_ids(ident, fields),
        )
    text, attachments = content
    sent_at = from_epoch(fields.get("CreateTime"))
    provider_ids = {
        k: fields[v]
        for k, v in (("msg_id", "MsgId"), ("media_id", "MediaId"), ("agent_id", "AgentID"))
        if fields.get(v)
    }
    provider_ids["msg_type"] = msg_type
    reply_metadata = dict(account.reply_metadata)
    if fields.get("AgentID"):
        reply_metadata["agent_id"] = fields["AgentID"]
    return IntakeMessage(
        event_id=ident,
        channel=account.channel,
        channel_account=account.account,
        received_at=received_at,
        sent_at=sent_at,
        conversation_id=conversation_key(account.channel.value, account.account, user),
        customer=CustomerIdentity(key=customer_key(account.channel.value, user), handle=user),
        reply_to=ReplyTarget(channel=account.channel, account=account.account, address=user, metadata=reply_metadata),
        text=message_text(text, account.max_text_chars),
        language_hint=account.language,
        attachments=attachments,
        provider_ids=provider_ids,
        raw_ref=f"{account.channel.value}://{account.account}/{fields.get('MsgId') or ident}",
    )


def _recorded_ids(ident: str, fields: Mapping[str, str]) -> dict[str, str]:
    """What identifies a recorded push in its log line: its event id, and the MsgId when it has one."""
    return ids(event_id=ident, msg_id=fields.get("MsgId") or fields.get("MsgID"))


def _content(msg_type: str, fields: Mapping[str, str]) -> tuple[str, list[Attachment]] | None:
    """The text and attachments of a message push, or None for a type this gateway does not handle."""
    if msg_type == "text":
        return fields.get("Content", ""), []
    if msg_type == "image":
        return "", [_media("image", fields, url=fields.get("PicUrl") or None)]
    if msg_type == "voice":
        # With speech recognition on, WeChat sends the transcript: that is what the customer said.
        return fields.get("Recognition", ""), [_media("voice", fields, name=fields.get("Format"))]
    if msg_type in ("video", "shortvideo"):
        return "", [_media(msg_type, fields)]
    if msg_type == "file":
        return "", [_media("file", fields, name=fields.get("Title") or fields.get("FileName"))]
    if msg_type == "location":
        return location_text(fields.get("Label"), fields.get("Location_X"), fields.get("Location_Y")), []
    if msg_type == "link":
        parts = [fields.get("Title", ""), fields.get("Description", ""), fields.get("Url", "")]
        return "\n".join(p for p in parts if p), []
    return None


def _media(kind: str, fields: Mapping[str, str], url: str | None = None, name: str | None = None) -> Attachment:
    return Attachment(
        filename=name or (f"{kind}-{fields['MediaId']}" if fields.get("MediaId") else None),
        content_type=MEDIA_TYPES[kind],
        url=url,
        disposition="inline",
    )


def location_text(label: str | None, latitude: Any, longitude: Any) -> str:
    """A shared location as text: the place's name and its coordinates."""
    where = f"({latitude}, {longitude})" if latitude not in (None, "") and longitude not in (None, "") else ""
    return " ".join(part for part in ((label or "").strip(), where) if part)


# -- WeCom customer service (微信客服): messages pulled with kf/sync_msg --------------------------------

KF_ORIGIN_CUSTOMER = 3
"""``origin`` of a message the WeChat customer sent."""
KF_ORIGIN_SYSTEM = 4
"""``origin`` of a system event (a session entered, a servicer changed ...)."""
KF_ORIGIN_SERVICER = 5
"""``origin`` of a message one of our own servicers (staff) sent from the WeCom client."""


def normalise_kf_message(
    message: Mapping[str, Any], corp_id: str, settings_language: Language, max_text_chars: int, received_at: datetime
) -> Normalised:
    """One message of a ``kf/sync_msg`` page."""
    msg_id = str(message.get("msgid") or "")
    open_kfid = str(message.get("open_kfid") or "")
    msg_type = str(message.get("msgtype") or "")
    ident = event_id(Channel.WECOM.value, corp_id, open_kfid, msg_id or repr(sorted(message.items()))[:200])
    recorded_ids = ids(event_id=ident, msg_id=msg_id, open_kfid=open_kfid)
    origin = message.get("origin")
    if origin != KF_ORIGIN_CUSTOMER:
        if msg_type == "event" or origin == KF_ORIGIN_SYSTEM:
            reason = IgnoreReason.PLATFORM_NOTICE
        elif origin == KF_ORIGIN_SERVICER:
            reason = IgnoreReason.STAFF
        else:
            reason = IgnoreReason.NOT_CUSTOMER_CONTENT
        detail = message.get("event", {}).get("event_type", "") if isinstance(message.get("event"), dict) else ""
        return Ignored(
            reason,
            f"kf:{msg_type}{':' + detail if detail else ''}",
            f"origin {origin}: not a customer message",
            recorded_ids,
        )
    customer = str(message.get("external_userid") or "")
    if not customer or not open_kfid or not msg_id:
        return Ignored(
            IgnoreReason.INCOMPLETE, f"kf:{msg_type}", "missing msgid, open_kfid or external_userid", recorded_ids
        )
    content = _kf_content(msg_type, message)
    if content is None:
        return Ignored(
            IgnoreReason.UNKNOWN_TYPE, f"kf:{msg_type}", f"kf message type {msg_type!r} is not handled", recorded_ids
        )
    text, attachments = content
    sent_at = from_epoch(message.get("send_time"))
    return IntakeMessage(
        event_id=ident,
        channel=Channel.WECOM,
        channel_account=corp_id,
        received_at=received_at,
        sent_at=sent_at,
        conversation_id=conversation_key(Channel.WECOM.value, corp_id, open_kfid, customer),
        customer=CustomerIdentity(key=customer_key(Channel.WECOM.value, customer), handle=customer),
        reply_to=ReplyTarget(
            channel=Channel.WECOM, account=corp_id, address=customer, metadata={"open_kfid": open_kfid}
        ),
        text=message_text(text, max_text_chars),
        language_hint=settings_language,
        attachments=attachments,
        provider_ids={"msg_id": msg_id, "open_kfid": open_kfid, "msg_type": msg_type},
        raw_ref=f"wecom-kf://{corp_id}/{open_kfid}/{msg_id}",
    )


def _kf_content(msg_type: str, message: Mapping[str, Any]) -> tuple[str, list[Attachment]] | None:
    body = message.get(msg_type)
    body = body if isinstance(body, dict) else {}
    if msg_type == "text":
        return str(body.get("content", "")), []
    if msg_type in ("image", "voice", "video", "file"):
        media_id = str(body.get("media_id", ""))
        attachment = Attachment(
            filename=f"{msg_type}-{media_id}" if media_id else None,
            content_type=MEDIA_TYPES[msg_type],
            disposition="inline",
        )
        return "", [attachment]
    if msg_type == "location":
        label = " ".join(str(body.get(k, "")).strip() for k in ("name", "address") if body.get(k))
        return location_text(label, body.get("latitude"), body.get("longitude")), []
    if msg_type == "link":
        parts = [str(body.get(k, "")) for k in ("title", "desc", "url")]
        return "\n".join(p for p in parts if p), []
    return None
