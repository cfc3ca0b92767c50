"""Routing rules from a file: checked at startup, reloaded when changed, a bad file never replaces good rules."""

from __future__ import annotations

import logging
from datetime import timedelta
from importlib import resources
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from switchboard_common.routing import RoutingConfigError
from switchboard_common.settings import KafkaSettings
from switchboard_common.topics import load_topic_plan
from switchboard_dispatcher.app import build_processor, create_app
from switchboard_dispatcher.rules import ReloadOutcome, RoutingRules
from switchboard_dispatcher.settings import DispatcherSettings

PACKAGED = resources.files("switchboard_common.config").joinpath("routing.yaml").read_text("utf-8")
DEPARTMENTS = set(load_topic_plan().departments)


def rejected_count() -> float:
    return REGISTRY.get_sample_value("switchboard_dispatcher_rules_reloads_total", {"outcome": "rejected"}) or 0.0


def applied_count() -> float:
    return REGISTRY.get_sample_value("switchboard_dispatcher_rules_reloads_total", {"outcome": "applied"}) or 0.0


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "routing.yaml"
    path.write_text(PACKAGED, "utf-8")
    return path


def test_without_a_path_the_packaged_rules_are_in_force():
    rules = RoutingRules(None, known_departments=DEPARTMENTS)

    assert [r.name for r in rules.current.rules][:2] == ["customer-chose-a-team", "order"]
    assert rules.check() is ReloadOutcome.UNCHANGED


def test_startup_fails_when_the_rules_name_a_department_without_a_topic(rules_file):
    rules_file.write_text(PACKAGED.replace("department: tech_support", "department: warehouse"), "utf-8")

    with pytest.raises(RoutingConfigError, match="warehouse"):
        RoutingRules(rules_file, known_departments=DEPARTMENTS)


def test_startup_fails_when_the_topic_plan_lacks_a_department_of_the_rules(tmp_path, rules_file):
    plan = resources.files("switchboard_common.config").joinpath("topics.yaml").read_text("utf-8")
    plan_file = tmp_path / "topics.yaml"
    plan_file.write_text(plan.replace("  - marketing\n", ""), "utf-8")
    settings = DispatcherSettings(routing_path=rules_file, topic_plan_path=plan_file)

    with pytest.raises(RoutingConfigError, match="marketing"):
        create_app(settings)


def test_an_unchanged_file_is_not_reloaded(rules_file):
    rules = RoutingRules(rules_file, known_departments=DEPARTMENTS)
    before = rules.current

    assert rules.check() is ReloadOutcome.UNCHANGED
    assert rules.current is before


def test_a_changed_file_is_applied(rules_file):
    rules = RoutingRules(rules_file, known_departments=DEPARTMENTS)
    applied = applied_count()
    rules_file.write_text(PACKAGED.replace("min_confidence: 0.45", "min_confidence: 0.8"), "utf-8")

    assert rules.check() is ReloadOutcome.APPLIED
    assert rules.current.min_confidence == 0.8
    assert applied_count() == applied + 1


def test_an_invalid_file_is_rejected_with_a_log_line_and_a_metric_and_the_old_rules_stay(rules_file, caplog):
    rules = RoutingRules(rules_file, known_departments=DEPARTMENTS)
    in_force = rules.current
    rejected = rejected_count()
    rules_file.write_text("rules: [this is: not: yaml", "utf-8")

    with caplog.at_level(logging.ERROR, logger="switchboard_dispatcher.rules"):
        assert rules.check() is ReloadOutcome.REJECTED

    assert rules.current is in_force
    assert rejected_count() == rejected + 1
    assert REGISTRY.get_sample_value("switchboard_dispatcher_rules_file_valid") == 0
    [line] = [r for r in caplog.records if r.name == "switchboard_dispatcher.rules"]
    assert "previous rules stay in force" in line.getMessage()
    assert "invalid routing rules" in line.__dict__["reason"]


def test_a_rejected_file_is_reported_once_however_often_it_is_checked(rules_file):
    rules = RoutingRules(rules_file, known_departments=DEPARTMENTS)
    rejected = rejected_count()
    rules_file.write_text("version: 1\nrules: []\n", "utf-8")  # deadlines missing

    outcomes = [rules.check() for _ in range(3)]

    assert outcomes == [ReloadOutcome.REJECTED] * 3
    assert rejected_count() == rejected + 1


def test_a_file_naming_an_unknown_department_is_rejected(rules_file):
    rules = RoutingRules(rules_file, known_departments=DEPARTMENTS)
    rules_file.write_text(PACKAGED.replace("department: marketing", "department: growth_hacking"), "utf-8")

    assert rules.check() is ReloadOutcome.REJECTED
    assert "marketing" in {r.department for r in rules.current.rules}


def test_a_deleted_file_is_rejected_and_the_old_rules_stay(rules_file):
    rules = RoutingRules(rules_file, known_departments=DEPARTMENTS)
    in_force = rules.current
    rules_file.unlink()

    assert rules.check() is ReloadOutcome.REJECTED
    assert rules.current is in_force


def test_a_fixed_file_is_applied_after_a_rejected_one(rules_file):
    rules = RoutingRules(rules_file, known_departments=DEPARTMENTS)
    rules_file.write_text("not a mapping", "utf-8")
    assert rules.check() is ReloadOutcome.REJECTED
    rules_file.write_text(PACKAGED.replace("threshold: 20", "threshold: 5"), "utf-8")

    assert rules.check() is ReloadOutcome.APPLIED
    assert rules.current.incidents.threshold == 5
    assert REGISTRY.get_sample_value("switchboard_dispatcher_rules_file_valid") == 1


def test_the_file_is_checked_when_the_poll_interval_has_passed(rules_file):
    now = [0.0]
    rules = RoutingRules(rules_file, known_departments=DEPARTMENTS, poll_interval_s=5.0, clock=lambda: now[0])
    rules_file.write_text(PACKAGED.replace("min_confidence: 0.45", "min_confidence: 0.6"), "utf-8")

    now[0] = 4.0
    assert rules.poll() is ReloadOutcome.UNCHANGED
    now[0] = 5.0
    assert rules.poll() is ReloadOutcome.APPLIED
    assert rules.current.min_confidence == 0.6


def test_a_requested_check_happens_at_the_next_poll(rules_file):
    now = [0.0]
    rules = RoutingRules(rules_file, known_departments=DEPARTMENTS, poll_interval_s=60.0, clock=lambda: now[0])
    rules_file.write_text(PACKAGED.replace("min_confidence: 0.45", "min_confidence: 0.6"), "utf-8")

    rules.request_check()  # what SIGHUP does

    assert rules.poll() is ReloadOutcome.APPLIED


def test_the_processor_routes_with_the_rules_from_its_settings(rules_file):
    rules_file.write_text(PACKAGED.replace("threshold: 20", "threshold: 7"), "utf-8")
    settings = DispatcherSettings(routing_path=rules_file, kafka=KafkaSettings(topic_prefix="blue."))

    processor = build_processor(settings)

    assert processor.rules.current.incidents.threshold == 7
    assert set(processor.inputs) == {"blue.intake.classified.v1"}


def test_settings_read_durations_and_name_the_consumer_group(monkeypatch):
    monkeypatch.setenv("DISPATCHER_DEDUP_WINDOW", "12h")
    monkeypatch.setenv("DISPATCHER_FOLLOW_UP_WINDOW", "P3D")
    monkeypatch.setenv("KAFKA_TOPIC_PREFIX", "staging.")

    settings = DispatcherSettings()

    assert settings.dedup_window == timedelta(hours=12)
    assert settings.follow_up_window == timedelta(days=3)
    assert settings.group_id == "staging.switchboard-dispatcher"


def test_settings_refuse_a_case_memory_shorter_than_the_follow_up_window(monkeypatch):
    monkeypatch.setenv("DISPATCHER_FOLLOW_UP_WINDOW", "10d")
    monkeypatch.setenv("DISPATCHER_CASE_MEMORY", "7d")

    with pytest.raises(ValueError, match="case memory"):
        DispatcherSettings()
