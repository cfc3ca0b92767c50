"""A mailbox watched on the real Dovecot, publishing to the real Kafka broker."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from intake_email_imap import KEYWORD, MailboxView
from intake_email_samples import gbk_mail, html_only_mail, raw_mail

from switchboard_common.events import MESSAGE_RECEIVED
from switchboard_common.intake import IntakePublisher
from switchboard_common.producer import EventProducer
from switchboard_common.settings import KafkaSettings
from switchboard_common.topics import TopicNames
from switchboard_devenv.dovecot import DovecotServer, ImapAccount
from switchboard_devenv.kafka_testing import create_plan_topics, decode_all, read_topic
from switchboard_intake_email.normalise import EmailLimits
from switchboard_intake_email.settings import MailboxConfig
from switchboard_intake_email.watcher import MailboxWatcher

pytestmark = [pytest.mark.kafka]


def mailbox_config(account: ImapAccount, **overrides: object) -> MailboxConfig:
    values: dict[str, object] = {
        "name": "support",
        "host": account.host,
        "port": account.port,
        "tls": "none",
        "username": account.username,
        "password_env": "UNUSED_IN_THESE_TESTS",
        "poll_interval_seconds": 0.5,
        "idle_renew_seconds": 30,
        "timeout_seconds": 20,
        "addresses": ["support@shop.example"],
    }
    values.update(overrides)
    return MailboxConfig.model_validate(values)


@contextlib.asynccontextmanager
async def watching(
    config: MailboxConfig,
    account: ImapAccount,
    kafka: KafkaSettings,
    max_message_bytes: int = 30 * 1024 * 1024,
    pause_before_mark: float = 0.0,
) -> AsyncIterator[MailboxWatcher]:
    producer = EventProducer(kafka, client_id="test-intake-email")
    await producer.start()
    watcher = MailboxWatcher(
        config, account.password, IntakePublisher(producer, TopicNames(kafka.topic_prefix), "intake-email"),
        limits=EmailLimits(), max_message_bytes=max_message_bytes, pause_before_mark=pause_before_mark,
    )  # fmt: skip
    stopping = asyncio.Event()
    task = asyncio.create_task(watcher.run(stopping))
    try:
        yield watcher
    finally:
        stopping.set()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await producer.stop()


async def received(kafka: KafkaSettings, names: TopicNames, count: int, timeout: float = 60):
    records = await read_topic(kafka, names("intake.messages.v1"), count=count, timeout=timeout)
    return decode_all(records, MESSAGE_RECEIVED)


async def test_appended_messages_become_events_and_are_marked_processed(
    imap_account: ImapAccount, mailbox: MailboxView, kafka_settings: KafkaSettings, kafka_topics: TopicNames
):
    await mailbox.append(gbk_mail())
    await mailbox.append(html_only_mail("<p>My <b>refund</b> for order 9 is missing.</p>", message_id="<h1@x.example>"))
    async with watching(mailbox_config(imap_account), imap_account, kafka_settings):
        events = await received(kafka_settings, kafka_topics, 2)
        flags = await mailbox.wait_until(lambda fs: len(fs) == 2 and all(KEYWORD in f for f in fs))
    assert sorted(e.subject or "" for e in events) == ["Where is my parcel?", "订单还没有发货"]
    assert {e.channel_account for e in events} == {"email:support"}
    assert all(e.raw_ref and e.raw_ref.startswith("imap://") for e in events)
    assert all("\\Seen" not in f for f in flags), "people read these mailboxes: \\Seen is never touched"


async def test_nothing_is_marked_while_kafka_does_not_acknowledge_and_it_is_picked_up_later(
    imap_account: ImapAccount, mailbox: MailboxView, kafka_settings: KafkaSettings
):
    # The topics do not exist yet (and are never auto-created): every send times out, as when Kafka is down.
    kafka = kafka_settings.model_copy(update={"send_timeout_s": 2.0})
    await mailbox.append(raw_mail("Kafka is down, do not lose me", message_id="<down@x.example>"))
    # IDLE renewal and polling far beyond the test: the retry after Kafka's failure must not wait for them.
    config = mailbox_config(imap_account, idle_renew_seconds=1200, poll_interval_seconds=3000)
    async with watching(config, imap_account, kafka) as watcher:
        for _ in range(200):
            if watcher.last_error and "acknowledge" in watcher.last_error:
                break
            await asyncio.sleep(0.1)
        assert watcher.last_error and "acknowledge" in watcher.last_error
        assert all(KEYWORD not in f for f in await mailbox.flags())
        names = await create_plan_topics(kafka)  # Kafka "comes back"
        events = await received(kafka, names, 1)
        await mailbox.wait_until(lambda fs: fs and KEYWORD in fs[0])
    assert events[0].text.plain == "Kafka is down, do not lose me"


async def test_move_mode_moves_processed_mail_to_the_processed_folder(
    imap_account: ImapAccount, mailbox: MailboxView, kafka_settings: KafkaSettings, kafka_topics: TopicNames
):
    await mailbox.append(raw_mail("move me", message_id="<mv@x.example>"))
    config = mailbox_config(imap_account, mark="move", processed_folder="Switchboard/Processed")
    async with watching(config, imap_account, kafka_settings):
        await received(kafka_settings, kafka_topics, 1)
        await mailbox.wait_until(lambda fs: fs == [], folder="INBOX")
        moved = await mailbox.wait_until(lambda fs: len(fs) == 1, folder="Switchboard/Processed")
    assert KEYWORD in moved[0] and "\\Seen" not in moved[0]


async def test_without_idle_the_mailbox_is_polled(
    imap_account: ImapAccount, mailbox: MailboxView, kafka_settings: KafkaSettings, kafka_topics: TopicNames
):
    async with watching(mailbox_config(imap_account, idle=False), imap_account, kafka_settings) as watcher:
        await mailbox.wait_until(lambda fs: watcher.last_pass_at is not None)
        await mailbox.append(raw_mail("polled", message_id="<poll@x.example>"))
        [event] = await received(kafka_settings, kafka_topics, 1)
    assert event.text.plain == "polled"
    assert watcher.idle_supported is False


async def test_with_idle_new_mail_is_picked_up_without_polling(
    imap_account: ImapAccount, mailbox: MailboxView, kafka_settings: KafkaSettings, kafka_topics: TopicNames
):
    # Polling and IDLE renewal far beyond the test's timeout: only the server's IDLE push can deliver it.
    config = mailbox_config(imap_account, poll_interval_seconds=3000, idle_renew_seconds=1200)
    async with watching(config, imap_account, kafka_settings) as watcher:
        await mailbox.wait_until(lambda fs: watcher.last_pass_at is not None)
        assert watcher.idle_supported is True
        await asyncio.sleep(0.5)  # the watcher is in IDLE now
        await mailbox.append(raw_mail("pushed", message_id="<idle@x.example>"))
        [event] = await received(kafka_settings, kafka_topics, 1, timeout=90)
    assert event.text.plain == "pushed"


async def test_a_message_fetched_twice_keeps_its_event_id(
    imap_account: ImapAccount, mailbox: MailboxView, kafka_settings: KafkaSettings, kafka_topics: TopicNames
):
    await mailbox.append(raw_mail("twice", message_id="<twice@x.example>"))
    async with watching(mailbox_config(imap_account, keyword="$FirstRun"), imap_account, kafka_settings):
        await received(kafka_settings, kafka_topics, 1)
    # A second watcher with another keyword sees the message as unprocessed, like a lost mark would.
    async with watching(mailbox_config(imap_account, keyword="$SecondRun"), imap_account, kafka_settings):
        events = await received(kafka_settings, kafka_topics, 2)
    assert events[0].event_id == events[1].event_id


@pytest.mark.parametrize("mode", ["starttls", "tls"])
async def test_the_mailbox_is_read_over_tls(
    mode: str,
    dovecot_server: DovecotServer,
    imap_account: ImapAccount,
    mailbox: MailboxView,
    kafka_settings: KafkaSettings,
    kafka_topics: TopicNames,
):
    if not dovecot_server.tls_enabled:
        pytest.skip("openssl is missing: the test server has no certificate")
    port = dovecot_server.port if mode == "starttls" else dovecot_server.tls_port
    config = mailbox_config(imap_account, tls=mode, port=port, ca_file=str(dovecot_server.cert_path))
    await mailbox.append(raw_mail("over TLS", message_id=f"<{mode}@x.example>"))
    async with watching(config, imap_account, kafka_settings):
        [event] = await received(kafka_settings, kafka_topics, 1)
    assert event.text.plain == "over TLS"


async def test_a_certificate_that_is_not_trusted_is_refused(
    dovecot_server: DovecotServer, imap_account: ImapAccount, kafka_settings: KafkaSettings
):
    if not dovecot_server.tls_enabled:
        pytest.skip("openssl is missing: the test server has no certificate")
    config = mailbox_config(imap_account, tls="tls", port=dovecot_server.tls_port)  # system CAs only
    async with watching(config, imap_account, kafka_settings) as watcher:
        for _ in range(200):
            if watcher.last_error:
                break
            await asyncio.sleep(0.1)
    assert watcher.last_error and "CERTIFICATE_VERIFY_FAILED" in watcher.last_error
    assert watcher.last_pass_at is None


async def test_a_message_over_the_size_limit_is_read_only_up_to_it_and_still_published(
    imap_account: ImapAccount, mailbox: MailboxView, kafka_settings: KafkaSettings, kafka_topics: TopicNames
):
    await mailbox.append(raw_mail("Order 31 is broken. " + "x" * 20_000, message_id="<big@x.example>"))
    async with watching(mailbox_config(imap_account), imap_account, kafka_settings, max_message_bytes=4096):
        [event] = await received(kafka_settings, kafka_topics, 1)
        await mailbox.wait_until(lambda fs: fs and KEYWORD in fs[0])
    assert event.text.truncated
    assert event.text.plain.startswith("Order 31 is broken.") and len(event.text.plain) < 4096


async def test_mail_arriving_while_a_pass_runs_does_not_wait_for_the_next_idle_renewal(
    imap_account: ImapAccount, mailbox: MailboxView, kafka_settings: KafkaSettings, kafka_topics: TopicNames
):
    # The server announces mail that arrives during a pass in the replies to the pass's own commands, and
    # not again in IDLE. IDLE renewal and polling are far beyond the test, so only the watcher's look for
    # such mail before going idle can pick up the last message.
    config = mailbox_config(imap_account, poll_interval_seconds=3000, idle_renew_seconds=1200, batch_size=2)
    for i in range(6):
        await mailbox.append(raw_mail(f"message {i}", message_id=f"<early-{i}@x.example>"))
    async with watching(config, imap_account, kafka_settings, pause_before_mark=1.0):
        await received(kafka_settings, kafka_topics, 1)  # the pass is under way (three batches, 1 s each)
        await mailbox.append(raw_mail("the last one", message_id="<late@x.example>"))
        events = await received(kafka_settings, kafka_topics, 7, timeout=60)
    assert "the last one" in {e.text.plain for e in events}
