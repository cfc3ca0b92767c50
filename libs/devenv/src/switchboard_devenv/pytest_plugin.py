"""pytest fixtures for the whole repository: one real Kafka broker per session, isolated topics per test.

``KAFKA_BOOTSTRAP_SERVERS`` points the suite at an existing cluster instead of starting a broker.
Mail: one real Dovecot IMAP server per session (a fresh account per test) and an aiosmtpd server per
test. Without Dovecot installed the IMAP tests skip, except under CI (``CI=true``), where .ci/run
installs it and its absence is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from switchboard_common.settings import KafkaSettings
from switchboard_common.topics import TopicNames
from switchboard_devenv.dovecot import DovecotServer, ImapAccount, dovecot_binary
from switchboard_devenv.kafka_broker import KafkaBroker
from switchboard_devenv.kafka_testing import create_plan_topics
from switchboard_devenv.smtp_sink import SmtpSink


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


@pytest.fixture(scope="session")
def dovecot_server() -> Iterator[DovecotServer]:
    """A real Dovecot IMAP server on 127.0.0.1 for the whole session."""
    if dovecot_binary() is None:
        message = "dovecot is not installed (apt-get install dovecot-imapd): skipping the IMAP tests"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message.replace("skipping", "required under CI for"))
        pytest.skip(message)
    server = DovecotServer().start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def imap_account(dovecot_server: DovecotServer) -> ImapAccount:
    """A new, empty mailbox account of this test's own on the session's Dovecot."""
    return dovecot_server.account(f"u{uuid.uuid4().hex[:12]}")


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """An SMTP server on 127.0.0.1 that keeps every message it receives."""
    sink = SmtpSink().start()
    try:
        yield sink
    finally:
        sink.stop()
