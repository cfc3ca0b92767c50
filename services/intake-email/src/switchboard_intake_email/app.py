"""intake-email's wiring: the Kafka producer, one watcher per configured mailbox, the inbound endpoint, health."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from switchboard_common.health import HealthChecks, KafkaProbe
from switchboard_common.intake import IntakePublisher, install_kafka_unavailable_handler
from switchboard_common.producer import EventProducer
from switchboard_common.service import start_with_retry
from switchboard_common.topics import TopicNames
from switchboard_intake_email.inbound import inbound_router
from switchboard_intake_email.rating_routes import rating_router
from switchboard_intake_email.settings import IntakeEmailSettings, load_mailboxes, mailbox_password
from switchboard_intake_email.watcher import MailboxWatcher

SERVICE = "intake-email"
log = logging.getLogger(__name__)


def build_watchers(settings: IntakeEmailSettings, publisher: IntakePublisher) -> list[MailboxWatcher]:
    """A watcher per configured mailbox whose password is set; a mailbox without one is off (logged)."""
    email = settings.email
    if email.mailboxes_file is None:
        return []
    watchers = []
    for config in load_mailboxes(email.mailboxes_file):
        password = mailbox_password(config)
        if password is None:
            log.error(
                "mailbox is off: its password variable is not set",
                extra={"mailbox": config.name, "password_env": config.password_env},
            )
            continue
        watchers.append(
            MailboxWatcher(
                config,
                password.get_secret_value(),
                publisher,
                limits=email.limits(),
                own_addresses=frozenset(a.lower() for a in email.own_addresses),
                max_message_bytes=email.max_message_bytes,
                pause_before_mark=email.pause_before_mark_seconds,
            )
        )
    return watchers


def create_app(settings: IntakeEmailSettings | None = None) -> FastAPI:
    settings = settings or IntakeEmailSettings()
    names = TopicNames(settings.kafka.topic_prefix)
    producer = EventProducer(settings.kafka, client_id=f"{settings.kafka.client_id}-{SERVICE}")
    publisher = IntakePublisher(producer, names, SERVICE)
    probe = KafkaProbe(producer)
    watchers = build_watchers(settings, publisher)
    health = HealthChecks()
    health.add_readiness("kafka", probe.is_ready)
    for watcher in watchers:
        health.add_readiness(f"imap:{watcher.name}", watcher.is_ready)
    stopping = asyncio.Event()

    async def connect() -> None:
        if await start_with_retry("producer", producer.start, stopping):
            probe.start()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(connect(), name="connect")]
        tasks += [asyncio.create_task(w.run(stopping), name=f"imap:{w.name}") for w in watchers]
        try:
            yield
        finally:
            stopping.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await probe.stop()
            await producer.stop()

    app = FastAPI(
        title="Switchboard intake-email",
        description="Email intake: IMAP mailboxes, a raw-MIME inbound endpoint and the satisfaction rating page. "
        "Mail is accepted (and marked processed on the IMAP server) only once Kafka stored its event.",
        lifespan=lifespan,
    )
    install_kafka_unavailable_handler(app)
    app.include_router(health.router())
    if settings.email.inbound_token is not None:
        app.include_router(inbound_router(settings.email, publisher, settings.email.limits()))
    if settings.rating is not None:
        app.include_router(rating_router(settings.rating, publisher))
    app.state.watchers = watchers
    return app
