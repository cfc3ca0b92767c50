"""``switchboard-topics``: apply the topic plan to a cluster, or print it.

switchboard-topics ensure [--plan FILE]     create/raise/configure topics (idempotent)
switchboard-topics show   [--plan FILE]     print the topics the plan describes
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from switchboard_common.settings import KafkaSettings
from switchboard_common.topics import TopicNames, ensure_topics, load_topic_plan, plan_topics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="switchboard-topics", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["ensure", "show"])
    parser.add_argument("--plan", type=Path, default=None, help="topic plan YAML (default: the packaged plan)")
    args = parser.parse_args(argv)
    kafka = KafkaSettings()
    specs = plan_topics(load_topic_plan(args.plan), TopicNames(kafka.topic_prefix))
    if args.command == "show":
        for spec in specs:
            config = " ".join(f"{k}={v}" for k, v in sorted(spec.config.items()))
            print(f"{spec.name}\tpartitions={spec.partitions}\treplication={spec.replication_factor}\t{config}")
        return 0
    report = asyncio.run(ensure_topics(kafka, specs))
    for label, items in (("created", report.created), ("partitions raised", report.partitions_raised)):
        for name in items:
            print(f"{label}: {name}")
    print(f"{len(specs)} topics in plan; {len(report.created)} created, {len(report.unchanged)} already present")
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
