"""Prometheus metrics shared by every service; services add their own next to these."""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

KAFKA_PRODUCED = Counter("switchboard_kafka_produced_records_total", "Records Kafka acknowledged.")
KAFKA_PRODUCE_FAILURES = Counter(
    "switchboard_kafka_produce_failures_total", "Publishes that Kafka did not acknowledge in time."
)
KAFKA_PRODUCE_SECONDS = Histogram(
    "switchboard_kafka_produce_seconds",
    "Time from send to the last acknowledgement of a publish.",
    buckets=LATENCY_BUCKETS,
)
KAFKA_PRODUCER_RECYCLES = Counter(
    "switchboard_kafka_producer_recycles_total",
    "Producers replaced after an error of their own state or repeated Kafka errors (a stuck state).",
)
KAFKA_METADATA_REFRESH_FAILURES = Counter(
    "switchboard_kafka_metadata_refresh_failures_total",
    "Producer metadata refreshes that reached no broker (each followed by a pause of 0.1 s doubling to 1 s).",
)
CONSUMED = Counter("switchboard_consumed_records_total", "Records processed by the consume loop.", ["topic"])
DEAD_LETTERED = Counter(
    "switchboard_dead_lettered_records_total", "Records sent to a dead-letter topic.", ["topic", "cause"]
)
BATCH_SECONDS = Histogram(
    "switchboard_consume_batch_seconds", "Time to process, publish and commit one batch.", buckets=LATENCY_BUCKETS
)
PROCESSING_RETRIES = Counter(
    "switchboard_processing_retries_total", "Batches retried after a transient failure.", ["cause"]
)
CONSUMER_LAG = Gauge("switchboard_consumer_lag_records", "Records behind the partition's end.", ["topic", "partition"])


class GarbageCollectorTime:
    """``switchboard_gc_seconds_total{generation}``: CPU time the cyclic garbage collector took.

    Timed by a ``gc.callbacks`` hook into plain floats (a collection may start inside any allocation, even
    one made while a metric's lock is held, so the hook takes no lock) and read out at each scrape. The
    clock is the thread's CPU time, not the wall clock: on a busy machine a collection is often
    descheduled half-way, and wall time then counted other processes' work as this collector's.
    """

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.thread_time()
        else:
            self.seconds[info["generation"]] += time.thread_time() - self._started

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "switchboard_gc_seconds", "CPU time the cyclic garbage collector took.", labels=["generation"]
        )
        for generation, seconds in enumerate(self.seconds):
            family.add_metric([str(generation)], seconds)
        yield family


GC_TIME = GarbageCollectorTime()
REGISTRY.register(GC_TIME)
