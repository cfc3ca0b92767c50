"""The chart's topics Job, run as the Job runs it, against the real broker.

The hook renders a plan from values and runs ``switchboard-topics ensure --plan FILE`` with the
Kafka settings from its environment; here the same command, plan and environment (pointed at the
test's broker and topic prefix) create the topics on a real cluster.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from switchboard_common.settings import KafkaSettings

pytestmark = pytest.mark.kafka

DEPARTMENTS = ["orders", "logistics", "after_sales", "billing", "accounts", "marketing", "product",
               "product_management", "tech_support", "triage", "supervisors", "wholesale"]  # fmt: skip


def job_container(chart: Any, values: dict[str, Any]) -> dict[str, Any]:
    manifests = chart.template("ci/minimal-values.yaml", values=values)
    container: dict[str, Any] = manifests.get("Job", "sb-switchboard-topics")["spec"]["template"]["spec"]["containers"][
        0
    ]
    container["plan"] = manifests.get("ConfigMap", "sb-switchboard-topics")["data"]["topics.yaml"]
    return container


async def run_job(container: dict[str, Any], kafka: KafkaSettings, plan_file: Path) -> str:
    """The Job's command with its plain environment, the plan at a local path and the test's broker."""
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    env |= {"KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers, "KAFKA_TOPIC_PREFIX": kafka.topic_prefix}
    command = list(container["command"])
    assert command[:2] == ["switchboard-topics", "ensure"]
    command[0] = str(Path(sys.executable).parent / "switchboard-topics")
    command[command.index("--plan") + 1] = str(plan_file)
    process = await asyncio.create_subprocess_exec(
        *command,
        env={"PATH": os.environ.get("PATH", ""), **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, output.decode()
    return output.decode()


async def partition_counts(kafka: KafkaSettings) -> dict[str, int]:
    admin = AIOKafkaAdminClient(**kafka.client_kwargs())
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(kafka.topic_prefix)]
        described = await admin.describe_topics(names)
        return {d["topic"][len(kafka.topic_prefix) :]: len(d["partitions"]) for d in described}
    finally:
        await admin.close()


async def test_the_topics_job_creates_the_plan_rendered_from_values(chart, kafka_settings, tmp_path):
    values = {"topics": {"replicationFactor": 1, "minInsyncReplicas": 1, "pipelinePartitions": 4,
                         "departments": DEPARTMENTS}}  # fmt: skip
    container = job_container(chart, values)
    plan_file = tmp_path / "topics.yaml"
    plan_file.write_text(container["plan"], "utf-8")

    first = await run_job(container, kafka_settings, plan_file)
    counts = await partition_counts(kafka_settings)

    assert counts["intake.messages.v1"] == 4
    assert counts["notify.acks.v1"] == 4
    assert counts["dept.wholesale.v1"] == 3
    assert counts["intake.messages.v1.dlq"] == 1
    assert "created: " in first
    second = await run_job(container, kafka_settings, plan_file)
    assert "0 created" in second, "a second run (the next upgrade) changes nothing"


async def test_an_upgrade_raises_the_pipeline_partitions(chart, kafka_settings, tmp_path):
    plan_file = tmp_path / "topics.yaml"
    for partitions in (2, 5):
        values = {"topics": {"replicationFactor": 1, "minInsyncReplicas": 1, "pipelinePartitions": partitions}}
        container = job_container(chart, values)
        plan_file.write_text(container["plan"], "utf-8")
        await run_job(container, kafka_settings, plan_file)

    counts = await partition_counts(kafka_settings)
    assert {counts[t] for t in ("intake.messages.v1", "intake.classified.v1", "intake.routed.v1")} == {5}
