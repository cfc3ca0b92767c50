"""Wiring shared by every service: the HTTP app with health and metrics, and the process entry point."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import random
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import uvicorn
from aiokafka.errors import KafkaError
from fastapi import FastAPI

from switchboard_common.consume_loop import ConsumeLoop, Processor
from switchboard_common.health import HealthChecks
from switchboard_common.json_logging import configure_logging
from switchboard_common.metrics import GC_TIME
from switchboard_common.settings import ConsumerSettings, HttpSettings, KafkaSettings, ObservabilitySettings
from switchboard_common.topics import TopicNames

log = logging.getLogger(__name__)

GC_THRESHOLDS = (200_000, 20, 20)
"""The cyclic garbage collector's thresholds once a service has started (CPython's are 700, 10, 10).

Reference counting frees almost everything a message allocates; the cyclic collector only finds cycles.
With the defaults it ran a young collection every 700 allocations and, in a service holding a thousand
chat sockets or a model, full collections that walked every long-lived object. Under load the notifier
holds each message's decoded event for the seconds until it is routed, so nearly every young object is
still alive at a young collection and is walked for nothing: at 1,000 msg/s a young collection every
20,000 allocations took 16% of the notifier's CPU, every 200,000 between 1% and 7% over three runs (a
young generation then holds up to a few tens of MiB more). ``switchboard-bench pipeline`` reports each
service's collector CPU time (``switchboard_gc_seconds``); ``--service-env GC_SETTLE=false`` measures
the defaults for comparison.
"""


def settle_garbage_collector() -> None:
    """After start-up: set aside everything allocated so far and collect young objects less often.

    ``gc.freeze`` moves the objects alive after start-up (modules, the app, a loaded model) out of the
    collector's reach, so a full collection walks only what the service allocated since. ``GC_SETTLE=false``
    leaves CPython's defaults (to measure the difference). Either way the collector's time is counted.
    """
    if GC_TIME not in gc.callbacks:
        gc.callbacks.append(GC_TIME)
    if os.environ.get("GC_SETTLE", "true").strip().lower() in ("0", "false", "no"):
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class _Server(uvicorn.Server):
    async def startup(self, sockets: list[Any] | None = None) -> None:
        await super().startup(sockets=sockets)  # runs the app's lifespan start-up first
        settle_garbage_collector()


async def start_with_retry(name: str, start: Callable[[], Any], stopping: asyncio.Event) -> bool:
    """Call ``start`` until it succeeds (Kafka may come up after the service), with jittered backoff."""
    delay = 0.5
    while not stopping.is_set():
        try:
            await start()
            return True
        except (OSError, KafkaError, TimeoutError) as exc:
            log.warning("could not connect yet, retrying", extra={"component": name, "error": repr(exc)})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), random.uniform(0, delay))
            delay = min(delay * 2, 10.0)
    return False


class BackgroundStarts:
    """What a service starts in the background: each retried with :func:`start_with_retry` until it starts
    (Kafka may come up after the service), then ``then`` (start probing, start consuming), or until
    :meth:`stop`.
    """

    def __init__(self) -> None:
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, name: str, start: Callable[[], Any], then: Callable[[], object] | None = None) -> None:
        self._tasks.append(asyncio.create_task(self._start(name, start, then)))

    async def _start(self, name: str, start: Callable[[], Any], then: Callable[[], object] | None) -> None:
        if await start_with_retry(name, start, self._stopping) and then is not None:
            then()

    async def stop(self) -> None:
        """Give up on whatever has not started yet."""
        self._stopping.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()


def _alive_check(loop: ConsumeLoop) -> Callable[[], bool]:
    return lambda: loop.is_alive


def _ready_check(loop: ConsumeLoop) -> Callable[[], bool]:
    return lambda: loop.is_ready


class ConsumerRuntime:
    """Runs one or more consume loops inside a service's HTTP app lifespan and reports their health."""

    def __init__(
        self,
        *,
        service: str,
        kafka: KafkaSettings,
        consumer: ConsumerSettings,
        processors: Sequence[tuple[str, Processor]],
        health: HealthChecks,
    ) -> None:
        names = TopicNames(kafka.topic_prefix)
        self.loops = [
            ConsumeLoop(
                processor=processor,
                group_id=group_id,
                kafka=kafka,
                consumer=consumer,
                names=names,
                source=f"switchboard/{service}",
            )
            for group_id, processor in processors
        ]
        self._starts = BackgroundStarts()
        for loop in self.loops:
            health.add_liveness(f"loop:{loop.group_id}", _alive_check(loop))
            health.add_readiness(f"loop:{loop.group_id}", _ready_check(loop))

    async def start(self) -> None:
        for loop in self.loops:
            self._starts.start(loop.group_id, loop.start, then=loop.start_background)

    async def stop(self) -> None:
        await self._starts.stop()
        await asyncio.gather(*(loop.stop() for loop in self.loops), return_exceptions=True)


def consumer_app(
    *,
    title: str,
    runtime: ConsumerRuntime,
    health: HealthChecks,
    on_startup: Callable[[], Any] | None = None,
    on_shutdown: Callable[[], Any] | None = None,
) -> FastAPI:
    """An HTTP app (health, metrics) whose lifespan runs the service's consume loops."""

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if on_startup is not None:
            await on_startup()
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()
            if on_shutdown is not None:
                await on_shutdown()

    app = FastAPI(title=title, lifespan=lifespan)
    app.include_router(health.router())
    return app


def serve(
    app: FastAPI,
    *,
    service: str,
    http: HttpSettings,
    observability: ObservabilitySettings,
    ws_max_bytes: int = 1 << 20,
) -> None:
    """Run ``app`` under uvicorn (uvloop where available) with JSON logs; SIGTERM drains and exits."""
    configure_logging(service, observability.level, observability.json_format)
    config = uvicorn.Config(
        app,
        host=http.host,
        port=http.port,
        root_path=http.root_path,
        log_config=None,
        access_log=False,
        loop="auto",
        http="auto",
        ws="auto",
        ws_max_size=ws_max_bytes,
        ws_per_message_deflate=False,  # chat frames are small: compressing them cost more CPU than it saved
        timeout_graceful_shutdown=20,
        proxy_headers=True,
        forwarded_allow_ips=http.forwarded_allow_ips,
    )
    _Server(config).run()
