"""Structure of real mail: encoded headers, broken MIME, HTML-only mail, attachments, threads, identity."""

from __future__ import annotations

import random

import orjson
import pytest
from intake_email_samples import MAILBOX, NOW, encoded_word, html_only_mail, multipart_mail, raw_mail

from switchboard_common.case_reference import IntakePosition, case_reference
from switchboard_intake_email.attachments import AttachmentLimits, RejectedReason
from switchboard_intake_email.normalise import EmailLimits, normalise_email

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.7\n" + b"0" * 500


def normalise(raw: bytes, limits: EmailLimits | None = None):
    return normalise_email(raw, mailbox=MAILBOX, received_at=NOW, limits=limits)


# -- headers -----------------------------------------------------------------------------------


def test_a_folded_encoded_subject_is_one_line_of_text():
    subject = encoded_word("Order 12345 has not arrived and it is already the second week", "utf-8")
    assert normalise(raw_mail("x", subject=subject)).subject == (
        "Order 12345 has not arrived and it is already the second week"
    )


def test_encoded_words_glued_without_space_are_decoded():
    subject = encoded_word("退款", "utf-8") + encoded_word("申请", "utf-8")
    assert normalise(raw_mail("x", subject=subject)).subject == "退款申请"


def test_a_broken_encoded_word_keeps_the_raw_subject():
    event = normalise(raw_mail("x", subject="=?utf-8?B?!!!notbase64?= order"))
    assert event.subject is not None and "order" in event.subject


def test_reply_to_is_the_address_answered_and_from_is_the_customer():
    event = normalise(raw_mail("x", extra_headers={"Reply-To": "Jane at home <jane.home@example.net>"}))
    assert event.customer.handle == "jane@example.com"
    assert event.reply_to.address == "jane.home@example.net"


def test_the_sent_date_is_read_and_an_unreadable_one_is_absent():
    assert normalise(raw_mail("x")).sent_at == NOW
    assert normalise(raw_mail("x", extra_headers={"Date": "yesterday-ish"})).sent_at is None


# -- malformed and truncated MIME ----------------------------------------------------------------


def test_a_multipart_without_its_closing_boundary_still_yields_its_text():
    raw = (
        b"From: a@example.com\r\nSubject: cut\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="XYZ"\r\n\r\n'
        b"--XYZ\r\nContent-Type: text/plain\r\n\r\nMy parcel is lost, order 88.\r\n"
        b"--XYZ\r\nContent-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLj"
    )
    event = normalise(raw)
    assert event.text.plain.startswith("My parcel is lost, order 88.")
    assert [a.content_type for a in event.attachments] == ["application/pdf"]


def test_a_multipart_whose_boundary_never_appears_is_read_as_text():
    raw = b'From: a@example.com\r\nContent-Type: multipart/mixed; boundary="nope"\r\n\r\nplain words here\r\n'
    assert "plain words here" in normalise(raw).text.plain


def test_broken_base64_does_not_lose_the_message():
    raw = raw_mail(b"SGVsbG8gd29ybGQ=====!!!\r\n", transfer_encoding="base64")
    event = normalise(raw)
    assert "parse_error" not in event.provider_ids
    assert event.text.plain.startswith("Hello world")


def test_a_message_with_only_headers_is_an_event_with_empty_text():
    event = normalise(b"From: a@example.com\r\nSubject: (no body)\r\n")
    assert event.subject == "(no body)" and event.text.plain == ""


@pytest.mark.parametrize("seed", range(30))
def test_random_bytes_never_raise(seed: int):
    rng = random.Random(seed)
    base = multipart_mail("text", attachments=[("a.pdf", "application/pdf", PDF)], html="<p>x</p>")
    data = bytearray(base)
    for _ in range(rng.randint(1, 40)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    cut = bytes(data[: rng.randint(0, len(data))])
    event = normalise(cut)
    orjson.dumps(event.model_dump(mode="json"))  # and the event serialises


def test_a_message_without_a_message_id_gets_a_stable_id_from_its_content():
    raw = raw_mail("same words", message_id=None)
    assert normalise(raw).event_id == normalise(raw).event_id
    assert normalise(raw).event_id != normalise(raw_mail("other words", message_id=None)).event_id


# -- HTML-only mail -----------------------------------------------------------------------------


def test_html_only_mail_becomes_safe_text_without_scripts_styles_or_markup():
    html = (
        "<html><head><style>p {color: red}</style><title>Newsletter</title></head><body>"
        "<p>Hello,</p><p>I was charged <b>twice</b> for order A123-4567 &amp; need a refund.</p>"
        '<script>alert("x")</script><img src="https://tracker.example/p.gif" onerror="steal()">'
        "<p>Thanks,<br>Jane</p></body></html>"
    )
    event = normalise(html_only_mail(html))
    assert event.text.original_content_type == "text/html"
    assert event.text.original == html
    assert event.text.plain == "Hello,\n\nI was charged twice for order A123-4567 & need a refund.\n\nThanks,\nJane"
    for unsafe in ("<", "alert", "color: red", "Newsletter", "tracker"):
        assert unsafe not in event.text.plain


def test_an_html_reply_has_its_quoted_block_stripped_from_the_new_content():
    html = (
        "<div>Still nothing arrived.</div><div>On Mon, 23 Nov 2026 at 10:00, Support wrote:</div>"
        "<blockquote><p>We have received your message.</p></blockquote>"
    )
    event = normalise(html_only_mail(html))
    assert event.text.new_content == "Still nothing arrived."
    assert "We have received your message." in event.text.plain


def test_the_plain_alternative_is_preferred_over_html():
    raw = multipart_mail("The plain words.", html="<p>The <i>HTML</i> words.</p>")
    assert normalise(raw).text.plain == "The plain words."


# -- attachments --------------------------------------------------------------------------------


def test_attachments_and_inline_images_are_metadata_and_their_content_never_travels():
    raw = multipart_mail(
        "Photos attached.",
        html='<p>Photos attached. <img src="cid:photo1"></p>',
        inline_images=[("photo1", PNG)],
        attachments=[("收据.pdf", "application/pdf", PDF)],
    )
    event = normalise(raw)
    inline = [a for a in event.attachments if a.disposition == "inline"]
    attached = [a for a in event.attachments if a.disposition == "attachment"]
    assert [(a.content_type, a.size_bytes) for a in inline] == [("image/png", len(PNG))]
    assert [(a.filename, a.content_type, a.size_bytes) for a in attached] == [("收据.pdf", "application/pdf", len(PDF))]
    assert all(a.sha256 and a.rejected_reason is None for a in event.attachments)
    document = orjson.dumps(event.model_dump(mode="json"))
    assert b"JVBERi0" not in document and b"%PDF" not in document


@pytest.mark.parametrize(
    ("filename", "content_type", "content"),
    [
        ("invoice.exe", "application/octet-stream", b"MZ\x90\x00rest"),
        ("invoice.pdf.js", "application/pdf", b"var x = 1;"),
        ("photo.jpg", "image/jpeg", b"MZ\x90\x00 a Windows program named like a photo"),
        ("tool", "application/x-msdownload", b"\x00\x01"),
        ("run.sh", "text/plain", b"#!/bin/sh\nrm -rf /"),
        ("macro.docm", "application/octet-stream", b"PK\x03\x04"),
    ],
)
def test_anything_that_could_run_is_flagged_as_rejected(filename: str, content_type: str, content: bytes):
    event = normalise(multipart_mail("see attached", attachments=[(filename, content_type, content)]))
    [attachment] = event.attachments
    assert attachment.rejected_reason == RejectedReason.EXECUTABLE


def test_attachments_over_the_size_limit_are_flagged():
    limits = EmailLimits(attachments=AttachmentLimits(max_attachment_bytes=100))
    event = normalise(multipart_mail("x", attachments=[("big.pdf", "application/pdf", PDF)]), limits)
    assert event.attachments[0].rejected_reason == RejectedReason.TOO_LARGE
    assert event.attachments[0].size_bytes == len(PDF)


def test_attachments_beyond_the_count_limit_are_flagged():
    limits = EmailLimits(attachments=AttachmentLimits(max_attachments=2))
    files = [(f"p{i}.pdf", "application/pdf", PDF) for i in range(4)]
    event = normalise(multipart_mail("x", attachments=files), limits)
    assert [a.rejected_reason for a in event.attachments] == [
        None,
        None,
        RejectedReason.TOO_MANY,
        RejectedReason.TOO_MANY,
    ]


def test_an_attachment_name_cannot_carry_a_path():
    event = normalise(multipart_mail("x", attachments=[("../../etc/passwd", "text/plain", b"root")]))
    assert "/" not in (event.attachments[0].filename or "")


def test_very_long_text_is_capped_and_marked_truncated():
    event = normalise(raw_mail("word " * 10_000), EmailLimits(max_text_chars=1000))
    assert len(event.text.plain) == 1000 and event.text.truncated


# -- threads and identity ----------------------------------------------------------------------


def test_a_reply_joins_the_conversation_of_its_thread_root():
    first = normalise(raw_mail("My order is late.", message_id="<root@example.com>"))
    reply = normalise(
        raw_mail(
            "Any news?",
            subject="Re: My order",
            message_id="<second@example.com>",
            extra_headers={
                "In-Reply-To": "<ack@shop.example>",
                "References": "<root@example.com> <ack@shop.example>",
            },
        )
    )
    assert reply.conversation_id == first.conversation_id
    assert reply.thread.in_reply_to == "<ack@shop.example>"
    assert reply.thread.references == ["<root@example.com>", "<ack@shop.example>"]
    assert reply.reply_to.thread == "<second@example.com>"
    assert reply.reply_to.metadata["references"] == "<root@example.com> <ack@shop.example> <second@example.com>"


def test_the_conversation_id_reveals_no_address_or_message_id():
    event = normalise(raw_mail("x"))
    assert event.conversation_id.startswith("email_")
    assert "example" not in event.conversation_id and "@" not in event.conversation_id


def test_a_case_reference_quoted_in_the_subject_or_body_links_the_case():
    reference = case_reference(IntakePosition(partition=1, offset=42))
    other = case_reference(IntakePosition(partition=0, offset=7))
    raw = raw_mail(f"About my case {other.lower().replace('-', ' ')} too.", subject=f"Re: Delivery [{reference}]")
    assert normalise(raw).thread.quoted_case_references == [reference, other]


def test_a_mistyped_case_reference_is_not_linked():
    reference = case_reference(IntakePosition(partition=1, offset=42))
    mistyped = reference[:-1] + ("0" if reference[-1] != "0" else "1")
    assert normalise(raw_mail("x", subject=f"Re: [{mistyped}]")).thread.quoted_case_references == []


def test_the_same_message_delivered_twice_has_the_same_event_id():
    once = raw_mail("Order 5 is broken.")
    again = b"Received: from relay2.example by mx.shop.example; Tue, 24 Nov 2026 09:31:00 +0000\r\n" + once
    assert normalise(once).event_id == normalise(again).event_id


def test_different_content_under_a_reused_message_id_is_a_different_event():
    assert normalise(raw_mail("first")).event_id != normalise(raw_mail("second")).event_id


def test_the_same_message_in_another_mailbox_is_another_event():
    from switchboard_intake_email.normalise import Mailbox

    raw = raw_mail("x")
    other = normalise_email(raw, mailbox=Mailbox("email:sales"), received_at=NOW)
    assert other.event_id != normalise(raw).event_id
