"""The notifier's wiring: settings, templates, channel senders, the consume loop, the HTTP app."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from switchboard_common.health import HealthChecks
from switchboard_common.service import ConsumerRuntime, consumer_app
from switchboard_common.topics import INTAKE_MESSAGES, TopicNames
from switchboard_notifier.case_origin import CaseOrigins
from switchboard_notifier.channels import (
    ChannelSender,
    SenderRegistry,
    email,
    line,
    messenger,
    slack,
    sms,
    telegram,
    webchat,
    wechat,
    whatsapp,
)
from switchboard_notifier.processor import NotifierProcessor
from switchboard_notifier.settings import NotifierSettings
from switchboard_notifier.templates import AckTemplates

SERVICE = "notifier"


# Each channel module offers ``from_settings(settings) -> ChannelSender | None``: None when the channel
# is not configured (its credentials are absent), so a notifier only acknowledges on channels it can reach.
SENDER_FACTORIES: list[Callable[[NotifierSettings], ChannelSender | None]] = [
    webchat.from_settings,
    wechat.from_settings,
    line.from_settings,
    slack.from_settings,
    whatsapp.from_settings,
    messenger.from_settings,
    telegram.from_settings,
    sms.from_settings,
    email.from_settings,
]


def build_senders(settings: NotifierSettings) -> SenderRegistry:
    """Every channel sender that is configured."""
    senders = (factory(settings) for factory in SENDER_FACTORIES)
    return SenderRegistry(sender for sender in senders if sender is not None)


def create_app(settings: NotifierSettings | None = None) -> FastAPI:
    settings = settings or NotifierSettings()
    templates = AckTemplates.load(settings.templates_path, settings.zone)
    senders = build_senders(settings)
    names = TopicNames(settings.kafka.topic_prefix)
    origins = CaseOrigins(settings.kafka, names(INTAKE_MESSAGES), cache_size=settings.origin_cache_size)
    processor = NotifierProcessor(settings, templates, senders, origins)

    async def stop() -> None:
        await senders.stop()
        await processor.close()

    health = HealthChecks()
    runtime = ConsumerRuntime(
        service=SERVICE,
        kafka=settings.kafka,
        consumer=settings.consumer,
        processors=[(f"{settings.kafka.topic_prefix}switchboard-notifier", processor)],
        health=health,
    )
    return consumer_app(
        title="Switchboard notifier", runtime=runtime, health=health, on_startup=senders.start, on_shutdown=stop
    )
