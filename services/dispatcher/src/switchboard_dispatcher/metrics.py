"""The dispatcher's own Prometheus metrics, next to the shared ones of the consume loop."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ROUTED = Counter(
    "switchboard_dispatcher_routed_total", "Messages routed to a department (follow-ups included).", ["department"]
)
RECORDED_ONLY = Counter(
    "switchboard_dispatcher_recorded_only_total", "Non-actionable messages recorded and not routed to a department."
)
FOLLOW_UPS = Counter("switchboard_dispatcher_follow_ups_total", "Messages that continued an open case.")
ESCALATIONS_BY_REASON = Counter(
    "switchboard_dispatcher_escalations_total", "Escalations to supervisors, by reason.", ["reason"]
)
DUPLICATES_SUPPRESSED = Counter(
    "switchboard_dispatcher_duplicates_suppressed_total",
    "Messages not routed again: their event id was already routed.",
)
INCIDENTS_RAISED = Counter(
    "switchboard_dispatcher_incidents_total", "Incidents raised for complaint surges.", ["topic"]
)
RULES_RELOADS = Counter(
    "switchboard_dispatcher_rules_reloads_total",
    "Changed routing rules files: applied, or rejected (the previous rules stay in force).",
    ["outcome"],
)
RULES_VALID = Gauge(
    "switchboard_dispatcher_rules_file_valid",
    "1 while the rules file on disk is the one in force, 0 while a rejected file waits to be fixed.",
)
STATE_REBUILD_SECONDS = Histogram(
    "switchboard_dispatcher_state_rebuild_seconds",
    "Time to rebuild the state of newly assigned partitions from intake.routed.v1.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
STATE_REBUILD_FAILURES = Counter(
    "switchboard_dispatcher_state_rebuild_failures_total", "State rebuilds that failed (retried with the next batch)."
)
QUOTED_REFERENCES = Counter(
    "switchboard_dispatcher_quoted_references_total",
    "Case references quoted from outside their conversation, by what the look-up found: owner_found, "
    "owner_cached, owner_not_found (kept, routed by the rules), unknown (ignored), lookup_failed (retried).",
    ["outcome"],
)
CASE_LOOKUP_SECONDS = Histogram(
    "switchboard_dispatcher_case_lookup_seconds",
    "Time to look up a quoted case's owner in intake.messages.v1 and intake.routed.v1.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
