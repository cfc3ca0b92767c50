"""Proof under failure: a stream of thousands of chat messages survives a SIGKILL of any service, with every
accepted message routed exactly once and acknowledged exactly once (the broker restart: test_broker_restart.py)."""

from __future__ import annotations

import asyncio

import pytest
from pipeline_checks import collect, texts

from switchboard_devenv.chat_client import ChatCustomers

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.faults]

MESSAGES = 1500
RATE = 100.0


@pytest.mark.parametrize("service", ["intake-chat", "classifier", "dispatcher", "notifier"])
async def test_a_service_killed_mid_stream_and_restarted_loses_and_duplicates_nothing(gateway, service):
    killed_at = MESSAGES // 4
    restarted_at = MESSAGES // 2
    restarted = None

    def chaos(index: int) -> None:
        nonlocal restarted
        if index == killed_at:
            gateway.services[service].kill()
        if index == restarted_at:
            restarted = gateway.restart(service, kill=True)

    async with ChatCustomers(gateway.chat_url) as customers:
        sent = await customers.stream(texts(MESSAGES), RATE, on_progress=chaos)
    assert restarted is not None
    await asyncio.to_thread(restarted.wait_ready, 90)

    expected = {m.event_id for m in sent}
    assert len(expected) == MESSAGES
    outcome = await collect(gateway.kafka, gateway.names, expected)
    assert outcome.problems(expected) == []
    if service == "intake-chat":
        assert any(m.retryable_errors for m in sent), "the kill should have made some customers resend"
