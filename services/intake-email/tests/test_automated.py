"""Mail no customer wrote is recognised, so that it is recorded but never answered or routed."""

from __future__ import annotations

import pytest
from intake_email_samples import MAILBOX, NOW, bounce_mail, out_of_office_mail, raw_mail

from switchboard_common.email_marks import NOTIFICATION_HEADER, notification_message_id
from switchboard_common.events.models import AutomatedReason
from switchboard_intake_email.normalise import normalise_email


def automated(raw: bytes) -> AutomatedReason | None:
    return normalise_email(raw, mailbox=MAILBOX, received_at=NOW).automated


def test_a_customer_mail_is_not_automated():
    assert automated(raw_mail("Where is my parcel?")) is None


def test_a_failed_delivery_status_notification_is_a_bounce():
    assert automated(bounce_mail("failed")) is AutomatedReason.BOUNCE


def test_a_delayed_delivery_report_is_a_delivery_status_not_a_bounce():
    assert automated(bounce_mail("delayed")) is AutomatedReason.DELIVERY_STATUS


def test_a_mailer_daemon_bounce_without_a_report_part_is_a_bounce():
    raw = raw_mail(
        "This is the mail system at host mx.example.\r\nI'm sorry ... could not be delivered.",
        subject="Mail delivery failed: returning message to sender",
        sender="Mail Delivery Subsystem <MAILER-DAEMON@mx.example.com>",
        extra_headers={"Return-Path": "<>"},
    )
    assert automated(raw) is AutomatedReason.BOUNCE


def test_a_chinese_bounce_subject_from_postmaster_is_a_bounce():
    raw = raw_mail("退信", subject="系统退信", sender="postmaster@mail.example.cn")
    assert automated(raw) is AutomatedReason.BOUNCE


def test_a_read_receipt_is_a_delivery_status():
    raw = (
        b"From: jane@example.com\r\nSubject: Read: your case\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=disposition-notification; boundary="R"\r\n\r\n'
        b"--R\r\nContent-Type: text/plain\r\n\r\nYour message was read.\r\n"
        b"--R\r\nContent-Type: message/disposition-notification\r\n\r\n"
        b"Disposition: manual-action/MDN-sent-manually; displayed\r\n"
        b"--R--\r\n"
    )
    assert automated(raw) is AutomatedReason.DELIVERY_STATUS


def test_rfc3834_auto_submitted_is_an_auto_reply():
    assert automated(out_of_office_mail("Away", {"Auto-Submitted": "auto-replied"})) is AutomatedReason.AUTO_REPLY


def test_auto_submitted_no_is_a_person_writing():
    assert automated(raw_mail("I need help", extra_headers={"Auto-Submitted": "no"})) is None


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Autoreply": "yes"},
        {"X-Autorespond": "Vacation"},
        {"X-Auto-Response-Suppress": "All"},
        {"Precedence": "bulk"},
        {"Precedence": "junk"},
        {"X-MS-Exchange-Generated-Message-Source": "Mailbox Rules Agent"},
    ],
)
def test_auto_reply_headers_mark_an_auto_reply(headers: dict[str, str]):
    assert automated(out_of_office_mail("Hello", headers)) is AutomatedReason.AUTO_REPLY


@pytest.mark.parametrize(
    "subject",
    ["Out of Office: Your case", "Automatic reply: Order 5", "Auto-Reply: hi", "自动回复：您的邮件", "自動回覆: 訂單"],
)
def test_out_of_office_subjects_in_english_and_chinese_mark_an_auto_reply(subject: str):
    assert automated(out_of_office_mail(subject, headers={})) is AutomatedReason.AUTO_REPLY


@pytest.mark.parametrize(
    "headers",
    [
        {"List-Id": "<deals.shop.example>"},
        {"List-Unsubscribe": "<mailto:unsubscribe@news.example>"},
        {"Precedence": "list"},
    ],
)
def test_mailing_list_mail_is_recognised(headers: dict[str, str]):
    assert automated(raw_mail("This week's deals", extra_headers=headers)) is AutomatedReason.MAILING_LIST


def test_our_own_acknowledgement_is_recognised_by_its_header():
    raw = raw_mail("We have received your message.", extra_headers={NOTIFICATION_HEADER: "abc"})
    assert automated(raw) is AutomatedReason.OWN_MESSAGE


def test_our_own_acknowledgement_is_recognised_by_its_message_id_whatever_the_domain():
    message_id = notification_message_id("0b7a3c1e-5f7d-5a8e-9c1b-2d3e4f5a6b7c", "ack", "any.example")
    assert automated(raw_mail("x", message_id=message_id)) is AutomatedReason.OWN_MESSAGE


def test_mail_from_the_mailbox_own_address_is_our_own():
    assert automated(raw_mail("x", sender="Support <SUPPORT@shop.example>")) is AutomatedReason.OWN_MESSAGE


def test_a_customer_reply_to_our_acknowledgement_is_not_our_own():
    ack_id = notification_message_id("0b7a3c1e-5f7d-5a8e-9c1b-2d3e4f5a6b7c", "ack", "shop.example")
    raw = raw_mail("Still waiting!", extra_headers={"In-Reply-To": ack_id, "References": ack_id})
    assert automated(raw) is None
