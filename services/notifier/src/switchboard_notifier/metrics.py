"""The notifier's metrics: every acknowledgement's outcome and latency, and SLA breaches per channel."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ACKS = Counter(
    "switchboard_notifier_acks_total", "Acknowledgements by channel, kind and outcome.", ["channel", "kind", "outcome"]
)
ACK_LATENCY = Histogram(
    "switchboard_ack_latency_seconds",
    "From the customer's message arriving to its acknowledgement being delivered.",
    ["channel"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 900, 3600, 14400, 86400),
)
SLA_BREACHES = Counter(
    "switchboard_ack_sla_breaches_total", "Acknowledgements later than their channel's first-response SLA.", ["channel"]
)
PENDING_ACKS = Gauge("switchboard_notifier_pending_acks", "Messages waiting for their acknowledgement.")
