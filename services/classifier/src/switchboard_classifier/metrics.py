"""The classifier's own Prometheus metrics, next to the shared ones of the consume loop."""

from __future__ import annotations

from prometheus_client import Counter, Histogram, Info

CLASSIFIER = Info("switchboard_classifier", "The classifier this replica runs: taxonomy, model name, version, digest.")
CLASSIFIED = Counter(
    "switchboard_classifier_messages_total", "Messages classified, by type and topic.", ["type", "topic"]
)
CONFIDENCE = Histogram(
    "switchboard_classifier_confidence",
    "Confidence of each classification (the dispatcher sends those below its min_confidence to triage).",
    buckets=(0.1, 0.2, 0.3, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0),
)
