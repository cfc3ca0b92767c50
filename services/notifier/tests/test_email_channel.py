"""Email acknowledgements: a reply in the customer's thread, sent by SMTP, with outages retried."""

from __future__ import annotations

import shutil
from email import message_from_bytes, policy

import pytest
from notifier_support import message

from switchboard_common.email_marks import NOTIFICATION_HEADER, is_notification_message_id
from switchboard_common.events.models import AckKind, Channel, IntakeMessage, Language, ReplyTarget
from switchboard_devenv.processes import free_port
from switchboard_devenv.smtp_sink import SmtpSink
from switchboard_notifier.channels import DeliveryFailed, DeliveryRetryable, Notification
from switchboard_notifier.channels import email as email_channel
from switchboard_notifier.channels.email import EmailSender, SmtpSettings
from switchboard_notifier.channels.email_message import build_reply, reply_subject
from switchboard_notifier.settings import NotifierSettings

NOTIFICATION_ID = "0b7a3c1e-5f7d-5a8e-9c1b-2d3e4f5a6b7c"
REFERENCE = "SB-7K3-M9Q-XDZ"
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl makes the test certificate")


def email_message(address: str = "jane@example.com", subject: str | None = "Where is my parcel?") -> IntakeMessage:
    base = message(channel=Channel.EMAIL, conversation="email_abc", name="Jane <Doe>")
    return base.model_copy(
        update={
            "subject": subject,
            "customer": base.customer.model_copy(update={"handle": address}),
            "reply_to": ReplyTarget(
                channel=Channel.EMAIL,
                account="email:support",
                address=address,
                thread="<m2@example.com>",
                metadata={"subject": subject or "", "references": "<m1@example.com> <m2@example.com>"},
            ),
        }
    )


def notification(msg: IntakeMessage | None = None, text: str = "Hello Jane, we have your message <b>.") -> Notification:
    return Notification(
        notification_id=NOTIFICATION_ID,
        kind=AckKind.ACK,
        message=msg or email_message(),
        case_reference=REFERENCE,
        department="logistics",
        language=Language.EN,
        text=text,
        subject=f"We have received your message [{REFERENCE}]",
    )


def smtp_settings(port: int) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=port, tls_mode="none", from_address="Shop <support@shop.example>")


# -- the message --------------------------------------------------------------------------------


def test_the_reply_is_in_the_customers_thread_with_the_case_reference_in_the_subject():
    mail = build_reply(notification(), from_address="Shop <support@shop.example>", message_id_domain="shop.example")
    assert mail["In-Reply-To"] == "<m2@example.com>"
    assert mail["References"] == "<m1@example.com> <m2@example.com>"
    assert mail["Subject"] == f"Re: Where is my parcel? [{REFERENCE}]"
    assert mail["To"].addresses[0].addr_spec == "jane@example.com"


def test_the_reply_says_it_is_automatic_and_asks_for_no_auto_replies():
    mail = build_reply(notification(), from_address="support@shop.example", message_id_domain="shop.example")
    assert mail["Auto-Submitted"] == "auto-replied"
    assert mail["X-Auto-Response-Suppress"] == "All"
    assert mail[NOTIFICATION_HEADER] == NOTIFICATION_ID


def test_the_message_id_derives_from_the_notification_and_is_recognised_as_ours():
    first = build_reply(notification(), from_address="support@shop.example", message_id_domain="shop.example")
    again = build_reply(notification(), from_address="support@shop.example", message_id_domain="shop.example")
    assert first["Message-ID"] == again["Message-ID"]
    assert first["Message-ID"].endswith("@shop.example>")
    assert is_notification_message_id(first["Message-ID"])


def test_plain_text_and_escaped_html_carry_the_same_text():
    mail = build_reply(notification(), from_address="support@shop.example", message_id_domain="shop.example")
    parsed = message_from_bytes(mail.as_bytes(), policy=policy.default)
    plain = parsed.get_body(("plain",)).get_content()
    html = parsed.get_body(("html",)).get_content()
    assert plain.strip() == "Hello Jane, we have your message <b>."
    assert "Hello Jane, we have your message &lt;b&gt;." in html and "<b>" not in html


def test_chinese_text_and_subject_survive_encoding():
    msg = email_message(subject="订单还没有发货")
    note = Notification(
        NOTIFICATION_ID, AckKind.ACK, msg, REFERENCE, "logistics", Language.ZH_HANS, "您好！我们已收到您的留言。"
    )
    mail = build_reply(note, from_address="support@shop.example", message_id_domain="shop.example")
    parsed = message_from_bytes(mail.as_bytes(), policy=policy.default)
    assert parsed["Subject"] == f"Re: 订单还没有发货 [{REFERENCE}]"
    assert "我们已收到您的留言" in parsed.get_body(("plain",)).get_content()
    assert parsed["Content-Language"] == "zh-Hans"


@pytest.mark.parametrize(
    ("original", "expected"),
    [
        ("Re: Where is it?", f"Re: Where is it? [{REFERENCE}]"),
        (f"Re: Where is it? [{REFERENCE}]", f"Re: Where is it? [{REFERENCE}]"),
        ("回复：发票", f"回复：发票 [{REFERENCE}]"),
        ("", f"We have received your message [{REFERENCE}]"),
        ("Line\r\nBcc: evil@example.com", f"Re: Line Bcc: evil@example.com [{REFERENCE}]"),
    ],
)
def test_the_subject_is_one_re_and_one_case_reference(original: str, expected: str):
    assert reply_subject(original, REFERENCE, f"We have received your message [{REFERENCE}]") == expected


# -- sending -------------------------------------------------------------------------------------


async def test_an_acknowledgement_is_delivered_to_the_smtp_server(smtp_sink: SmtpSink):
    delivery = await EmailSender(smtp_settings(smtp_sink.port)).deliver(notification())
    [received] = smtp_sink.wait_for(1)
    assert received.recipients == ["jane@example.com"]
    assert received.message["Message-ID"].strip() == delivery.provider_id
    assert received.message["In-Reply-To"] == "<m2@example.com>"


async def test_an_unreachable_smtp_server_is_retryable():
    with pytest.raises(DeliveryRetryable):
        await EmailSender(smtp_settings(free_port())).deliver(notification())


async def test_a_recipient_the_server_refuses_permanently_is_a_failed_delivery(smtp_sink: SmtpSink):
    smtp_sink.refused_recipients.add("jane@example.com")
    with pytest.raises(DeliveryFailed):
        await EmailSender(smtp_settings(smtp_sink.port)).deliver(notification())
    assert smtp_sink.received == []


async def test_a_message_without_a_valid_address_is_a_failed_delivery(smtp_sink: SmtpSink):
    with pytest.raises(DeliveryFailed):
        await EmailSender(smtp_settings(smtp_sink.port)).deliver(notification(email_message(address="")))


def test_the_email_channel_is_off_without_smtp_host(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("SMTP_HOST", raising=False)
    assert email_channel.from_settings(NotifierSettings()) is None
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_FROM", "support@shop.example")
    sender = email_channel.from_settings(NotifierSettings())
    assert sender is not None and sender.channels == frozenset({Channel.EMAIL})
    assert sender.settings.effective_port == 587 and sender.settings.domain == "shop.example"


def test_smtp_from_is_required_with_smtp_host():
    with pytest.raises(ValueError, match="SMTP_FROM"):
        SmtpSettings(host="smtp.example.com")


@needs_openssl
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # implicit TLS: aiosmtpd cannot tell
@pytest.mark.parametrize("mode", ["starttls", "tls"])
async def test_tls_and_authentication_from_settings_deliver(mode: str, tmp_path):
    sink = SmtpSink(tls=mode, credentials=("acks", "s3cret"), cert_folder=tmp_path).start()
    try:
        settings = SmtpSettings(
            host="127.0.0.1", port=sink.port, tls_mode=mode, username="acks", password="s3cret",
            from_address="support@shop.example", ca_file=sink.cert_path,
        )  # fmt: skip
        await EmailSender(settings).deliver(notification())
        [received] = sink.wait_for(1)
    finally:
        sink.stop()
    assert received.recipients == ["jane@example.com"]


@needs_openssl
async def test_a_refused_login_is_retryable_not_failed(tmp_path):
    sink = SmtpSink(tls="starttls", credentials=("acks", "s3cret"), cert_folder=tmp_path).start()
    try:
        settings = SmtpSettings(
            host="127.0.0.1", port=sink.port, tls_mode="starttls", username="acks", password="wrong",
            from_address="support@shop.example", ca_file=sink.cert_path,
        )  # fmt: skip
        with pytest.raises(DeliveryRetryable):
            await EmailSender(settings).deliver(notification())
    finally:
        sink.stop()
    assert sink.received == []


@needs_openssl
async def test_an_untrusted_server_certificate_is_not_sent_to(tmp_path):
    sink = SmtpSink(tls="tls", cert_folder=tmp_path).start()
    try:
        settings = SmtpSettings(host="127.0.0.1", port=sink.port, tls_mode="tls", from_address="support@shop.example")
        with pytest.raises(DeliveryRetryable, match="SMTP unavailable"):
            await EmailSender(settings).deliver(notification())
    finally:
        sink.stop()
    assert sink.received == []
