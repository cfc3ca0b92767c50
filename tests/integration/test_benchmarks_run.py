"""The benchmark commands work: small runs of ``switchboard-bench`` against the test broker.

They check what the figures rest on (every message counted, routed and acknowledged, the report's
fields filled), not speed: speed is what the benchmarks print, not something a test asserts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def _bench(bootstrap: str, out: Path, *args: str) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, "-m", "switchboard_devenv.bench.cli", "--out", str(out), *args],
        env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    (report,) = out.glob(f"{args[0]}-*.json")
    result: dict[str, Any] = json.loads(report.read_text())
    return result


def test_the_websocket_pipeline_benchmark_counts_every_message_to_its_acknowledgement(kafka_bootstrap, tmp_path):
    report = _bench(
        kafka_bootstrap, tmp_path, "pipeline", "--transport", "ws", "--rate", "40", "--duration", "3",
        "--sockets", "15", "--warmup", "0",
    )  # fmt: skip
    assert report["offered"] == report["accepted"] == 120
    assert report["errors"] == {}
    assert report["not_routed"] == report["not_acknowledged"] == 0
    for name in ("intake_response", "intake_to_routed", "intake_to_ack"):
        assert report["latency"][name]["count"] == 120
        assert 0 < report["latency"][name]["p50_ms"] <= report["latency"][name]["p99_ms"]
    processes = {"intake-chat", "classifier", "dispatcher", "notifier", "load-generator"}
    assert processes <= set(report["cpu_ms_per_message"])
    assert all(report["rss_mib_peak"][name] > 0 for name in processes)
    assert set(report["gc_seconds"]) == processes - {"load-generator"}
    assert all(speed > 0 for speed in report["machine"]["reference_speed"].values())


def test_the_http_pipeline_benchmark_counts_acknowledgements_from_kafka(kafka_bootstrap, tmp_path):
    report = _bench(
        kafka_bootstrap, tmp_path, "pipeline", "--transport", "http", "--rate", "40", "--duration", "2",
        "--warmup", "0",
    )  # fmt: skip
    assert report["offered"] == report["accepted"] == 80
    assert report["not_routed"] == report["not_acknowledged"] == 0


def test_repeated_windows_each_count_every_message_and_report_their_spread(kafka_bootstrap, tmp_path):
    report = _bench(
        kafka_bootstrap, tmp_path, "pipeline", "--transport", "ws", "--rate", "40", "--duration", "2",
        "--sockets", "10", "--warmup", "0", "--repeat", "2",
    )  # fmt: skip
    windows = report["repeats"]
    assert len(windows) == 2
    for window in windows:
        assert window["offered"] == window["accepted"] == 80
        assert window["not_routed"] == window["not_acknowledged"] == 0
        assert all(speed > 0 for speed in window["reference_speed"].values())
    ack_p99s = sorted(window["latency"]["intake_to_ack"]["p99_ms"] for window in windows)
    assert report["latency"]["intake_to_ack"]["p99_ms"] == ack_p99s[0]  # the lower median of two
    for name, (low, median, high) in report["p99_spread_ms"].items():
        assert low <= median <= high
        assert {low, high} == {window["latency"][name]["p99_ms"] for window in windows}


def test_the_consumer_benchmark_drains_every_input_through_each_service_and_the_passthrough(kafka_bootstrap, tmp_path):
    report = _bench(kafka_bootstrap, tmp_path, "consumers", "--messages", "300")
    assert set(report["consumers"]) == {"classifier", "dispatcher", "notifier"}
    for name, figures in report["consumers"].items():
        assert figures["service"]["records"] == 300, name
        # the notifier's baseline copies both of its inputs: two records per message
        assert figures["passthrough"]["records"] == (600 if name == "notifier" else 300), name
        assert figures["ratio"] is not None and figures["ratio"] > 0


def test_replicas_share_the_consumer_benchmark_and_still_count_every_input_once(kafka_bootstrap, tmp_path):
    report = _bench(
        kafka_bootstrap, tmp_path, "consumers", "--messages", "300", "--replicas", "2", "--service", "dispatcher",
        "--service", "notifier",
    )  # fmt: skip
    assert report["replicas"] == 2
    assert set(report["consumers"]) == {"dispatcher", "notifier"}
    for name, figures in report["consumers"].items():
        assert figures["service"]["replicas"] == figures["passthrough"]["replicas"] == 2
        assert figures["service"]["records"] == 300, name
        assert figures["passthrough"]["records"] == (600 if name == "notifier" else 300), name
        assert figures["ratio"] is not None and figures["ratio"] > 0
