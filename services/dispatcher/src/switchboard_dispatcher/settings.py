"""The dispatcher's settings: environment prefix ``DISPATCHER_``; Kafka, consumer, HTTP and logging nested."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from switchboard_common.routing import Duration
from switchboard_common.settings import ConsumerServiceSettings
from switchboard_dispatcher.state import StateWindows


class DispatcherSettings(ConsumerServiceSettings):
    """Everything the dispatcher reads from its environment.

    Durations accept ``30s``, ``10m``, ``24h``, ``7d``, ISO 8601 (``PT24H``) or seconds.
    """

    model_config = SettingsConfigDict(env_prefix="DISPATCHER_", extra="ignore", env_file=".env")

    routing_path: Path | None = Field(
        default=None, description="Routing rules file (reloaded when it changes); the packaged rules when unset."
    )
    topic_plan_path: Path | None = Field(
        default=None, description="Topic plan whose departments the rules may name; the packaged plan when unset."
    )
    rules_poll_seconds: float = Field(default=5.0, gt=0, description="How often the rules file is checked.")
    dedup_window: Duration = Field(
        default=timedelta(hours=24), description="A message event id routed this recently is not routed again."
    )
    follow_up_window: Duration = Field(
        default=timedelta(days=7),
        description="A message within this time of its conversation's last activity continues the open case.",
    )
    case_memory: Duration = Field(
        default=timedelta(days=14),
        description="How long a conversation's case is remembered (a quoted reference still continues it); "
        "state rebuilds read intake.routed.v1 this far back, so keep it within that topic's retention.",
    )
    quoted_case_lookup_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="Upper bound on looking up the owner of a case quoted from another conversation; "
        "past it the batch is retried later.",
    )
    quoted_case_scan_limit: int = Field(
        default=1000,
        ge=1,
        description="Routing records read at most past the binary search when looking up a quoted case.",
    )
    rebuild_timeout_seconds: float = Field(
        default=120.0, gt=0, description="Upper bound on reading back the state of newly assigned partitions."
    )

    @model_validator(mode="after")
    def _consistent_windows(self) -> DispatcherSettings:
        self.windows()  # raises ValueError on inconsistent windows
        return self

    def windows(self) -> StateWindows:
        return StateWindows(dedup=self.dedup_window, follow_up=self.follow_up_window, case_memory=self.case_memory)

    @property
    def group_id(self) -> str:
        return f"{self.kafka.topic_prefix}switchboard-dispatcher"
