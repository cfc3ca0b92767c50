"""The notifier's metrics: every acknowledgement's outcome and latency, SLA breaches per channel; department
updates delivered, failed and suppressed; satisfaction requests and ratings."""

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
UPDATES = Counter(
    "switchboard_notifier_updates_total",
    "Department updates, replies and satisfaction requests by channel, kind and outcome (sent, failed, suppressed).",
    ["channel", "kind", "outcome"],
)
UPDATE_LATENCY = Histogram(
    "switchboard_update_delivery_seconds",
    "From a department's update (its sent_at) to its delivery to the customer.",
    ["channel"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400),
)
DUPLICATE_UPDATES = Counter(
    "switchboard_notifier_duplicate_updates_total", "Updates seen again (same update_id) and not sent again."
)
PENDING_UPDATES = Gauge("switchboard_notifier_pending_updates", "Department updates waiting for delivery.")
RATINGS = Counter(
    "switchboard_notifier_ratings_total",
    "Customers' answers to satisfaction requests by how they answered (button, link, text) and outcome "
    "(recorded, not_requested, already_answered).",
    ["via", "outcome"],
)
RATING_SCORES = Counter("switchboard_satisfaction_ratings_total", "Ratings recorded, by score.", ["score"])
