"""A test's service process is only taken as ready when the answer comes from that process.

CI once saw an end-to-end test post to a port that another server answered (404): the kernel can hand
the same free port out twice, and the readiness probe took whoever answered on it for the service.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from switchboard_common.settings import KafkaSettings
from switchboard_common.topics import TopicNames
from switchboard_devenv import processes
from switchboard_devenv.asgi import app_in_thread
from switchboard_devenv.processes import ServiceProcess, free_port, service_env


class _SocketGivingPorts:
    """Stands in for ``socket.socket`` in :func:`free_port`: each bind gets the next port of a list."""

    def __init__(self, ports: list[int]) -> None:
        self._ports = iter(ports)

    def __call__(self, *_: object) -> _SocketGivingPorts:
        return self

    def __enter__(self) -> _SocketGivingPorts:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def bind(self, _: object) -> None:
        self._port = next(self._ports)

    def getsockname(self) -> tuple[str, int]:
        return ("127.0.0.1", self._port)


def test_free_port_never_hands_out_a_port_twice_even_when_the_kernel_repeats_one(monkeypatch):
    monkeypatch.setattr(processes, "_handed_out", set())
    monkeypatch.setattr(processes.socket, "socket", _SocketGivingPorts([41001, 41001, 41001, 41002, 41001, 41003]))
    assert [free_port(), free_port(), free_port()] == [41001, 41002, 41003]


def _impostor() -> FastAPI:
    """Another server on the port, ready by its own account."""
    app = FastAPI()

    @app.get("/readyz")
    async def readyz() -> dict[str, object]:
        return {"status": "ready", "checks": {}}

    @app.get("/{path:path}")
    async def anything(path: str) -> dict[str, str]:
        return {"impostor": path}

    return app


@contextmanager
def _classifier_on_a_taken_port(kafka: KafkaSettings, log_dir: Path) -> Iterator[tuple[ServiceProcess, int]]:
    """The classifier started on a port another server already listens on; the process and that port."""
    with app_in_thread(_impostor()) as impostor_url:
        taken = int(impostor_url.rsplit(":", 1)[1])
        env = service_env(kafka, "ports-test")
        process = ServiceProcess("classifier", "switchboard_classifier.main", port=taken, env=env, log_dir=log_dir)
        try:
            yield process.start(), taken
        finally:
            process.stop()


@pytest.mark.kafka
async def test_a_service_whose_port_was_taken_starts_again_on_another_and_is_not_confused_with_the_taker(
    kafka_settings: KafkaSettings, kafka_topics: TopicNames, tmp_path: Path
):
    with _classifier_on_a_taken_port(kafka_settings, tmp_path) as (process, taken):
        await asyncio.to_thread(process.wait_ready, 90)
        assert process.port != taken
        async with httpx.AsyncClient(timeout=5) as client:
            answer = (await client.get(f"{process.url}/readyz")).json()
        assert answer["pid"] == process.pid and answer["status"] == "ready"
        assert "address already in use" in process.log_tail(200).lower()


@pytest.mark.kafka
async def test_without_retries_a_taken_port_is_a_clear_error_not_a_ready_service(
    kafka_settings: KafkaSettings, kafka_topics: TopicNames, tmp_path: Path
):
    with (
        _classifier_on_a_taken_port(kafka_settings, tmp_path) as (process, _),
        pytest.raises(RuntimeError, match=r"(?i)address already in use"),
    ):
        await asyncio.to_thread(process.wait_ready, 60, port_retries=0)
