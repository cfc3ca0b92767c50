"""The services' garbage-collector settings after start-up, and the collector time they report."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator

import pytest
from prometheus_client import generate_latest

from switchboard_common.metrics import GC_TIME
from switchboard_common.service import GC_THRESHOLDS, settle_garbage_collector


@pytest.fixture
def restored_collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_after_start_up_the_objects_alive_are_set_aside_and_young_collections_come_less_often(
    restored_collector, monkeypatch
):
    monkeypatch.delenv("GC_SETTLE", raising=False)
    settle_garbage_collector()
    assert gc.get_threshold() == GC_THRESHOLDS
    assert gc.get_freeze_count() > 0


def test_gc_settle_false_keeps_cpythons_defaults_and_still_counts_collector_time(restored_collector, monkeypatch):
    monkeypatch.setenv("GC_SETTLE", "false")
    before = gc.get_threshold()
    settle_garbage_collector()
    assert gc.get_threshold() == before
    counted = GC_TIME.seconds[2]
    gc.collect()
    assert GC_TIME.seconds[2] > counted
    assert 'switchboard_gc_seconds_total{generation="2"}' in generate_latest().decode()


def test_collector_time_is_cpu_time_so_a_collection_waiting_for_the_cpu_does_not_count_the_wait():
    def descheduled(phase: str, _: dict[str, int]) -> None:
        if phase == "start":
            time.sleep(0.3)  # after GC_TIME's start: as if another process had the core meanwhile

    counted = GC_TIME.seconds[2]
    gc.callbacks.append(descheduled)
    try:
        gc.collect()
    finally:
        gc.callbacks.remove(descheduled)
    assert 0 < GC_TIME.seconds[2] - counted < 0.2
