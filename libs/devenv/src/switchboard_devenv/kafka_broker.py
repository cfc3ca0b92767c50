"""A real single-node Apache Kafka broker (KRaft) for development, tests and benchmarks.

The broker's jars come from Maven Central through Maven (``org.apache.kafka:kafka_2.13`` plus a
log4j2 backend) and are cached, so a second run needs no network. The broker runs as
broker+controller on 127.0.0.1 with two free ports.

    switchboard-kafka fetch                      download (or reuse) the pinned jars
    switchboard-kafka run [--dir DIR] [--port N] run a broker in the foreground until Ctrl-C
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from importlib import resources
from pathlib import Path

from switchboard_devenv.processes import LoggedProcess, free_port

KAFKA_VERSION = "4.1.2"
LOG4J_VERSION = "2.24.3"


class BrokerError(RuntimeError):
    """The broker could not be fetched, formatted or started."""


def cache_root() -> Path:
    override = os.environ.get("SWITCHBOARD_CACHE_DIR")
    if override:
        return Path(override)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "switchboard"


def _pom_text() -> str:
    template = resources.files("switchboard_devenv.kafka").joinpath("pom.xml").read_text("utf-8")
    return template.replace("@KAFKA_VERSION@", KAFKA_VERSION).replace("@LOG4J_VERSION@", LOG4J_VERSION)


def fetch_jars(cache: Path | None = None, *, quiet: bool = True) -> Path:
    """The folder holding the broker's classpath, resolved with Maven on the first call only."""
    pom = _pom_text()
    digest = hashlib.sha256(pom.encode()).hexdigest()[:12]
    folder = (cache or cache_root()) / f"kafka-{KAFKA_VERSION}-{digest}"
    libs = folder / "libs"
    marker = folder / "complete"
    if marker.exists() and any(libs.glob("kafka_2.13-*.jar")):
        return libs
    if shutil.which("mvn") is None:
        raise BrokerError("Maven (mvn) is needed once to fetch the Kafka jars from Maven Central")
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="libs-", dir=folder))
    (folder / "pom.xml").write_text(pom, "utf-8")
    command = [
        "mvn",
        "-B",
        *(["-q"] if quiet else []),
        "-f",
        str(folder / "pom.xml"),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={staging}",
        "-DincludeScope=runtime",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise BrokerError(f"mvn failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}")
    if libs.exists():
        shutil.rmtree(libs)
    staging.rename(libs)
    marker.write_text(f"kafka {KAFKA_VERSION}, log4j {LOG4J_VERSION}\n")
    return libs


def new_cluster_id() -> str:
    """22 characters of URL-safe base64 of a random UUID, not starting with '-'."""
    while True:
        candidate = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not candidate.startswith("-"):
            return candidate


class KafkaBroker:
    """One KRaft broker+controller process on loopback. ``start`` returns once it serves metadata."""

    def __init__(self, data_dir: Path | None = None, *, port: int | None = None, heap: str = "768m") -> None:
        self._owns_dir = data_dir is None
        self.data_dir = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="switchboard-kafka-"))
        self.port = port or free_port()
        self.controller_port = free_port()
        self.heap = heap
        self._process = LoggedProcess(self.log_file)

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "broker.log"

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process.running

    def _properties(self) -> str:
        return "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                f"log.dirs={self.data_dir / 'logs'}",
                "auto.create.topics.enable=false",
                "num.partitions=1",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=12",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "transaction.state.log.num.partitions=12",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "log.flush.interval.messages=9223372036854775807",
                "transaction.max.timeout.ms=900000",
                "",
            ]
        )

    def _java(self, libs: Path, main_class: str, *args: str, log: Path | None = None) -> list[str]:
        config = resources.files("switchboard_devenv.kafka").joinpath("log4j2.properties")
        return [
            os.environ.get("JAVA", "java"),
            f"-Xmx{self.heap}",
            "-Xms256m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={config}",
            "-cp",
            f"{libs}/*",
            main_class,
            *args,
        ]

    def start(self, timeout: float = 90.0) -> str:
        libs = fetch_jars()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        properties = self.data_dir / "server.properties"
        properties.write_text(self._properties(), "utf-8")
        if not (self.data_dir / "logs" / "meta.properties").exists():
            result = subprocess.run(
                self._java(libs, "kafka.tools.StorageTool", "format", "-t", new_cluster_id(), "-c", str(properties)),
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                raise BrokerError(f"formatting KRaft storage failed:\n{result.stdout}\n{result.stderr}")
        self._process = LoggedProcess(self.log_file)
        self._process.start(self._java(libs, "kafka.Kafka", str(properties)))
        self._wait_ready(timeout)
        return self.bootstrap_servers

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.returncode is not None:
                raise BrokerError(
                    f"broker exited with {self._process.returncode}; see {self.log_file}:\n{self._process.tail(30)}"
                )
            if metadata_ready(self.bootstrap_servers):
                return
            time.sleep(0.3)
        self.stop()
        raise BrokerError(
            f"broker did not serve metadata within {timeout:.0f}s; see {self.log_file}:\n{self._process.tail(30)}"
        )

    def stop(self, timeout: float = 30.0) -> None:
        """Controlled shutdown (SIGTERM), then SIGKILL if it takes too long."""
        self._process.stop(timeout)

    def kill(self) -> None:
        """SIGKILL, for fault tests."""
        self._process.kill()

    def restart(self, timeout: float = 90.0) -> None:
        """Stop and start again on the same ports and data."""
        self.stop()
        self.start(timeout)

    def cleanup(self) -> None:
        self.stop()
        if self._owns_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> KafkaBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


def metadata_ready(bootstrap_servers: str, timeout: float = 3.0) -> bool:
    """Whether the cluster answers a metadata request with at least one broker (aiokafka's own test wait)."""
    host, _, port = bootstrap_servers.split(",")[0].rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError:
        return False  # not listening yet: no need to ask (and no client error logged)
    result: list[bool] = []

    async def probe() -> None:
        from aiokafka import AIOKafkaClient
        from aiokafka.errors import KafkaError

        client = AIOKafkaClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=int(timeout * 1000))
        try:
            await asyncio.wait_for(client.bootstrap(), timeout)
            metadata = await asyncio.wait_for(client.fetch_all_metadata(), timeout)
            result.append(bool(metadata.brokers()))
        except (KafkaError, OSError, TimeoutError):
            result.append(False)
        finally:
            await client.close()

    # A thread of its own: callers may already be inside an event loop (pytest-asyncio, the dev runner).
    thread = threading.Thread(target=lambda: asyncio.run(probe()), daemon=True)
    thread.start()
    thread.join(timeout * 3)
    return bool(result and result[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="switchboard-kafka", description="Run a development Kafka broker.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch", help="download (or reuse) the pinned Kafka jars")
    run = sub.add_parser("run", help="run a broker in the foreground until interrupted")
    run.add_argument("--dir", type=Path, default=None, help="data folder (kept between runs when given)")
    run.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    if args.command == "fetch":
        started = time.monotonic()
        libs = fetch_jars(quiet=False)
        print(f"Kafka {KAFKA_VERSION} jars in {libs} ({time.monotonic() - started:.1f}s)")
        return 0
    broker = KafkaBroker(args.dir, port=args.port)
    broker.start()
    print(f"Kafka {KAFKA_VERSION} ready at {broker.bootstrap_servers} (data {broker.data_dir}); Ctrl-C stops it")
    sys.stdout.flush()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.is_set() and broker.running:
            stop.wait(1)
    except KeyboardInterrupt:
        pass
    finally:
        broker.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
