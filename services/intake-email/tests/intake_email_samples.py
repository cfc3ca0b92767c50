"""Raw test emails, written for these tests, built the way real mail programs write them."""

from __future__ import annotations

import base64
import quopri
from datetime import UTC, datetime
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime

from switchboard_intake_email.normalise import Mailbox

MAILBOX = Mailbox("email:support", frozenset({"support@shop.example"}))
NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


def encoded_word(text: str, charset: str) -> str:
    return Header(text, charset).encode()


def raw_mail(
    body: bytes | str,
    *,
    subject: str = "Where is my parcel?",
    sender: str = "Jane Doe <jane@example.com>",
    to: str = "support@shop.example",
    message_id: str | None = "<m1@example.com>",
    content_type: str = "text/plain; charset=utf-8",
    transfer_encoding: str = "8bit",
    extra_headers: dict[str, str] | None = None,
) -> bytes:
    """A single-part message; headers are written as given (so they may already be encoded words)."""
    headers = {
        "From": sender,
        "To": to,
        "Subject": subject,
        "Date": format_datetime(NOW),
        "MIME-Version": "1.0",
        "Content-Type": content_type,
        "Content-Transfer-Encoding": transfer_encoding,
    }
    if message_id:
        headers["Message-ID"] = message_id
    headers.update(extra_headers or {})
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    payload = body.encode("utf-8") if isinstance(body, str) else body
    return head.encode("utf-8") + b"\r\n" + payload


def gbk_mail() -> bytes:
    """A Chinese customer's mail from a mainland webmail: GBK body in base64, GBK encoded-word headers."""
    text = "您好，\r\n我的订单A123-4567已经付款三天了还没有发货，快递单号也查不到，请尽快处理。\r\n谢谢！\r\n"
    return raw_mail(
        base64.encodebytes(text.encode("gbk")),
        subject=encoded_word("订单还没有发货", "gbk"),
        sender=f"{encoded_word('张伟', 'gbk')} <zhang.wei@example.cn>",
        message_id="<20261124093000.GBK1@mail.example.cn>",
        content_type='text/plain; charset="gbk"',
        transfer_encoding="base64",
    )


def big5_mail() -> bytes:
    text = "您好，我在貴公司購買的耳機壞了，想申請維修，請問要怎麼寄回？\r\n"
    return raw_mail(
        base64.encodebytes(text.encode("big5")),
        subject=encoded_word("耳機維修申請", "big5"),
        sender=f"{encoded_word('陳小明', 'big5')} <chen@example.tw>",
        message_id="<big5-1@example.tw>",
        content_type="text/plain; charset=big5",
        transfer_encoding="base64",
    )


def iso2022jp_mail() -> bytes:
    text = "注文した商品がまだ届いていません。確認をお願いします。\r\n"
    return raw_mail(
        text.encode("iso2022_jp"),
        subject=encoded_word("商品が届きません", "iso-2022-jp"),
        sender=f"{encoded_word('山田太郎', 'iso-2022-jp')} <yamada@example.jp>",
        message_id="<jp-1@example.jp>",
        content_type="text/plain; charset=ISO-2022-JP",
        transfer_encoding="7bit",
    )


def html_only_mail(html: str, **kwargs: object) -> bytes:
    return raw_mail(
        quopri.encodestring(html.encode("utf-8")),
        content_type="text/html; charset=utf-8",
        transfer_encoding="quoted-printable",
        **kwargs,  # type: ignore[arg-type]
    )


def multipart_mail(
    text: str,
    *,
    attachments: list[tuple[str, str, bytes]] = (),  # type: ignore[assignment]
    inline_images: list[tuple[str, bytes]] = (),  # type: ignore[assignment]
    html: str | None = None,
    message_id: str = "<multi-1@example.com>",
) -> bytes:
    """A multipart message as a mail program makes it: text (and HTML), inline images, attachments."""
    message = EmailMessage()
    message["From"] = "Jane Doe <jane@example.com>"
    message["To"] = "support@shop.example"
    message["Subject"] = "Broken item, photos attached"
    message["Message-ID"] = message_id
    message["Date"] = format_datetime(NOW)
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    for cid, data in inline_images:
        body = message.get_body(("html",)) or message
        body.add_related(data, maintype="image", subtype="png", cid=f"<{cid}>")
    for filename, content_type, data in attachments:
        maintype, subtype = content_type.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()


def bounce_mail(action: str = "failed") -> bytes:
    """A delivery status notification as Postfix sends it (RFC 3464)."""
    boundary = "B0UNCE"
    return (
        "From: MAILER-DAEMON@mx.shop.example (Mail Delivery System)\r\n"
        "To: support@shop.example\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <bounce-1@mx.shop.example>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n'
        "\r\n"
        f"--{boundary}\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
        "I'm sorry to have to inform you that your message could not be delivered.\r\n\r\n"
        f"--{boundary}\r\n"
        "Content-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.shop.example\r\n\r\n"
        "Final-Recipient: rfc822; nobody@example.com\r\n"
        f"Action: {action}\r\n"
        "Status: 5.1.1\r\n\r\n"
        f"--{boundary}\r\n"
        "Content-Type: text/rfc822-headers\r\n\r\n"
        "From: support@shop.example\r\nSubject: Re: your order\r\n\r\n"
        f"--{boundary}--\r\n"
    ).encode()


def out_of_office_mail(subject: str = "Automatic reply: Your case", headers: dict[str, str] | None = None) -> bytes:
    return raw_mail(
        "I am out of the office until Monday and will have limited access to email.\r\n",
        subject=subject,
        sender="Bob Smith <bob@example.org>",
        message_id="<ooo-1@example.org>",
        extra_headers=headers if headers is not None else {"Auto-Submitted": "auto-replied"},
    )
