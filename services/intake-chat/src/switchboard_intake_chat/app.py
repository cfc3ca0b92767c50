"""intake-chat's wiring: the Kafka producer, the outbound relay, the web-chat endpoints, health."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from switchboard_common.health import HealthChecks, KafkaProbe
from switchboard_common.intake import IntakePublisher, install_kafka_unavailable_handler
from switchboard_common.producer import EventProducer
from switchboard_common.service import BackgroundStarts
from switchboard_common.topics import TopicNames
from switchboard_intake_chat.outbound import OutboundRelay
from switchboard_intake_chat.providers import meta_routes, slack_routes, telegram_routes
from switchboard_intake_chat.providers.line_routes import line_router
from switchboard_intake_chat.providers.wechat_routes import wechat_router, wecom_router
from switchboard_intake_chat.settings import IntakeChatSettings
from switchboard_intake_chat.webchat.routes import WebChat, webchat_router

SERVICE = "intake-chat"


def create_app(settings: IntakeChatSettings | None = None) -> FastAPI:
    settings = settings or IntakeChatSettings()
    names = TopicNames(settings.kafka.topic_prefix)
    producer = EventProducer(settings.kafka, client_id=f"{settings.kafka.client_id}-{SERVICE}")
    publisher = IntakePublisher(producer, names, SERVICE)
    relay = OutboundRelay(
        settings.kafka, names, settings.webchat.replay_limit, tail_fetch=settings.consumer.fetch_kwargs()
    )
    probe = KafkaProbe(producer)
    chat = WebChat(settings.webchat, publisher, relay)
    health = HealthChecks()
    health.add_readiness("kafka", probe.is_ready)
    health.add_readiness("outbound-relay", relay.is_ready)
    starts = BackgroundStarts()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        starts.start("producer", producer.start, then=probe.start)
        starts.start("outbound-relay", relay.start)
        try:
            yield
        finally:
            await starts.stop()
            await probe.stop()
            await relay.stop()
            await producer.stop()

    app = FastAPI(
        title="Switchboard intake-chat",
        description="Web chat (WebSocket and HTTP) intake. Messages are accepted only once Kafka stored them.",
        lifespan=lifespan,
    )
    if settings.webchat.allowed_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.webchat.allowed_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    install_kafka_unavailable_handler(app)
    app.include_router(health.router())
    app.include_router(webchat_router(chat))
    app.include_router(wechat_router(publisher, settings.wechat))
    app.include_router(wecom_router(publisher, settings.wecom))
    app.include_router(line_router(publisher, settings.line))
    app.include_router(slack_routes.router(publisher, settings.slack))
    app.include_router(meta_routes.router(publisher, settings.meta))
    app.include_router(telegram_routes.router(publisher, settings.telegram))
    app.state.chat = chat
    return app
