"""Fixtures for cross-service tests: the gateway's services as real processes on the session's broker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from switchboard_common.settings import KafkaSettings
from switchboard_common.topics import TopicNames
from switchboard_devenv.kafka_testing import create_plan_topics
from switchboard_devenv.processes import ServiceProcess, free_port, service_env
from switchboard_devenv.services import SERVICES as ALL_SERVICES

SERVICES = {service.name: service.module for service in ALL_SERVICES}


@dataclass
class Gateway:
    """The running services of one test's gateway, on their own topic prefix."""

    kafka: KafkaSettings
    names: TopicNames
    services: dict[str, ServiceProcess]
    env: dict[str, str]
    log_dir: Path

    @property
    def chat_url(self) -> str:
        return self.services["intake-chat"].url

    def url(self, name: str) -> str:
        return self.services[name].url

    @property
    def phone_url(self) -> str:
        return self.services["intake-phone"].url

    @property
    def chat_ws(self) -> str:
        return self.chat_url.replace("http://", "ws://") + "/v1/webchat/ws"

    def process(self, name: str) -> ServiceProcess:
        return ServiceProcess(name, SERVICES[name], port=free_port(), env=self.env, log_dir=self.log_dir)

    def restart(self, name: str, *, kill: bool = False) -> ServiceProcess:
        old = self.services[name]
        old.kill() if kill else old.stop()
        new = ServiceProcess(name, SERVICES[name], port=old.port, env=self.env, log_dir=self.log_dir).start()
        self.services[name] = new
        return new

    def stop(self) -> None:
        for process in self.services.values():
            process.stop()


def gateway_env(kafka: KafkaSettings, **extra: str) -> dict[str, str]:
    return service_env(kafka, "e2e", WEBCHAT_SESSION_SECRET=uuid.uuid4().hex, LOG_LEVEL="INFO", **extra)


@pytest.fixture
def gateway_extra_env() -> dict[str, str]:
    """More environment for the gateway's services; a test module overrides it (channel credentials, stand-in APIs)."""
    return {}


@pytest.fixture
async def gateway(kafka_bootstrap: str, tmp_path: Path, gateway_extra_env: dict[str, str]) -> AsyncIterator[Gateway]:
    kafka = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=f"e{uuid.uuid4().hex[:10]}.")
    names = await create_plan_topics(kafka)
    env = gateway_env(kafka, **gateway_extra_env)
    services = {
        name: ServiceProcess(name, module, port=free_port(), env=env, log_dir=tmp_path).start()
        for name, module in SERVICES.items()
    }
    running = Gateway(kafka, names, services, env, tmp_path)
    try:
        for process in services.values():
            await asyncio.to_thread(process.wait_ready, 90)
        yield running
    finally:
        running.stop()
