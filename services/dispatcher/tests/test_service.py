"""The deployable: entry point, HTTP app with health and metrics, consume loop in its lifespan."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from switchboard_common.events import MESSAGE_CLASSIFIED, encode_event
from switchboard_common.events.models import MessageTopic
from switchboard_common.settings import ConsumerSettings
from switchboard_devenv.kafka_testing import publish, read_topic
from switchboard_dispatcher import main as entry_point
from switchboard_dispatcher.app import create_app
from switchboard_dispatcher.settings import DispatcherSettings

PACKAGED_RULES = resources.files("switchboard_common.config").joinpath("routing.yaml").read_text("utf-8")


@pytest.fixture
def quiet_logging(monkeypatch):
    """main() configures process-wide logging; keep pytest's log capture instead."""
    monkeypatch.setattr(entry_point, "configure_logging", lambda *args, **kwargs: None)


def test_main_serves_the_app_with_the_settings_from_the_environment(monkeypatch, quiet_logging):
    served: dict[str, Any] = {}
    monkeypatch.setenv("HTTP_PORT", "9123")
    monkeypatch.setattr(entry_point, "serve", lambda app, **kwargs: served.update(app=app, **kwargs))

    entry_point.main()

    assert isinstance(served["app"], FastAPI)
    assert served["service"] == "dispatcher"
    assert served["http"].port == 9123


def test_main_exits_with_a_clear_message_when_the_rules_name_a_department_without_a_topic(
    monkeypatch, quiet_logging, tmp_path, caplog
):
    rules = tmp_path / "routing.yaml"
    rules.write_text(PACKAGED_RULES.replace("department: billing", "department: finance"), "utf-8")
    monkeypatch.setenv("DISPATCHER_ROUTING_PATH", str(rules))
    monkeypatch.setattr(entry_point, "serve", lambda app, **kwargs: pytest.fail("must not serve"))

    with caplog.at_level(logging.ERROR), pytest.raises(SystemExit) as exit_:
        entry_point.main()

    assert exit_.value.code == 2
    [line] = [r for r in caplog.records if r.name == "switchboard_dispatcher.main"]
    assert "cannot start" in line.getMessage()
    assert "finance" in line.__dict__["error"]


@pytest.mark.kafka
async def test_the_app_reports_ready_and_exposes_its_metrics_while_it_routes(
    kafka_settings, kafka_topics, make_classified
):
    settings = DispatcherSettings(
        kafka=kafka_settings, consumer=ConsumerSettings(instance_id="test-app", poll_timeout_ms=100)
    )
    app = create_app(settings)
    message = make_classified(topic=MessageTopic.ORDER, received_at=datetime.now(UTC) - timedelta(seconds=1))
    await publish(
        kafka_settings,
        [
            encode_event(
                MESSAGE_CLASSIFIED,
                topic=kafka_topics("intake.classified.v1"),
                event_id=message.event_id,
                source="test/classifier",
                key=message.message.conversation_id,
                data=message,
            )
        ],
    )

    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dispatcher") as client,
    ):
        async with asyncio.timeout(60):
            while (await client.get("/readyz")).status_code != 200:
                await asyncio.sleep(0.1)
        ready = (await client.get("/readyz")).json()
        await read_topic(kafka_settings, kafka_topics.department("orders"), count=1, timeout=60)
        metrics = (await client.get("/metrics")).text

    assert all(ready["checks"].values())
    assert ready["checks"][f"loop:{settings.group_id}"] is True
    assert 'switchboard_dispatcher_routed_total{department="orders"}' in metrics
    assert "switchboard_dispatcher_duplicates_suppressed_total" in metrics
