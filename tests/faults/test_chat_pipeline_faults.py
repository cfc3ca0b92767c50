"""Proof under failure: a stream of thousands of chat messages survives a SIGKILL of any service, and a
broker restart, with every accepted message routed exactly once and acknowledged exactly once."""

from __future__ import annotations

import asyncio
import time

import pytest
from pipeline_checks import collect, describe_consumers, texts

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


async def test_a_broker_restart_mid_stream_is_answered_with_retryable_errors_and_loses_nothing(gateway, kafka_broker):
    if kafka_broker is None:
        pytest.skip("KAFKA_BOOTSTRAP_SERVERS names an external cluster: this test restarts the suite's own broker")
    stopped = asyncio.Event()

    async def restart_broker() -> None:
        await asyncio.sleep(MESSAGES / RATE / 4)
        await asyncio.to_thread(kafka_broker.stop)
        stopped.set()
        await asyncio.sleep(5)
        await asyncio.to_thread(kafka_broker.start)

    async with ChatCustomers(gateway.chat_url, give_up_after=180) as customers:
        chaos = asyncio.create_task(restart_broker())
        sent = await customers.stream(texts(MESSAGES), RATE)
        await chaos
    assert stopped.is_set()
    retried = [m for m in sent if m.retryable_errors]
    assert retried, "while the broker was down, intake must have answered some requests with a retryable error"
    assert {e for m in retried for e in m.retryable_errors} <= {"503", "timeout"}

    expected = {m.event_id for m in sent}
    started = time.monotonic()
    # In the full suite the broker holds thousands of partitions: stopping and starting it takes up to a
    # minute, and for some seconds after it listens again its metadata names no broker. Twice in CI
    # simulations about a thousand acknowledged messages then stayed unrouted: once because the
    # classifier's loop had ended (its replacement producer started in that window, aiokafka raised an
    # AssertionError, now a retried connection error); the other time the logs do not say. Routing gets
    # 150 s to catch up after a long outage; a message lost or stuck still fails the test, with what each
    # consuming service reports about its loops.
    outcome = await collect(gateway.kafka, gateway.names, expected, timeout=240, outputs_timeout=150)
    problems = outcome.problems(expected)
    if problems:
        consumers = {name: gateway.url(name) for name in ("classifier", "dispatcher", "notifier")}
        pytest.fail(f"after {time.monotonic() - started:.0f}s: {problems}\n{await describe_consumers(consumers)}")
