"""Prometheus metrics shared by every service; services add their own next to these."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
    "switchboard_kafka_producer_recycles_total", "Producers replaced after repeated Kafka errors (a stuck state)."
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
