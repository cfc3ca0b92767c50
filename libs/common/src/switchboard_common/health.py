"""Liveness, readiness and metrics endpoints, the same in every service.

``/healthz`` answers 200 while the process can make progress at all (its loops iterate); Kubernetes
restarts it otherwise. ``/readyz`` answers 200 only while the service can do its job now: Kafka
reachable, consumers assigned and not stuck; it names the process (``pid``), so a test harness can
tell its own child from whatever else answers on the port. ``/metrics`` is Prometheus' text format.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from switchboard_common.producer import EventProducer

log = logging.getLogger(__name__)

Check = Callable[[], bool]


class HealthChecks:
    """Named liveness and readiness checks of one service."""

    def __init__(self) -> None:
        self._liveness: dict[str, Check] = {}
        self._readiness: dict[str, Check] = {}

    def add_liveness(self, name: str, check: Check) -> None:
        self._liveness[name] = check

    def add_readiness(self, name: str, check: Check) -> None:
        self._readiness[name] = check

    @staticmethod
    def _run(checks: dict[str, Check]) -> dict[str, bool]:
        results = {}
        for name, check in checks.items():
            try:
                results[name] = bool(check())
            except Exception:
                log.exception("health check raised", extra={"check": name})
                results[name] = False
        return results

    def live(self) -> dict[str, bool]:
        return self._run(self._liveness)

    def ready(self) -> dict[str, bool]:
        return self._run(self._readiness)

    def router(self) -> APIRouter:
        router = APIRouter(tags=["operations"])

        @router.get("/healthz", summary="Liveness")
        async def healthz(response: Response) -> dict[str, object]:
            results = self.live()
            ok = all(results.values())
            response.status_code = 200 if ok else 503
            return {"status": "ok" if ok else "failing", "checks": results}

        @router.get("/readyz", summary="Readiness: Kafka reachable and consumers making progress")
        async def readyz(response: Response) -> dict[str, object]:
            results = self.ready()
            ok = all(results.values())
            response.status_code = 200 if ok else 503
            return {"status": "ready" if ok else "not ready", "checks": results, "pid": os.getpid()}

        @router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
        async def metrics() -> Response:
            return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

        return router


class KafkaProbe:
    """Asks the cluster for metadata every few seconds; ready while the last answers came in time."""

    def __init__(self, producer: EventProducer, interval_s: float = 5.0, timeout_s: float = 3.0) -> None:
        self._producer = producer
        self._interval = interval_s
        self._timeout = timeout_s
        self._last_ok: float | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="kafka-probe")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            if await self._producer.ping(self._timeout):
                self._last_ok = time.monotonic()
            await asyncio.sleep(self._interval)

    def is_ready(self) -> bool:
        now = time.monotonic()
        recent_probe = self._last_ok is not None and now - self._last_ok < self._interval * 2 + self._timeout
        failure = self._producer.last_failure
        success = self._producer.last_success
        failing_sends = failure is not None and (success is None or failure > success) and now - failure < 30
        return recent_probe and not failing_sends
