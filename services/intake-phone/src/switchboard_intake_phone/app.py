"""intake-phone's wiring: the producer, the webhooks, the call-outcome consume loop, health."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from switchboard_common.health import HealthChecks, KafkaProbe
from switchboard_common.intake import IntakePublisher, install_kafka_unavailable_handler
from switchboard_common.producer import EventProducer
from switchboard_common.service import BackgroundStarts, ConsumerRuntime
from switchboard_common.topics import TopicNames
from switchboard_intake_phone.call_outcomes import Timing
from switchboard_intake_phone.fact_publisher import FactPublisher
from switchboard_intake_phone.ivr import load_ivr_config
from switchboard_intake_phone.processor import CallOutcomeProcessor
from switchboard_intake_phone.routes import PhoneEdge, phone_router
from switchboard_intake_phone.settings import IntakePhoneSettings

SERVICE = "intake-phone"


def create_app(settings: IntakePhoneSettings | None = None) -> FastAPI:
    settings = settings or IntakePhoneSettings()
    ivr = load_ivr_config(settings.phone.ivr_file)
    names = TopicNames(settings.kafka.topic_prefix)
    producer = EventProducer(settings.kafka, client_id=f"{settings.kafka.client_id}-{SERVICE}")
    publisher = IntakePublisher(producer, names, SERVICE)
    facts = FactPublisher(producer, names, SERVICE)
    probe = KafkaProbe(producer)
    health = HealthChecks()
    health.add_readiness("kafka", probe.is_ready)
    phone = settings.phone
    processor = CallOutcomeProcessor(
        kafka=settings.kafka,
        ivr=ivr,
        publisher=publisher,
        timing=Timing(
            transcript_timeout=phone.transcript_timeout,
            recording_wait=phone.recording_wait,
            call_end_grace=phone.call_end_grace,
            voicemail_window=phone.voicemail_window,
        ),
        state_window=phone.state_window,
        max_text_chars=phone.max_text_chars,
    )
    runtime = ConsumerRuntime(
        service=SERVICE,
        kafka=settings.kafka,
        consumer=settings.consumer,
        processors=[(f"{settings.kafka.topic_prefix}switchboard-intake-phone", processor)],
        health=health,
    )
    starts = BackgroundStarts()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        starts.start("producer", producer.start, then=probe.start)
        await runtime.start()
        try:
            yield
        finally:
            await starts.stop()
            await runtime.stop()
            await probe.stop()
            await producer.stop()

    app = FastAPI(
        title="Switchboard intake-phone",
        description="Twilio voice and SMS webhooks (IVR, voicemail, missed calls) and a signed webhook for other "
        "phone systems. Requests are accepted only once Kafka stored what they report.",
        lifespan=lifespan,
    )
    install_kafka_unavailable_handler(app)
    app.include_router(health.router())
    app.include_router(phone_router(PhoneEdge(settings, ivr, facts, publisher)))
    app.state.processor = processor
    return app
