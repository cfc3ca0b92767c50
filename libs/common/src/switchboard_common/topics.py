"""The topic plan: names, partitions, retention; and creating it on a cluster.

Topics are created by the project from this plan, never by broker auto-creation. A prefix (setting
``KAFKA_TOPIC_PREFIX``) lets several gateways or test runs share one cluster.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from pydantic import BaseModel, ConfigDict, Field, field_validator

from switchboard_common.settings import KafkaSettings

log = logging.getLogger(__name__)

INTAKE_MESSAGES = "intake.messages.v1"
INTAKE_CLASSIFIED = "intake.classified.v1"
INTAKE_ROUTED = "intake.routed.v1"
NOTIFY_ACKS = "notify.acks.v1"
CHAT_OUTBOUND = "chat.outbound.v1"
CASE_UPDATES = "case.updates.v1"
ESCALATIONS = "escalations.v1"
INCIDENTS = "incidents.v1"
NOTIFY_UPDATES = "notify.updates.v1"
CASE_SATISFACTION = "case.satisfaction.v1"
PHONE_CALLBACKS = "phone.callbacks.v1"
DLQ_SUFFIX = ".dlq"

_DEPARTMENT_NAME = re.compile(r"^[a-z][a-z0-9_]{1,48}$")


class TopicPlanError(RuntimeError):
    """The cluster refused part of the plan."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TopicOverride(_Strict):
    """Per-topic settings in the plan."""

    pipeline: bool = False
    partitions: int | None = Field(default=None, ge=1)
    retention_ms: int = Field(default=604_800_000, ge=-1)
    cleanup_policy: str = "delete"


class DepartmentTopics(_Strict):
    partitions: int = Field(default=3, ge=1)
    retention_ms: int = Field(default=2_592_000_000, ge=-1)


class DeadLetterTopics(_Strict):
    partitions: int = Field(default=1, ge=1)
    retention_ms: int = Field(default=2_592_000_000, ge=-1)
    for_topics: list[str] = Field(default_factory=list, alias="for")


class TopicPlan(_Strict):
    """The whole plan, as in ``config/topics.yaml``."""

    replication_factor: int = Field(default=1, ge=1)
    min_insync_replicas: int = Field(default=1, ge=1)
    pipeline_partitions: int = Field(default=6, ge=1, le=1024)
    departments: list[str]
    department_topic: DepartmentTopics = Field(default_factory=DepartmentTopics)
    topics: dict[str, TopicOverride]
    dead_letter: DeadLetterTopics = Field(default_factory=DeadLetterTopics)

    @field_validator("departments")
    @classmethod
    def _valid_departments(cls, value: list[str]) -> list[str]:
        for name in value:
            if not _DEPARTMENT_NAME.match(name):
                raise ValueError(f"department {name!r}: use lower-case letters, digits and underscores")
        if len(set(value)) != len(value):
            raise ValueError("departments are listed twice")
        return value


def load_topic_plan(path: Path | None = None) -> TopicPlan:
    """Read a plan file; without a path, the plan shipped with the library."""
    if path is None:
        text = resources.files("switchboard_common.config").joinpath("topics.yaml").read_text("utf-8")
    else:
        text = Path(path).read_text("utf-8")
    return TopicPlan.model_validate(yaml.safe_load(text))


@dataclass(frozen=True, slots=True)
class TopicNames:
    """Physical topic names under an optional prefix."""

    prefix: str = ""

    def __call__(self, logical: str) -> str:
        return f"{self.prefix}{logical}"

    def department(self, name: str) -> str:
        return self(f"dept.{name}.v1")

    def dead_letter(self, physical_topic: str) -> str:
        return f"{physical_topic}{DLQ_SUFFIX}"

    def logical(self, physical: str) -> str:
        return physical[len(self.prefix) :] if self.prefix and physical.startswith(self.prefix) else physical


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """A topic as it should exist on the cluster."""

    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str]


def plan_topics(plan: TopicPlan, names: TopicNames) -> list[TopicSpec]:
    """Every topic of the plan, with physical names."""
    base_config = {"min.insync.replicas": str(min(plan.min_insync_replicas, plan.replication_factor))}
    specs: list[TopicSpec] = []
    for logical, override in plan.topics.items():
        partitions = plan.pipeline_partitions if override.pipeline else (override.partitions or 1)
        specs.append(
            TopicSpec(
                names(logical),
                partitions,
                plan.replication_factor,
                base_config | {"retention.ms": str(override.retention_ms), "cleanup.policy": override.cleanup_policy},
            )
        )
    for department in plan.departments:
        specs.append(
            TopicSpec(
                names.department(department),
                plan.department_topic.partitions,
                plan.replication_factor,
                base_config | {"retention.ms": str(plan.department_topic.retention_ms)},
            )
        )
    for logical in plan.dead_letter.for_topics:
        specs.append(
            TopicSpec(
                names.dead_letter(names(logical)),
                plan.dead_letter.partitions,
                plan.replication_factor,
                base_config | {"retention.ms": str(plan.dead_letter.retention_ms)},
            )
        )
    return specs


@dataclass(slots=True)
class EnsureReport:
    created: list[str]
    partitions_raised: list[str]
    configs_updated: list[str]
    unchanged: list[str]
    warnings: list[str]


async def ensure_topics(kafka: KafkaSettings, specs: list[TopicSpec], timeout_ms: int = 30_000) -> EnsureReport:
    """Create missing topics, raise partition counts, apply configs. Idempotent."""
    report = EnsureReport([], [], [], [], [])
    admin = AIOKafkaAdminClient(client_id=f"{kafka.client_id}-topics", **kafka.client_kwargs())
    await admin.start()
    try:
        existing = await _describe_partitions(admin, [s.name for s in specs])
        missing = [s for s in specs if s.name not in existing]
        if missing:
            response = await admin.create_topics(
                [NewTopic(s.name, s.partitions, s.replication_factor, topic_configs=s.config) for s in missing],
                timeout_ms=timeout_ms,
            )
            for error in response.topic_errors:
                topic, code = error[0], error[1]
                message = error[2] if len(error) > 2 else ""
                # 36: created concurrently by another installer; the next run reconciles its settings
                if code not in (0, 36):
                    raise TopicPlanError(f"could not create {topic}: error {code} {message or ''}".strip())
            report.created.extend(s.name for s in missing)
        raise_to = {
            s.name: NewPartitions(total_count=s.partitions)
            for s in specs
            if s.name in existing and existing[s.name] < s.partitions
        }
        for s in specs:
            if s.name in existing and existing[s.name] > s.partitions:
                report.warnings.append(
                    f"{s.name} has {existing[s.name]} partitions, the plan says {s.partitions}: "
                    "partitions are never lowered"
                )
        if raise_to:
            await admin.create_partitions(raise_to, timeout_ms=timeout_ms)
            report.partitions_raised.extend(raise_to)
        present = [s for s in specs if s.name in existing]
        if present:
            await admin.alter_configs(
                [ConfigResource(ConfigResourceType.TOPIC, s.name, configs=s.config) for s in present]
            )
            report.configs_updated.extend(s.name for s in present)
        report.unchanged.extend(s.name for s in present if s.name not in raise_to)
        if missing or raise_to:
            await _wait_until_visible(admin, specs, timeout_ms / 1000)
    finally:
        await admin.close()
    return report


async def _wait_until_visible(admin: AIOKafkaAdminClient, specs: list[TopicSpec], timeout_s: float) -> None:
    """Until the cluster's metadata shows every topic with (at least) its planned partitions, so that
    whoever runs next (services after the Helm hook) finds the plan in place."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        counts = await _describe_partitions(admin, [s.name for s in specs])
        short = [s.name for s in specs if counts.get(s.name, 0) < s.partitions]
        if not short:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise TopicPlanError(f"topics not visible with their partitions after {timeout_s:.0f}s: {short[:5]}")
        await asyncio.sleep(0.3)


async def _describe_partitions(admin: AIOKafkaAdminClient, topics: list[str], attempts: int = 20) -> dict[str, int]:
    """Partition counts of the topics that exist. A topic that exists but cannot be described yet (its
    leader is still being elected right after creation) is asked about again, never taken for missing."""
    listed = set(await admin.list_topics())
    wanted = [t for t in topics if t in listed]
    counts: dict[str, int] = {}
    for _ in range(attempts):
        if not wanted:
            return counts
        described: list[dict[str, Any]] = await admin.describe_topics(wanted)
        failing = {d["topic"]: d.get("error_code") for d in described if d.get("error_code") or not d["partitions"]}
        counts |= {d["topic"]: len(d["partitions"]) for d in described if d["topic"] not in failing}
        wanted = list(failing)
        if wanted:
            await asyncio.sleep(0.5)
    raise TopicPlanError(f"could not describe existing topics: {wanted}")
