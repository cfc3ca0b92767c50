"""What every benchmark shares: a gateway to measure, latency histograms, memory sampling, reporting."""

from __future__ import annotations

import asyncio
import os
import platform
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from hdrh.histogram import HdrHistogram

from switchboard_common.settings import KafkaSettings
from switchboard_common.topics import TopicNames
from switchboard_devenv.kafka_broker import KafkaBroker
from switchboard_devenv.kafka_testing import create_plan_topics
from switchboard_devenv.processes import ServiceProcess, free_port
from switchboard_devenv.services import SERVICES


class Latency:
    """An HDR histogram of latencies in microseconds, 1 µs to 10 minutes, 3 significant digits."""

    def __init__(self) -> None:
        self._histogram = HdrHistogram(1, 600_000_000, 3)

    def record(self, seconds: float) -> None:
        self._histogram.record_value(max(1, int(seconds * 1_000_000)))

    @property
    def count(self) -> int:
        return int(self._histogram.get_total_count())

    def percentile_ms(self, percentile: float) -> float:
        if self.count == 0:
            return float("nan")
        return float(self._histogram.get_value_at_percentile(percentile)) / 1000

    def summary(self) -> dict[str, float]:
        return {
            "count": self.count,
            "p50_ms": round(self.percentile_ms(50), 2),
            "p99_ms": round(self.percentile_ms(99), 2),
            "p99_9_ms": round(self.percentile_ms(99.9), 2),
            "max_ms": round(self._histogram.get_max_value() / 1000, 2) if self.count else float("nan"),
        }


def rss_mib(pid: int) -> float | None:
    """Resident memory of a process, MiB (Linux /proc)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time a process has used, seconds (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


@dataclass
class MemorySampler:
    """Samples the RSS of named processes once a second; keeps the peak."""

    pids: Mapping[str, int]
    peak: dict[str, float] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None

    def snapshot(self) -> dict[str, float]:
        return {name: round(value, 1) for name, pid in self.pids.items() if (value := rss_mib(pid)) is not None}

    async def _run(self) -> None:
        while True:
            for name, value in self.snapshot().items():
                self.peak[name] = max(self.peak.get(name, 0.0), value)
            await asyncio.sleep(1)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> dict[str, float]:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        return dict(self.peak)


@dataclass
class BenchGateway:
    """A broker (unless KAFKA_BOOTSTRAP_SERVERS is set) and the gateway's services, as processes."""

    kafka: KafkaSettings
    names: TopicNames
    services: dict[str, ServiceProcess]
    broker: KafkaBroker | None
    env: dict[str, str]

    @classmethod
    async def start(
        cls, log_dir: Path, *, env: Mapping[str, str] | None = None, only: Iterable[str] | None = None
    ) -> BenchGateway:
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        broker = None
        if not bootstrap:
            broker = KafkaBroker(heap="1g")
            await asyncio.to_thread(broker.start)
            bootstrap = broker.bootstrap_servers
        kafka = KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=f"bench{uuid.uuid4().hex[:6]}.")
        names = await create_plan_topics(kafka, pipeline_partitions=6)
        full_env = {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "KAFKA_TOPIC_PREFIX": kafka.topic_prefix,
            "WEBCHAT_SESSION_SECRET": uuid.uuid4().hex,
            "CONSUMER_INSTANCE_ID": "bench",
            "LOG_LEVEL": "WARNING",
            **(env or {}),
        }
        wanted = set(only) if only is not None else None
        services = {
            s.name: ServiceProcess(s.name, s.module, port=free_port(), env=full_env, log_dir=log_dir).start()
            for s in SERVICES
            if wanted is None or s.name in wanted
        }
        for process in services.values():
            await asyncio.to_thread(process.wait_ready, 120)
        return cls(kafka, names, services, broker, full_env)

    def pids(self) -> dict[str, int]:
        found = {name: p.pid for name, p in self.services.items() if p.pid is not None}
        if self.broker is not None and self.broker.pid is not None:
            found["kafka-broker"] = self.broker.pid
        return found

    async def stop(self) -> None:
        for process in self.services.values():
            await asyncio.to_thread(process.stop)
        if self.broker is not None:
            await asyncio.to_thread(self.broker.cleanup)

    async def metric(self, service: str, name: str) -> float:
        """Sum of a Prometheus counter/gauge's samples on a service's /metrics."""
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"{self.services[service].url}/metrics")).text
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name) and not line.startswith("#"):
                total += float(line.rsplit(" ", 1)[1])
        return total


def machine(speed_at_start: float | None = None) -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_at_end": os.getloadavg(),
        "reference_speed": {"at_start": speed_at_start, "at_end": reference_speed()},
    }


def reference_speed(seconds: float = 1.0) -> float:
    """Rounds per CPU second (thousands) of a fixed piece of pure Python: strings, dicts, integers.

    The same code on the same machine should always give the same figure, but a shared virtual machine
    does not: on this one, with nothing else running, half-second measurements within one hour ranged
    from 1,500 to 3,000. A run's figures are comparable with another's only at a similar reference speed;
    the report records it at the start and the end of the run. It is CPU time, so the run's other
    processes do not lower it (only what the host does).
    """
    counts: dict[str, int] = {}
    rounds, total = 0, 0
    started = time.process_time()
    while time.process_time() - started < seconds:
        for i in range(1000):
            word = f"w{i % 97}:{i & 7}"
            counts[word] = counts.get(word, 0) + len(word)
            total += hash(word) & 0xFF
        rounds += 1
    return round(rounds / (time.process_time() - started), 1)


def write_report(kind: str, report: dict[str, Any], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out_dir / f"{kind}-{stamp}.json"
    path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
    return path


def table(rows: list[list[Any]], header: list[str]) -> str:
    cells = [[str(c) for c in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def now_epoch() -> float:
    return time.time()
