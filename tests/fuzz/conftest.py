"""The fuzzed service runs as its own process, as in production.

Not in a thread of the test process: the service's clients (aiokafka picks brokers at random) would
draw from the global ``random`` module while Hypothesis generates a case, which Hypothesis reports as
a strategy using ``random``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

from switchboard_common.settings import KafkaSettings
from switchboard_devenv.kafka_testing import create_plan_topics
from switchboard_devenv.processes import ServiceProcess, free_port, service_env


@pytest.fixture(scope="module")
def serve_service(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str, str, dict[str, str]], AbstractContextManager[str]]:
    """``serve_service(name, module, env)``: the service on its own topic prefix, ready; yields its URL."""

    @contextmanager
    def serve(name: str, module: str, env: dict[str, str]) -> Iterator[str]:
        kafka = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=f"f{uuid.uuid4().hex[:8]}.")
        asyncio.run(create_plan_topics(kafka))
        log_dir: Path = tmp_path_factory.mktemp(f"fuzz-{name}")
        process = ServiceProcess(
            name,
            module,
            port=free_port(),
            log_dir=log_dir,
            env=service_env(kafka, f"fuzz-{uuid.uuid4().hex[:6]}", CONSUMER_POLL_TIMEOUT_MS="100", **env),
        ).start()
        try:
            process.wait_ready(90)
            yield process.url
            assert process.running, f"{name} died during the fuzz run:\n{process.log_tail()}"
        finally:
            process.stop()

    return serve
