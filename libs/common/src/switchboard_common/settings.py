"""Settings shared by every service: Kafka connection, topic naming, HTTP and observability.

Each service declares one ``pydantic-settings`` class of its own that nests these. Values come from
the environment (and an optional ``.env`` file); secrets are ``SecretStr`` so that they never reach a
log line or a repr.
"""

from __future__ import annotations

import socket
import ssl
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class KafkaSettings(BaseSettings):
    """How to reach the Kafka cluster. Environment prefix ``KAFKA_``."""

    model_config = SettingsConfigDict(env_prefix="KAFKA_", extra="ignore", env_file=".env")

    bootstrap_servers: str = Field(
        default="127.0.0.1:9092", description="Comma-separated host:port list of the cluster's brokers."
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_check_hostname: bool = True
    topic_prefix: str = Field(
        default="",
        description="Prepended to every topic name, to run several gateways (or test runs) on one cluster.",
    )
    client_id: str = "switchboard"
    request_timeout_ms: int = 15_000
    send_timeout_s: float = Field(default=10.0, gt=0, description="Upper bound on waiting for one batch's acks.")
    linger_ms: int = 2
    max_batch_size: int = 256 * 1024
    compression_type: Literal["gzip", "snappy", "lz4", "zstd"] | None = None
    exactly_once: bool = Field(
        default=True,
        description=(
            "Consume-process-produce services write their outputs and offsets in one Kafka transaction. "
            "Turn off only for clusters without transaction support: processing is then at-least-once "
            "and event ids make the visible effect exactly-once."
        ),
    )
    transaction_timeout_ms: int = 30_000

    @model_validator(mode="after")
    def _sasl_needs_credentials(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL") and (
            self.sasl_mechanism is None or self.sasl_username is None or self.sasl_password is None
        ):
            raise ValueError("SASL security needs KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD")
        return self

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments common to aiokafka producers, consumers and admin clients."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
            "request_timeout_ms": self.request_timeout_ms,
        }
        if self.security_protocol in ("SSL", "SASL_SSL"):
            context = ssl.create_default_context(cafile=str(self.ssl_cafile) if self.ssl_cafile else None)
            context.check_hostname = self.ssl_check_hostname
            if self.ssl_certfile:
                context.load_cert_chain(str(self.ssl_certfile), str(self.ssl_keyfile) if self.ssl_keyfile else None)
            kwargs["ssl_context"] = context
        if self.security_protocol.startswith("SASL"):
            assert self.sasl_password is not None  # checked by the validator
            kwargs["sasl_mechanism"] = self.sasl_mechanism
            kwargs["sasl_plain_username"] = self.sasl_username
            kwargs["sasl_plain_password"] = self.sasl_password.get_secret_value()
        return kwargs


class HttpSettings(BaseSettings):
    """Where a service's HTTP server (API, health, metrics) listens. Environment prefix ``HTTP_``."""

    model_config = SettingsConfigDict(env_prefix="HTTP_", extra="ignore", env_file=".env")

    host: str = "127.0.0.1"
    port: int = 8080
    root_path: str = ""
    forwarded_allow_ips: str = Field(
        default="127.0.0.1", description="Proxies whose X-Forwarded-* headers are trusted (comma-separated)."
    )


class ObservabilitySettings(BaseSettings):
    """Logging and liveness. Environment prefix ``LOG_`` for logging."""

    model_config = SettingsConfigDict(env_prefix="LOG_", extra="ignore", env_file=".env")

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_format: bool = Field(default=True, alias="LOG_JSON")


def default_instance_id() -> str:
    """A stable name for this process's replica: the pod name under Kubernetes, else the host name."""
    return socket.gethostname()


class ConsumerSettings(BaseSettings):
    """Tuning of the shared consume-process-produce loop. Environment prefix ``CONSUMER_``."""

    model_config = SettingsConfigDict(env_prefix="CONSUMER_", extra="ignore", env_file=".env")

    instance_id: str = Field(
        default_factory=default_instance_id,
        description="Stable per replica; names the transactional producer so a restarted replica fences its "
        "predecessor's open transaction at once.",
    )
    max_batch: int = Field(default=500, ge=1)
    poll_timeout_ms: int = Field(default=200, ge=10)
    fetch_min_bytes: int = Field(
        default=16 * 1024,
        ge=1,
        description="The broker answers a fetch once this much is there (or after fetch_max_wait_ms): fewer, "
        "larger batches, so fewer transactions for the broker to write under a steady trickle of messages.",
    )
    fetch_max_wait_ms: int = Field(
        default=50, ge=0, description="The longest the broker holds a fetch for fetch_min_bytes: the latency it adds."
    )
    max_unexpected_failures: int = Field(
        default=3, ge=1, description="Attempts for a message whose processing raises an unexpected error."
    )
    stall_seconds: float = Field(
        default=60.0, description="Report not-ready when no batch could be completed for this long."
    )
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000
    max_poll_interval_ms: int = 300_000

    def fetch_kwargs(self) -> dict[str, int]:
        """The fetch batching of a consumer that follows a busy topic (a consume loop, a tail)."""
        return {"fetch_min_bytes": self.fetch_min_bytes, "fetch_max_wait_ms": self.fetch_max_wait_ms}


class ServiceSettings(BaseSettings):
    """What every service's settings hold: Kafka, HTTP and logging.

    A service's own settings class derives from it (from :class:`ConsumerServiceSettings` when it runs
    consume loops), sets its ``model_config`` (its environment prefix) and adds its own fields.
    """

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)


class ConsumerServiceSettings(ServiceSettings):
    """The settings of a service that runs consume loops: :class:`ServiceSettings` and the loops' tuning."""

    consumer: ConsumerSettings = Field(default_factory=ConsumerSettings)
