"""The notifier's wiring: settings, templates, channel senders, the consume loop, the HTTP app."""

from __future__ import annotations

from fastapi import FastAPI

from switchboard_common.health import HealthChecks
from switchboard_common.service import ConsumerRuntime, consumer_app
from switchboard_common.topics import TopicNames
from switchboard_notifier.channels import SenderRegistry
from switchboard_notifier.channels.webchat import WebChatSender
from switchboard_notifier.processor import NotifierProcessor
from switchboard_notifier.settings import NotifierSettings
from switchboard_notifier.templates import AckTemplates

SERVICE = "notifier"


def build_senders(settings: NotifierSettings) -> SenderRegistry:
    """Every channel sender that is configured."""
    names = TopicNames(settings.kafka.topic_prefix)
    return SenderRegistry([WebChatSender(names)])


def create_app(settings: NotifierSettings | None = None) -> FastAPI:
    settings = settings or NotifierSettings()
    templates = AckTemplates.load(settings.templates_path)
    senders = build_senders(settings)
    processor = NotifierProcessor(settings, templates, senders)
    health = HealthChecks()
    runtime = ConsumerRuntime(
        service=SERVICE,
        kafka=settings.kafka,
        consumer=settings.consumer,
        processors=[(f"{settings.kafka.topic_prefix}switchboard-notifier", processor)],
        health=health,
    )
    return consumer_app(
        title="Switchboard notifier", runtime=runtime, health=health, on_startup=senders.start, on_shutdown=senders.stop
    )
