"""The dispatcher's HTTP app (health, metrics) whose lifespan runs the consume loop."""

from __future__ import annotations

import asyncio
import contextlib
import signal

from fastapi import FastAPI

from switchboard_common.health import HealthChecks
from switchboard_common.service import ConsumerRuntime, consumer_app
from switchboard_common.topics import INCIDENTS, TopicPlan, load_topic_plan
from switchboard_dispatcher.case_directory import CaseDirectory
from switchboard_dispatcher.processor import DispatcherProcessor
from switchboard_dispatcher.rules import RoutingRules
from switchboard_dispatcher.settings import DispatcherSettings

SERVICE = "dispatcher"


def build_processor(settings: DispatcherSettings) -> DispatcherProcessor:
    """The processor with its rules, checked against the topic plan; raises RoutingConfigError if unusable."""
    plan = load_topic_plan(settings.topic_plan_path)
    rules = RoutingRules(
        settings.routing_path,
        known_departments=set(plan.departments),
        poll_interval_s=settings.rules_poll_seconds,
    )
    return DispatcherProcessor(
        kafka=settings.kafka,
        rules=rules,
        windows=settings.windows(),
        incident_partitions=partitions_of(plan, INCIDENTS),
        rebuild_timeout_s=settings.rebuild_timeout_seconds,
        directory=CaseDirectory(
            settings.kafka,
            timeout_s=settings.quoted_case_lookup_timeout_seconds,
            scan_limit=settings.quoted_case_scan_limit,
        ),
    )


def partitions_of(plan: TopicPlan, logical: str) -> int:
    topic = plan.topics.get(logical)
    if topic is None:
        raise ValueError(f"the topic plan has no {logical}")
    return plan.pipeline_partitions if topic.pipeline else (topic.partitions or 1)


def create_app(settings: DispatcherSettings | None = None) -> FastAPI:
    """The app; fails at once (RoutingConfigError) when the rules name a department the plan lacks."""
    settings = settings or DispatcherSettings()
    processor = build_processor(settings)
    health = HealthChecks()
    runtime = ConsumerRuntime(
        service=SERVICE,
        kafka=settings.kafka,
        consumer=settings.consumer,
        processors=[(settings.group_id, processor)],
        health=health,
    )

    async def on_startup() -> None:
        # SIGHUP: check the rules file now rather than at the next poll.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, processor.rules.request_check)

    async def on_shutdown() -> None:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        await processor.directory.close()

    app = consumer_app(
        title="Switchboard dispatcher", runtime=runtime, health=health, on_startup=on_startup, on_shutdown=on_shutdown
    )
    app.state.processor = processor
    app.state.runtime = runtime
    return app
