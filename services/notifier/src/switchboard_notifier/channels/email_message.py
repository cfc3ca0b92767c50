"""An acknowledgement as an email in the customer's thread. Pure: no SMTP here.

The reply goes into the customer's own thread (``In-Reply-To`` their Message-ID, ``References``
the thread so far and their message), with the subject ``Re: <their subject> [<case reference>]``.
It says it is automatic (``Auto-Submitted: auto-replied``, RFC 3834) and asks other systems not to
answer it (``X-Auto-Response-Suppress: All``). Its Message-ID derives from the notification id, so a
resend of the same notification has the same Message-ID, and it carries Switchboard's mark so that
intake-email recognises it if it ever comes back. Plain text and HTML come from the same rendered
template text; the HTML is that text, escaped.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr, parseaddr

from switchboard_common.email_marks import NOTIFICATION_HEADER, notification_message_id
from switchboard_notifier.channels.base import Notification, NotificationAction

_REPLY_PREFIX = re.compile(r"^\s*(re|aw|sv|antw|回复|回覆|答复|答覆)\s*[:：]", re.IGNORECASE)
_UNSAFE_HEADER_TEXT = re.compile(r"[\x00-\x1f\x7f]+")


class InvalidRecipient(ValueError):
    """The notification has no address an email can go to."""


def reply_subject(original: str | None, case_reference: str | None, fallback: str | None) -> str:
    """``Re: <original> [<case reference>]``; the template's subject when the customer's mail had none."""
    original = _UNSAFE_HEADER_TEXT.sub(" ", original or "").strip()
    if not original:
        subject = _UNSAFE_HEADER_TEXT.sub(" ", fallback or "").strip()
    else:
        subject = original if _REPLY_PREFIX.match(original) else f"Re: {original}"
    if case_reference and case_reference not in subject:
        subject = f"{subject} [{case_reference}]".strip()
    return subject[:900] or (case_reference or "")


def html_body(text: str, language: str, links: Sequence[NotificationAction] = ()) -> str:
    """The same text as a small, escaped HTML document; ``links`` (a rating's scores) as a row of links."""
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
    body = "\n".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)
    if links:
        anchors = " &nbsp; ".join(
            f'<a href="{html.escape(link.url or "", quote=True)}">{html.escape(link.label)}</a>' for link in links
        )
        body += f"\n<p>{anchors}</p>"
    return (
        f'<!DOCTYPE html>\n<html lang="{html.escape(language, quote=True)}">\n'
        '<head><meta charset="utf-8"></head>\n'
        f'<body style="font-family: sans-serif; line-height: 1.5;">\n{body}\n</body>\n</html>\n'
    )


def recipient(notification: Notification) -> str:
    address = notification.message.reply_to.address.strip()
    _, parsed = parseaddr(address)
    if not parsed or "@" not in parsed or _UNSAFE_HEADER_TEXT.search(parsed):
        raise InvalidRecipient(f"no valid email address to reply to (event {notification.message.event_id})")
    return parsed


def build_reply(
    notification: Notification, *, from_address: str, message_id_domain: str, now: datetime | None = None
) -> EmailMessage:
    """The acknowledgement email for ``notification``; raises :class:`InvalidRecipient`."""
    message = notification.message
    to_address = recipient(notification)
    email = EmailMessage(policy=SMTP)
    email["From"] = from_address
    name = _UNSAFE_HEADER_TEXT.sub(" ", message.customer.display_name or "").strip()
    if name and message.customer.handle == to_address:
        local, _, domain = to_address.partition("@")
        email["To"] = Address(display_name=name, username=local, domain=domain)
    else:
        email["To"] = formataddr(("", to_address))
    email["Subject"] = reply_subject(
        message.reply_to.metadata.get("subject") or message.subject, notification.case_reference, notification.subject
    )
    email["Date"] = format_datetime(now or datetime.now(UTC))
    email["Message-ID"] = notification_message_id(
        notification.notification_id, notification.kind.value, message_id_domain
    )
    thread = message.reply_to.thread
    if thread:
        email["In-Reply-To"] = thread
        references = message.reply_to.metadata.get("references") or thread
        email["References"] = references if thread in references else f"{references} {thread}"
    email["Auto-Submitted"] = "auto-replied"
    email["X-Auto-Response-Suppress"] = "All"
    email[NOTIFICATION_HEADER] = notification.notification_id
    if notification.case_reference:
        email["X-Switchboard-Case"] = notification.case_reference
    links = [action for action in notification.actions if action.url]
    plain = notification.text
    if links:
        plain += "\n\n" + "\n".join(f"{link.label}: {link.url}" for link in links)
    email.set_content(plain + "\n", charset="utf-8")
    email.add_alternative(
        notification.html or html_body(notification.text, notification.language.value, links),
        subtype="html",
        charset="utf-8",
    )
    email["Content-Language"] = notification.language.value  # after the parts: they take Content-* headers along
    return email
