"""Customers write to a support mailbox; every service runs as its own process, as in production.

Mail is appended to a real Dovecot mailbox; intake-email watches it; the classifier, dispatcher and
notifier run on the real Kafka broker; acknowledgements arrive at a real SMTP server (aiosmtpd).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from intake_email_imap import KEYWORD, MailboxView
from intake_email_samples import bounce_mail, gbk_mail, html_only_mail, out_of_office_mail, raw_mail

from switchboard_common.case_reference import parse_case_reference
from switchboard_common.events import ACK_RECORDED, CASE_OPENED, MESSAGE_ROUTED
from switchboard_common.events.models import AckOutcome
from switchboard_devenv.dovecot import ImapAccount
from switchboard_devenv.kafka_testing import decode_all, read_topic
from switchboard_devenv.smtp_sink import ReceivedMail, SmtpSink

pytestmark = [pytest.mark.kafka, pytest.mark.e2e, pytest.mark.slow]

SUPPORT = "support@shop.example"


@pytest.fixture
def gateway_extra_env(imap_account: ImapAccount, smtp_sink: SmtpSink, tmp_path: Path) -> dict[str, str]:
    mailboxes = tmp_path / "mailboxes.yaml"
    mailboxes.write_text(
        "mailboxes:\n"
        "  - name: support\n"
        f"    host: {imap_account.host}\n"
        f"    port: {imap_account.port}\n"
        "    tls: none\n"
        f"    username: {imap_account.username}\n"
        "    password_env: IMAP_PASSWORD_SUPPORT\n"
        "    poll_interval_seconds: 1\n"
        "    idle_renew_seconds: 30\n"
        f"    addresses: [{SUPPORT}]\n"
    )
    return {
        "EMAIL_MAILBOXES_FILE": str(mailboxes),
        "IMAP_PASSWORD_SUPPORT": imap_account.password,
        "SMTP_HOST": smtp_sink.host,
        "SMTP_PORT": str(smtp_sink.port),
        "SMTP_TLS_MODE": "none",
        "SMTP_FROM": f"Shop Support <{SUPPORT}>",
        "NOTIFIER_RETRY_INITIAL": "1s",
        "NOTIFIER_RETRY_MAX": "2s",
    }


@pytest.fixture
async def mailbox(imap_account: ImapAccount):
    view = MailboxView(imap_account)
    await view.open()
    try:
        yield view
    finally:
        await view.close()


def by_thread(mails: list[ReceivedMail]) -> dict[str, ReceivedMail]:
    return {str(m.message["In-Reply-To"]).strip(): m for m in mails}


async def acks_for(gateway, count: int, timeout: float = 90):
    records = await read_topic(gateway.kafka, gateway.names("notify.acks.v1"), count=count, timeout=timeout)
    return decode_all(records, ACK_RECORDED)


async def test_a_gbk_chinese_and_an_html_only_english_email_are_acknowledged_once_in_their_threads(
    gateway, mailbox: MailboxView, smtp_sink: SmtpSink
):
    english = html_only_mail(
        "<html><body><p>Hello,</p><p>I was charged <b>twice</b> for order A123-4567, "
        "please refund the extra $45.99.</p><script>track()</script></body></html>",
        subject="Charged twice",
        message_id="<html-only-1@example.com>",
    )
    await mailbox.append(gbk_mail())
    await mailbox.append(english)

    mails = await asyncio.to_thread(smtp_sink.wait_for, 2, 120)
    routed = decode_all(
        await read_topic(gateway.kafka, gateway.names("intake.routed.v1"), count=2, timeout=60), MESSAGE_ROUTED
    )
    acks = await acks_for(gateway, 2)
    await asyncio.sleep(3)  # anything more would be a duplicate
    assert len(smtp_sink.received) == 2

    threads = by_thread(mails)
    assert set(threads) == {"<20261124093000.GBK1@mail.example.cn>", "<html-only-1@example.com>"}
    chinese, english_ack = threads["<20261124093000.GBK1@mail.example.cn>"], threads["<html-only-1@example.com>"]
    reference_of = {r.message.reply_to.thread: r.routing.case_reference for r in routed}
    for thread, mail in threads.items():
        reference = reference_of[thread]
        parse_case_reference(reference)
        assert mail.message["Subject"].endswith(f"[{reference}]")
        assert mail.message["References"].split()[-1] == thread
        assert mail.message["Auto-Submitted"] == "auto-replied"
        assert reference in mail.message.get_body(("plain",)).get_content()
    assert chinese.recipients == ["zhang.wei@example.cn"]
    assert chinese.message["Subject"].startswith("Re: 订单还没有发货")
    assert "工单号" in chinese.message.get_body(("plain",)).get_content()
    assert english_ack.recipients == ["jane@example.com"]
    assert "Billing team" in english_ack.message.get_body(("plain",)).get_content()

    assert sorted(a.outcome for a in acks) == [AckOutcome.SENT, AckOutcome.SENT]
    for message in routed:
        department = message.routing.department
        assert department is not None
        cases = decode_all(
            await read_topic(gateway.kafka, gateway.names.department(department), count=1, timeout=30), CASE_OPENED
        )
        assert message.routing.case_reference in {c.case_reference for c in cases}
    english_routed = next(r for r in routed if r.message.reply_to.thread == "<html-only-1@example.com>")
    assert english_routed.routing.department == "billing"
    assert "track()" not in english_routed.message.text.plain
    await mailbox.wait_until(lambda flags: len(flags) == 2 and all(KEYWORD in f for f in flags))


async def test_a_bounce_and_an_out_of_office_reply_get_no_acknowledgement(
    gateway, mailbox: MailboxView, smtp_sink: SmtpSink
):
    await mailbox.append(bounce_mail())
    await mailbox.append(out_of_office_mail())
    await mailbox.append(raw_mail("My parcel has not arrived, order 5512.", message_id="<customer-9@example.com>"))

    acks = await acks_for(gateway, 3)
    await asyncio.sleep(3)
    [mail] = smtp_sink.received
    assert str(mail.message["In-Reply-To"]).strip() == "<customer-9@example.com>"
    outcomes = sorted((a.outcome.value, a.reason or "") for a in acks)
    assert outcomes == [("sent", ""), ("suppressed", "automated"), ("suppressed", "automated")]


async def test_an_acknowledgement_waits_out_an_smtp_outage_and_arrives_after_it(
    gateway, mailbox: MailboxView, smtp_sink: SmtpSink
):
    smtp_sink.stop()
    await mailbox.append(raw_mail("I was charged twice for order A123-4567.", message_id="<outage@example.com>"))
    await read_topic(gateway.kafka, gateway.names("intake.routed.v1"), count=1, timeout=60)
    await asyncio.sleep(6)  # several delivery attempts fail meanwhile
    assert await read_topic(gateway.kafka, gateway.names("notify.acks.v1"), timeout=2) == []

    smtp_sink.start()
    [mail] = await asyncio.to_thread(smtp_sink.wait_for, 1, 60)
    [ack] = await acks_for(gateway, 1)
    assert str(mail.message["In-Reply-To"]).strip() == "<outage@example.com>"
    assert ack.outcome is AckOutcome.SENT and ack.attempts > 1
