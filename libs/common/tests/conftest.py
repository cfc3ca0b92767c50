"""Fixtures shared by libs/common's tests (the broker fixtures come from switchboard_devenv.pytest_plugin)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest


@dataclass
class ProducerStarts:
    """How often an aiokafka producer was started since the patch went in."""

    calls: int = 0


@pytest.fixture
def broker_still_loading(monkeypatch: pytest.MonkeyPatch) -> Callable[[], ProducerStarts]:
    """Call it to make the next aiokafka producer start fail as on a broker still loading its metadata.

    A restarted broker with many partitions answers metadata requests with no broker in them for some
    seconds; aiokafka 0.14's transactional start then fails an assertion ("Did we not perform bootstrap?").
    Later starts are real. Returns the count of starts since the call.
    """
    from aiokafka import AIOKafkaProducer

    def install() -> ProducerStarts:
        real_start = AIOKafkaProducer.start
        starts = ProducerStarts()

        async def start(self: AIOKafkaProducer) -> None:
            starts.calls += 1
            if starts.calls == 1:
                raise AssertionError("Did we not perform bootstrap?")
            await real_start(self)

        monkeypatch.setattr(AIOKafkaProducer, "start", start)
        return starts

    return install
