"""Operators replay dead letters to the topic they came from, and the pipeline takes them again."""

from __future__ import annotations

import pytest

from switchboard_common.consume_loop import dead_letter_record
from switchboard_common.events import OutgoingRecord
from switchboard_common.events.envelope import ConsumedRecord
from switchboard_common.ops_cli import main, replay_record
from switchboard_common.topics import TopicNames
from switchboard_devenv.kafka_testing import publish, read_topic

pytestmark = pytest.mark.kafka


def test_a_dead_letter_replays_as_the_original_record_with_where_it_was_replayed_from():
    names = TopicNames("p.")
    original = ConsumedRecord("p.intake.messages.v1", 2, 41, b"conv", b"{}", {"ce_id": b"e1"}, 0)
    letter = dead_letter_record(names, original, "bad", "group")
    dead = ConsumedRecord(letter.topic, 0, 7, letter.key, letter.value, dict(letter.headers), 0)
    replayed = replay_record(dead)
    assert replayed.topic == "p.intake.messages.v1"
    assert (replayed.key, replayed.value) == (b"conv", b"{}")
    headers = dict(replayed.headers)
    assert headers["ce_id"] == b"e1"
    assert headers["dlq_replayed_from"] == b"p.intake.messages.v1.dlq[0]@7"
    assert not any(k.startswith("dlq_reason") for k in headers)


async def test_the_replay_command_republishes_dead_letters_to_their_source_topic(
    kafka_settings, kafka_topics, monkeypatch, capsys
):
    source = kafka_topics("intake.messages.v1")
    letters = [
        dead_letter_record(kafka_topics, ConsumedRecord(source, 0, n, b"k", f"v{n}".encode(), {}, 0), "bad", "g")
        for n in range(3)
    ]
    await publish(kafka_settings, [OutgoingRecord(r.topic, r.key, r.value, r.headers) for r in letters])
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_settings.bootstrap_servers)
    monkeypatch.setenv("KAFKA_TOPIC_PREFIX", kafka_settings.topic_prefix)

    await _run(main, ["dlq", "list", "intake.messages.v1"])
    listed = capsys.readouterr().out.splitlines()
    await _run(main, ["dlq", "replay", "intake.messages.v1", "--offset", "1"])

    assert len(listed) == 3 and '"reason":"bad"' in listed[0]
    back = await read_topic(kafka_settings, source, count=1, settle=1)
    assert [r.value for r in back] == [b"v1"]


async def _run(command, argv):
    import asyncio

    assert await asyncio.to_thread(command, argv) == 0
