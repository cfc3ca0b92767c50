"""intake-email killed (SIGKILL) between Kafka's acknowledgement and the IMAP mark: one event, one acknowledgement.

The kill lands in the window on purpose: ``EMAIL_PAUSE_BEFORE_MARK_SECONDS`` (a testing aid) holds the
batch after Kafka acknowledged it, and the test checks that the message is still unmarked when it kills.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from intake_email_imap import KEYWORD, MailboxView
from intake_email_samples import gbk_mail

from switchboard_common.events import ACK_RECORDED
from switchboard_common.events.models import AckOutcome
from switchboard_common.settings import KafkaSettings
from switchboard_common.topics import TopicNames
from switchboard_devenv.dovecot import ImapAccount
from switchboard_devenv.kafka_testing import decode_all, read_topic
from switchboard_devenv.processes import ServiceProcess, free_port, service_env
from switchboard_devenv.smtp_sink import SmtpSink

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def environment(kafka: KafkaSettings, account: ImapAccount, sink: SmtpSink, mailboxes: Path) -> dict[str, str]:
    return service_env(kafka, "email-crash-test") | {
        "EMAIL_MAILBOXES_FILE": str(mailboxes),
        "IMAP_PASSWORD_SUPPORT": account.password,
        "SMTP_HOST": sink.host,
        "SMTP_PORT": str(sink.port),
        "SMTP_TLS_MODE": "none",
        "SMTP_FROM": "support@shop.example",
        "NOTIFIER_SLA": '{"email": "6s"}',  # no classifier here: the generic acknowledgement goes at half of it
    }


async def test_a_kill_between_publish_and_mark_gives_one_event_id_and_one_acknowledgement(
    kafka_settings: KafkaSettings,
    kafka_topics: TopicNames,
    imap_account: ImapAccount,
    smtp_sink: SmtpSink,
    tmp_path: Path,
):
    mailboxes = tmp_path / "mailboxes.yaml"
    mailboxes.write_text(
        f"mailboxes:\n  - name: support\n    host: {imap_account.host}\n    port: {imap_account.port}\n"
        f"    tls: none\n    username: {imap_account.username}\n    password_env: IMAP_PASSWORD_SUPPORT\n"
        "    poll_interval_seconds: 1\n"
    )
    env = environment(kafka_settings, imap_account, smtp_sink, mailboxes)
    notifier = ServiceProcess("notifier", "switchboard_notifier.main", port=free_port(), env=env, log_dir=tmp_path)
    intake = ServiceProcess(
        "intake-email",
        "switchboard_intake_email.main",
        port=free_port(),
        env={**env, "EMAIL_PAUSE_BEFORE_MARK_SECONDS": "120"},
        log_dir=tmp_path,
    )
    view = MailboxView(imap_account)
    await view.open()
    try:
        notifier.start()
        intake.start()
        await view.append(gbk_mail())
        first = await read_topic(kafka_settings, kafka_topics("intake.messages.v1"), count=1, timeout=90)
        assert all(KEYWORD not in flags for flags in await view.flags()), "the kill must land before the mark"
        intake.kill()

        intake = ServiceProcess(
            "intake-email", "switchboard_intake_email.main", port=free_port(), env=env, log_dir=tmp_path
        ).start()
        await view.wait_until(lambda flags: len(flags) == 1 and KEYWORD in flags[0], timeout=90)
        records = await read_topic(kafka_settings, kafka_topics("intake.messages.v1"), count=2, timeout=30, settle=2)
        [mail] = await asyncio.to_thread(smtp_sink.wait_for, 1, 60)
        acks = decode_all(
            await read_topic(kafka_settings, kafka_topics("notify.acks.v1"), count=1, timeout=30, settle=5),
            ACK_RECORDED,
        )
        await asyncio.sleep(2)
    finally:
        await view.close()
        intake.stop()
        notifier.stop()

    assert len(records) == 2, "the restarted intake publishes the unmarked message again"
    assert {r.header("ce_id") for r in records} == {first[0].header("ce_id")}, "with the same event id"
    assert [(a.outcome, a.message_event_id) for a in acks] == [(AckOutcome.SENT, first[0].header("ce_id"))]
    assert len(smtp_sink.received) == 1
    assert str(mail.message["In-Reply-To"]).strip() == "<20261124093000.GBK1@mail.example.cn>"
