"""pytest fixtures for the whole repository: one real Kafka broker per session, isolated topics per test.

``KAFKA_BOOTSTRAP_SERVERS`` points the suite at an existing cluster instead of starting a broker.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from switchboard_common.settings import KafkaSettings
from switchboard_common.topics import TopicNames
from switchboard_devenv.kafka_broker import KafkaBroker
from switchboard_devenv.kafka_testing import create_plan_topics


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[KafkaBroker | None]:
    """The broker this session started, or None when KAFKA_BOOTSTRAP_SERVERS names an existing cluster."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield None
        return
    broker = KafkaBroker()
    broker.start()
    try:
        yield broker
    finally:
        broker.cleanup()


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: KafkaBroker | None) -> str:
    if kafka_broker is None:
        return os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    return kafka_broker.bootstrap_servers


@pytest.fixture
def kafka_settings(kafka_bootstrap: str) -> KafkaSettings:
    """Settings with a topic prefix of this test's own, so tests never see each other's records."""
    return KafkaSettings(
        bootstrap_servers=kafka_bootstrap,
        topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
        send_timeout_s=15.0,
        security_protocol="PLAINTEXT",
    )


@pytest.fixture
async def kafka_topics(kafka_settings: KafkaSettings) -> TopicNames:
    """The packaged topic plan created under this test's prefix."""
    return await create_plan_topics(kafka_settings)


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The shared third-party corpus (SWITCHBOARD_CORPUS_DIR, default ../shared/corpus beside the checkout)."""
    configured = os.environ.get("SWITCHBOARD_CORPUS_DIR")
    root = Path(__file__).resolve().parents[4]
    path = Path(configured) if configured else root.parent / "shared" / "corpus"
    if not path.is_dir():
        pytest.skip(f"corpus not found at {path} (set SWITCHBOARD_CORPUS_DIR): skipping corpus tests")
    return path
