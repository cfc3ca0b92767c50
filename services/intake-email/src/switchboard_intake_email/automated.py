"""Recognising mail that no customer wrote: bounces, delivery reports, auto-replies, lists, our own. Pure.

Such mail is recorded (as an event with ``automated`` set) but never acknowledged and never routed
as a request: answering an auto-reply or a bounce is how mail loops start.

Signals, first match wins:

* our own mail: the notifier's ``X-Switchboard-Notification`` header or Message-ID, or a sender that
  is one of the watched mailbox's own addresses;
* bounces: ``multipart/report; report-type=delivery-status`` whose actions include ``failed``, or a
  ``message/delivery-status`` part, or the mailer-daemon / postmaster sender with a null return path or
  a bounce subject; other delivery reports (delayed, relayed, delivered; read receipts) are
  ``delivery_status``;
* auto-replies (RFC 3834 and the de-facto headers): ``Auto-Submitted`` other than ``no``,
  ``X-Autoreply``, ``X-Autorespond``, ``X-Auto-Response-Suppress``, Exchange's
  ``X-MS-Exchange-Generated-Message-Source`` / ``X-MS-Exchange-Inbox-Rules-Loop``, and the common
  out-of-office subjects in English and Chinese;
* mailing lists: ``List-Id``, ``List-Unsubscribe``, ``List-Post``, ``Precedence: list``,
  ``X-Mailing-List``;
* other bulk mail: ``Precedence: bulk`` or ``junk`` (without list headers) counts as an auto-reply.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from switchboard_common.email_marks import NOTIFICATION_HEADER, is_notification_message_id
from switchboard_common.events.models import AutomatedReason

_DAEMON_LOCAL_PARTS = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mailerdaemon|bounce[s]?|mdaemon)$", re.I)
_BOUNCE_SUBJECT = re.compile(
    r"(undeliver|undelivered|delivery status notification|delivery failure|delivery has failed|returned mail"
    r"|mail delivery failed|failure notice|could not be delivered|delivery problem|nondeliverable|non-delivery"
    r"|退信|邮件退回|無法投遞|无法投递|投递失败|系統退信|系统退信)",
    re.IGNORECASE,
)
_OUT_OF_OFFICE_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[ -]?(reply|response|antwort)|out of (the )?office|ooo\b|away from (the )?office"
    r"|on vacation|vacation reply|abwesenheit|absence|réponse automatique|自动回复|自動回覆|自动答复|自動答覆"
    r"|自動回复|不在办公室|不在辦公室|休假|外出|假期回复)",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class MailFacts:
    """What the detection looks at, extracted from one message."""

    headers: Mapping[str, Sequence[str]]
    """Decoded header values by lower-case name."""
    content_type: str = "text/plain"
    report_type: str | None = None
    part_types: Collection[str] = field(default_factory=frozenset)
    dsn_actions: Collection[str] = field(default_factory=frozenset)
    from_address: str | None = None
    subject: str = ""
    message_id: str | None = None

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[0].strip() if values else None


def _is_daemon(address: str | None) -> bool:
    return bool(address) and _DAEMON_LOCAL_PARTS.match((address or "").partition("@")[0]) is not None


def detect_automated(facts: MailFacts, own_addresses: Collection[str] = ()) -> AutomatedReason | None:
    """Why this message is automated, or None when a person (presumably) wrote it."""
    if facts.header(NOTIFICATION_HEADER) is not None or is_notification_message_id(facts.message_id):
        return AutomatedReason.OWN_MESSAGE
    own = {a.lower() for a in own_addresses}
    if facts.from_address and facts.from_address.lower() in own:
        return AutomatedReason.OWN_MESSAGE

    bounce = _delivery_report(facts)
    if bounce is not None:
        return bounce

    auto_submitted = (facts.header("auto-submitted") or "").lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return AutomatedReason.AUTO_REPLY
    for name in ("x-autoreply", "x-autorespond", "x-auto-reply", "x-autoresponder", "x-auto-response-suppress"):
        value = facts.header(name)
        if value is not None and value.lower() not in ("", "no", "false", "0"):
            return AutomatedReason.AUTO_REPLY
    if facts.header("x-ms-exchange-generated-message-source") or facts.header("x-ms-exchange-inbox-rules-loop"):
        return AutomatedReason.AUTO_REPLY
    if _OUT_OF_OFFICE_SUBJECT.match(facts.subject or ""):
        return AutomatedReason.AUTO_REPLY
    precedence = (facts.header("precedence") or "").lower()
    if precedence == "list" or any(
        facts.header(name) is not None for name in ("list-id", "list-unsubscribe", "list-post", "x-mailing-list")
    ):
        return AutomatedReason.MAILING_LIST
    if precedence in ("bulk", "junk", "auto_reply"):
        return AutomatedReason.AUTO_REPLY
    return None


def _delivery_report(facts: MailFacts) -> AutomatedReason | None:
    report = (facts.report_type or "").lower()
    content_type = facts.content_type.lower()
    has_dsn_part = "message/delivery-status" in facts.part_types or "message/global-delivery-status" in (
        facts.part_types
    )
    if content_type == "multipart/report" or has_dsn_part:
        if report in ("disposition-notification",) or "message/disposition-notification" in facts.part_types:
            return AutomatedReason.DELIVERY_STATUS
        actions = {a.lower() for a in facts.dsn_actions}
        if actions and "failed" not in actions:
            return AutomatedReason.DELIVERY_STATUS
        return AutomatedReason.BOUNCE
    null_sender = (facts.header("return-path") or "").replace(" ", "") == "<>"
    if _is_daemon(facts.from_address) and (null_sender or _BOUNCE_SUBJECT.search(facts.subject or "")):
        return AutomatedReason.BOUNCE
    if (null_sender or _is_daemon(facts.from_address)) and _BOUNCE_SUBJECT.search(facts.subject or ""):
        return AutomatedReason.BOUNCE
    if facts.header("x-failed-recipients") is not None:
        return AutomatedReason.BOUNCE
    return None
