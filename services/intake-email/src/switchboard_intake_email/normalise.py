"""One raw email (RFC 5322 bytes) as the normalised intake event. Pure, never raises.

The same function serves the IMAP watchers, the inbound webhook and ``switchboard-email-normalise``,
so whatever a person checks by hand is what the service publishes.

Identity: the event id derives from the mailbox, the Message-ID and a digest of the content (the
body and the headers a sender sets, not the ones each relay adds), so a message fetched again (after
a crash between fetch and mark, or a UIDVALIDITY change) or delivered twice gets the same event id and
is suppressed downstream, while two different messages that reuse a Message-ID do not collide. A
message without a Message-ID gets an id from the digest alone. The conversation id is an opaque key
of the mailbox and the thread's root message (the first of References, else In-Reply-To, else the
message itself), so a reply lands in its conversation without the id revealing any address.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32

from switchboard_common.case_reference import find_case_references
from switchboard_common.events.models import (
    Attachment,
    AutomatedReason,
    Channel,
    CustomerIdentity,
    IntakeMessage,
    Language,
    MessageText,
    ReplyTarget,
    ThreadInfo,
)
from switchboard_common.identity import conversation_key, customer_key, event_id
from switchboard_common.text import language_from_locale, safe_plain_text
from switchboard_intake_email.attachments import AttachmentLimits, describe_attachment
from switchboard_intake_email.automated import MailFacts, detect_automated
from switchboard_intake_email.charsets import DEFAULT_FALLBACKS, decode_bytes
from switchboard_intake_email.headers import (
    addresses,
    capped_references,
    decode_header_value,
    first_message_id,
    message_ids,
    one_line,
    parse_date,
)
from switchboard_intake_email.html_text import html_to_text
from switchboard_intake_email.reply_text import strip_quoted_reply

log = logging.getLogger(__name__)

# Headers a sender sets; relays add others (Received, Return-Path, DKIM ...) that differ per delivery.
DIGEST_HEADERS = ("from", "to", "cc", "subject", "date", "message-id", "in-reply-to")


@dataclass(frozen=True, slots=True)
class EmailLimits:
    """Bounds on what one email may put into an event."""

    max_text_chars: int = 20_000
    max_original_chars: int = 100_000
    max_parts: int = 200
    attachments: AttachmentLimits = field(default_factory=AttachmentLimits)
    fallback_charsets: tuple[str, ...] = DEFAULT_FALLBACKS


@dataclass(frozen=True, slots=True)
class Mailbox:
    """The mailbox a message arrived in: the channel account, and the addresses that are our own."""

    account: str
    own_addresses: frozenset[str] = frozenset()


@dataclass(slots=True)
class _Body:
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    charsets: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    part_types: set[str] = field(default_factory=set)
    dsn_actions: set[str] = field(default_factory=set)
    parts_seen: int = 0


def content_digest(raw: bytes, msg: Message | None) -> str:
    """SHA-256 of the body and the sender-set headers: the same for every delivery of one message."""
    normalised = raw.replace(b"\r\n", b"\n")
    _, _, body = normalised.partition(b"\n\n")
    digest = hashlib.sha256()
    if msg is not None:
        for name in DIGEST_HEADERS:
            for value in msg.get_all(name, []) or []:
                digest.update(name.encode() + b":" + one_line(str(value)).encode("utf-8", "surrogateescape") + b"\n")
    else:
        digest.update(normalised.partition(b"\n\n")[0])
    digest.update(b"\n")
    digest.update(body)
    return digest.hexdigest()


def email_event_id(account: str, message_id: str | None, digest: str) -> str:
    """The event id of one message in one mailbox."""
    return event_id("email", account, message_id or "", digest)


def _param(part: Message, name: str) -> str | None:
    try:
        value = part.get_param(name)
    except Exception:
        return None
    if isinstance(value, tuple):  # RFC 2231 (charset, language, value)
        try:
            return str(value[2])
        except Exception:
            return None
    return str(value) if value is not None else None


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type().lower()
    except Exception:
        return "application/octet-stream"


def _payload_bytes(part: Message) -> bytes:
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if isinstance(payload, bytes):
        return payload
    raw = part.get_payload()
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogateescape")
    return b""


def _filename(part: Message, fallbacks: Sequence[str]) -> str | None:
    try:
        name = part.get_filename()
    except Exception:
        name = None
    if name is None:
        name = _param(part, "name")
    if not name:
        return None
    return one_line(decode_header_value(name, fallbacks), 255) or None


def _disposition(part: Message) -> str | None:
    try:
        value = part.get_content_disposition()
    except Exception:
        return None
    return value.lower() if isinstance(value, str) else None


def _walk(part: Message, body: _Body, limits: EmailLimits, depth: int = 0) -> None:
    body.parts_seen += 1
    if body.parts_seen > limits.max_parts or depth > 20:
        return
    ctype = _content_type(part)
    body.part_types.add(ctype)
    if ctype.startswith("multipart/") or (part.is_multipart() and not ctype.startswith("message/")):
        children = part.get_payload()
        if isinstance(children, list) and children:
            for child in children:
                if isinstance(child, Message):
                    _walk(child, body, limits, depth + 1)
            return
        # A multipart whose boundary never appears: what the sender wrote is all in the preamble (or payload).
        stray = children if isinstance(children, str) and children.strip() else (part.preamble or "")
        if stray.strip():
            body.plain.append(decode_bytes(stray.encode("utf-8", "surrogateescape"), None, limits.fallback_charsets)[0])
        return
    if ctype in ("message/delivery-status", "message/global-delivery-status"):
        _collect_dsn_actions(part, body)
        return
    disposition = _disposition(part)
    filename = _filename(part, limits.fallback_charsets)
    is_body_text = ctype in ("text/plain", "text/html") and disposition != "attachment" and filename is None
    if is_body_text:
        content = _payload_bytes(part)
        declared = None
        try:
            declared = part.get_content_charset()
        except Exception:
            declared = _param(part, "charset")
        text, used = decode_bytes(content, declared, limits.fallback_charsets)
        body.charsets.append(used)
        (body.plain if ctype == "text/plain" else body.html).append(text)
        return
    if ctype.startswith("message/"):
        try:
            content = part.as_bytes()
        except Exception:
            content = b""
    else:
        content = _payload_bytes(part)
    has_content_id = part.get("Content-ID") is not None
    kind = "inline" if disposition == "inline" or (disposition is None and has_content_id) else "attachment"
    body.attachments.append(
        describe_attachment(
            filename=filename,
            content_type=ctype,
            disposition=kind,
            content=content,
            index=len(body.attachments),
            limits=limits.attachments,
        )
    )


def _collect_dsn_actions(part: Message, body: _Body) -> None:
    payload = part.get_payload()
    blocks = payload if isinstance(payload, list) else []
    for block in blocks:
        if isinstance(block, Message):
            action = block.get("Action")
            if action:
                body.dsn_actions.add(str(action).strip().lower())
    if not blocks:
        text = _payload_bytes(part).decode("ascii", "replace")
        for line in text.splitlines():
            name, _, value = line.partition(":")
            if name.strip().lower() == "action" and value.strip():
                body.dsn_actions.add(value.strip().lower())


def _headers(msg: Message, fallbacks: Sequence[str]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for name, value in msg.items()[:500]:
        result.setdefault(str(name).strip().lower(), []).append(one_line(decode_header_value(value, fallbacks)))
    return result


def _language_hint(content_language: str | None, charsets: list[str]) -> Language | None:
    tag = language_from_locale(content_language)
    if tag:
        return Language(tag)
    for charset in charsets:
        if charset.startswith(("gb", "hz")):
            return Language.ZH_HANS
        if charset.startswith("big5"):
            return Language.ZH_HANT
    return None


def normalise_email(
    raw: bytes,
    *,
    mailbox: Mailbox,
    received_at: datetime,
    limits: EmailLimits | None = None,
    raw_ref: str | None = None,
    provider_ids: dict[str, str] | None = None,
    truncated: bool = False,
) -> IntakeMessage:
    """The intake event for one raw message. ``truncated`` says the raw bytes are only the message's start."""
    limits = limits or EmailLimits()
    try:
        return _normalise(raw, mailbox, received_at, limits, raw_ref, provider_ids or {}, truncated)
    except Exception as exc:  # the promise: no mail is lost because the parser met something new
        log.warning("email could not be parsed; publishing it as raw text", extra={"error": repr(exc)[:300]})
        return _unparsed(raw, mailbox, received_at, limits, raw_ref, provider_ids or {}, repr(exc))


def _normalise(
    raw: bytes,
    mailbox: Mailbox,
    received_at: datetime,
    limits: EmailLimits,
    raw_ref: str | None,
    provider_ids: dict[str, str],
    truncated: bool,
) -> IntakeMessage:
    fallbacks = limits.fallback_charsets
    msg = BytesParser(policy=compat32).parsebytes(raw)
    headers = _headers(msg, fallbacks)

    def header(name: str) -> str | None:
        values = headers.get(name)
        return values[0] if values else None

    message_id = first_message_id(header("message-id"))
    in_reply_to = first_message_id(header("in-reply-to"))
    references = capped_references(message_ids(" ".join(headers.get("references", []))))
    if in_reply_to and in_reply_to not in references:
        references.append(in_reply_to)
    subject_text = one_line(header("subject") or "", 998)
    senders = addresses(msg.get("From"), fallbacks) or addresses(msg.get("Sender"), fallbacks)
    if not senders:
        senders = addresses(msg.get("Return-Path"), fallbacks)
    display_name, from_address = senders[0] if senders else ("", "")
    reply_to_list = addresses(msg.get("Reply-To"), fallbacks)
    reply_address = reply_to_list[0][1] if reply_to_list else from_address

    body = _Body()
    _walk(msg, body, limits)
    if any(text.strip() for text in body.plain):
        original = "\n\n".join(body.plain)
        original_type = "text/plain"
        text = original
    elif body.html:
        original = "\n\n".join(body.html)
        original_type = "text/html"
        text = html_to_text(original)
    else:
        original, original_type, text = "", "text/plain", ""
    plain, text_truncated = safe_plain_text(text, limits.max_text_chars)
    new_content, _ = safe_plain_text(strip_quoted_reply(plain), limits.max_text_chars)

    digest = content_digest(raw, msg)
    facts = MailFacts(
        headers=headers,
        content_type=_content_type(msg),
        report_type=_param(msg, "report-type"),
        part_types=frozenset(body.part_types),
        dsn_actions=frozenset(body.dsn_actions),
        from_address=from_address or None,
        subject=subject_text,
        message_id=message_id,
    )
    automated: AutomatedReason | None = detect_automated(facts, mailbox.own_addresses)
    thread_root = references[0] if references else (message_id or f"digest:{digest}")
    quoted = find_case_references(f"{subject_text}\n{plain}")
    ids = {"content_sha256": digest, **provider_ids}
    if message_id:
        ids["message_id"] = message_id
    metadata = {"subject": subject_text}
    if references or message_id:
        metadata["references"] = " ".join(capped_references([*references, *([message_id] if message_id else [])]))
    return IntakeMessage(
        event_id=email_event_id(mailbox.account, message_id, digest),
        channel=Channel.EMAIL,
        channel_account=mailbox.account,
        received_at=received_at,
        sent_at=parse_date(header("date")),
        conversation_id=conversation_key(Channel.EMAIL.value, mailbox.account, thread_root),
        customer=CustomerIdentity(
            key=customer_key(Channel.EMAIL.value, from_address),
            handle=from_address,
            display_name=display_name or None,
            locale=one_line(header("content-language") or "", 35) or None,
        ),
        reply_to=ReplyTarget(
            channel=Channel.EMAIL, account=mailbox.account, address=reply_address, thread=message_id, metadata=metadata
        ),
        subject=subject_text or None,
        text=MessageText(
            original=original[: limits.max_original_chars],
            original_content_type=original_type,
            plain=plain,
            new_content=new_content,
            truncated=truncated or text_truncated or len(original) > limits.max_original_chars,
        ),
        language_hint=_language_hint(header("content-language"), body.charsets),
        attachments=body.attachments,
        thread=ThreadInfo(in_reply_to=in_reply_to, references=references, quoted_case_references=quoted),
        automated=automated,
        provider_ids=ids,
        raw_ref=raw_ref,
    )


def _unparsed(
    raw: bytes,
    mailbox: Mailbox,
    received_at: datetime,
    limits: EmailLimits,
    raw_ref: str | None,
    provider_ids: dict[str, str],
    error: str,
) -> IntakeMessage:
    text, _ = decode_bytes(raw[: limits.max_original_chars * 4], None, limits.fallback_charsets)
    plain, truncated = safe_plain_text(text, limits.max_text_chars)
    digest = content_digest(raw, None)
    return IntakeMessage(
        event_id=email_event_id(mailbox.account, None, digest),
        channel=Channel.EMAIL,
        channel_account=mailbox.account,
        received_at=received_at,
        conversation_id=conversation_key(Channel.EMAIL.value, mailbox.account, f"digest:{digest}"),
        customer=CustomerIdentity(key=customer_key(Channel.EMAIL.value, ""), handle=""),
        reply_to=ReplyTarget(channel=Channel.EMAIL, account=mailbox.account, address=""),
        text=MessageText(
            original=text[: limits.max_original_chars], plain=plain, new_content=plain, truncated=truncated
        ),
        provider_ids={"content_sha256": digest, "parse_error": error[:300], **provider_ids},
        raw_ref=raw_ref,
    )
