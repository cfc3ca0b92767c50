"""switchboard-classify as a user runs it: JSON lines in, JSON lines out, configured like the service."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
import yaml

from switchboard_common.routing import load_routing_config

SCRIPT = Path(sys.executable).parent / "switchboard-classify"
PACKAGED_TAXONOMY = Path(__file__).resolve().parents[1] / "src" / "switchboard_classifier" / "config" / "taxonomy.yaml"


def run_cli(tmp_path: Path, lines: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    assert SCRIPT.exists(), f"{SCRIPT} is not installed (uv sync --all-packages)"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CLASSIFIER_")} | (env or {})
    return subprocess.run(
        [str(SCRIPT)],
        input="".join(f"{line}\n" for line in lines),
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=environment,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


def outputs(result: subprocess.CompletedProcess[str]) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_each_line_is_classified_and_a_malformed_line_reports_an_error_without_stopping(tmp_path):
    result = run_cli(
        tmp_path,
        [
            json.dumps({"text": "我的快递三天了还没到，电话13800138000", "channel": "webchat"}, ensure_ascii=False),
            "{this is not json",
            json.dumps({"text": "I want to return these shoes for a refund", "channel": "email", "subject": "Return"}),
        ],
    )
    chinese, malformed, english = outputs(result)

    assert chinese["line"] == 1
    assert (chinese["language"], chinese["topic"], chinese["department"]) == ("zh-Hans", "logistics", "logistics")
    assert chinese["masked_text"] == "我的快递三天了还没到，电话***8000"
    assert chinese["entities"]["phone_numbers"] == ["13800138000"]
    assert {"type", "priority", "confidence", "sentiment", "evidence"} <= chinese.keys()

    assert malformed["line"] == 2
    assert malformed["error"].startswith("not valid JSON")
    assert "type" not in malformed

    assert english["line"] == 3
    assert (english["language"], english["topic"], english["department"]) == ("en", "after_sales", "after_sales")
    assert english["masked_subject"] == "Return"

    assert result.returncode == 1
    assert "1 line(s) could not be classified" in result.stderr


def test_a_line_missing_a_field_is_an_error_that_names_the_field(tmp_path):
    result = run_cli(tmp_path, [json.dumps({"text": "hello"})])
    (output,) = outputs(result)
    assert "channel" in output["error"]
    assert result.returncode == 1


def test_all_lines_classified_exits_zero(tmp_path):
    result = run_cli(
        tmp_path, [json.dumps({"text": "請問我的包裹什麼時候到？", "channel": "line"}, ensure_ascii=False)]
    )
    (output,) = outputs(result)
    assert output["language"] == "zh-Hant"
    assert result.returncode == 0


def test_a_non_actionable_message_has_no_department(tmp_path):
    result = run_cli(tmp_path, [json.dumps({"text": "Out of office: I am currently away", "channel": "email"})])
    (output,) = outputs(result)
    assert output["type"] == "non_actionable"
    assert output["department"] is None


def test_the_taxonomy_setting_of_the_service_applies(tmp_path):
    document = yaml.safe_load(PACKAGED_TAXONOMY.read_text("utf-8"))
    document["topics"]["promotion"].append({"name": "lucky-bag", "zh-Hans": ["福袋"], "weight": 3.0})
    custom = tmp_path / "taxonomy.yaml"
    custom.write_text(yaml.safe_dump(document, allow_unicode=True), "utf-8")
    line = json.dumps({"text": "福袋里有什么", "channel": "wechat"}, ensure_ascii=False)

    packaged = outputs(run_cli(tmp_path, [line]))[0]
    configured = outputs(run_cli(tmp_path, [line], {"CLASSIFIER_TAXONOMY_PATH": str(custom)}))[0]
    assert packaged["topic"] != "promotion"
    assert (configured["topic"], configured["department"]) == ("promotion", "marketing")


def test_the_routing_setting_decides_the_department(tmp_path):
    packaged = resources.files("switchboard_common.config").joinpath("routing.yaml").read_text("utf-8")
    rule = "when: {topic: [logistics]}\n    department: logistics"
    assert rule in packaged
    routing = tmp_path / "routing.yaml"
    routing.write_text(packaged.replace(rule, "when: {topic: [logistics]}\n    department: orders"), "utf-8")
    assert load_routing_config(routing).rules
    line = json.dumps({"text": "快递三天了还没到，物流信息一直没有更新", "channel": "webchat"}, ensure_ascii=False)
    (output,) = outputs(run_cli(tmp_path, [line], {"CLASSIFIER_ROUTING_PATH": str(routing)}))
    assert output["department"] == "orders"


@pytest.mark.parametrize("setting", ["CLASSIFIER_TAXONOMY_PATH", "CLASSIFIER_ROUTING_PATH"])
def test_an_invalid_configuration_stops_with_the_reason(tmp_path, setting):
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules: [unclosed\n", "utf-8")
    result = run_cli(tmp_path, [json.dumps({"text": "hi", "channel": "sms"})], {setting: str(broken)})
    assert result.returncode == 2
    assert str(broken) in result.stderr
    assert result.stdout == ""
