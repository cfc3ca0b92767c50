"""Operators replay dead letters to the topic they came from, and the pipeline takes them again."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from switchboard_common.case_reference import IntakePosition as Position
from switchboard_common.case_reference import case_reference
from switchboard_common.consume_loop import dead_letter_record
from switchboard_common.events import CASE_UPDATED, MESSAGE_RECEIVED, OutgoingRecord, encode_event
from switchboard_common.events.envelope import ConsumedRecord
from switchboard_common.events.models import CaseStatus, CaseUpdateKind, IntakeMessage
from switchboard_common.ops_cli import main, replay_record
from switchboard_common.schema_catalog import schema_root
from switchboard_common.topics import TopicNames
from switchboard_devenv.kafka_testing import decode_all, publish, read_topic

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


# -- send-update ---------------------------------------------------------------------------------


def use_cluster(monkeypatch, kafka_settings) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_settings.bootstrap_servers)
    monkeypatch.setenv("KAFKA_TOPIC_PREFIX", kafka_settings.topic_prefix)


async def _exit_code(argv) -> int:
    import asyncio

    return await asyncio.to_thread(main, argv)


REFERENCE = case_reference(Position(1, 42))


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["--status", "delayed", "--message", "Sorry"], "a delay needs the new expected time (expected_at)"),
        (["--reply"], "a reply needs a message"),
        (["--reply", "--message", "   "], "a reply needs a message"),
        (["--status", "accepted", "--expected-at", "next tuesday"], "--expected-at 'next tuesday'"),
    ],
)
async def test_an_invalid_update_is_refused_with_the_reason_and_nothing_is_sent(
    kafka_settings, kafka_topics, monkeypatch, capsys, argv, reason
):
    use_cluster(monkeypatch, kafka_settings)
    code = await _exit_code(["send-update", "--case", REFERENCE, "--department", "logistics", *argv])

    assert code == 2
    assert reason in capsys.readouterr().err
    assert await read_topic(kafka_settings, kafka_topics("case.updates.v1"), timeout=2) == []


async def test_a_mistyped_case_reference_is_refused_by_its_check_symbol(monkeypatch, capsys):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9")  # never reached
    mistyped = REFERENCE[:-1] + ("0" if REFERENCE[-1] != "0" else "1")
    code = await _exit_code(["send-update", "--case", mistyped, "--department", "logistics", "--status", "accepted"])

    assert code == 2
    assert "check symbol" in capsys.readouterr().err


async def test_an_update_is_published_keyed_by_its_case_with_cloudevents_headers(
    kafka_settings, kafka_topics, monkeypatch, capsys
):
    use_cluster(monkeypatch, kafka_settings)
    typed = REFERENCE.lower().replace("-", " ")  # as someone might paste it
    before = datetime.now(UTC)
    delay = ["--status", "delayed", "--expected-at", "2h", "--message", "The courier is late.", "--update-id", "u-1"]
    assert await _exit_code(["send-update", "--case", typed, "--department", "logistics", *delay]) == 0
    assert (
        await _exit_code(
            ["send-update", "--case", REFERENCE, "--department", "logistics", "--reply", "--message", "Found it!"]
        )
        == 0
    )
    printed = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]

    records = await read_topic(kafka_settings, kafka_topics("case.updates.v1"), count=2, timeout=20)
    assert len(records) == 2
    assert {r.key for r in records} == {REFERENCE.encode()}
    assert len({r.partition for r in records}) == 1  # one case, one partition: in order
    updates = decode_all(records, CASE_UPDATED)
    delayed, reply = updates
    assert (delayed.update_id, delayed.case_reference, delayed.status) == ("u-1", REFERENCE, CaseStatus.DELAYED)
    assert delayed.expected_at is not None
    assert timedelta(hours=2) <= delayed.expected_at - before < timedelta(hours=2, minutes=1)
    assert (reply.kind, reply.message, reply.status) == (CaseUpdateKind.REPLY, "Found it!", None)
    headers = records[0].headers
    assert headers["ce_type"] == b"switchboard.case.updated.v1"
    assert headers["ce_id"] == b"u-1"
    assert headers["ce_subject"] == REFERENCE.encode()
    assert headers["ce_specversion"] == b"1.0"
    assert [p["sent"]["key"] for p in printed] == [REFERENCE, REFERENCE]


# -- case ----------------------------------------------------------------------------------------


def example(ce_type: str, name: str) -> dict:
    return orjson.loads((schema_root() / "examples" / ce_type / name).read_bytes())


def raw_record(topic: str, key: str, ce_type: str, value: dict) -> OutgoingRecord:
    headers = (("ce_type", ce_type.encode()), ("ce_id", str(uuid.uuid4()).encode()))
    return OutgoingRecord(topic=topic, key=key.encode(), value=orjson.dumps(value), headers=headers)


async def test_the_case_command_prints_a_cases_events_across_topics_in_time_order_with_contacts_masked(
    kafka_settings, kafka_topics, monkeypatch, capsys
):
    names = kafka_topics
    use_cluster(monkeypatch, kafka_settings)
    phone, email = "+86 138 0013 8000", "li.wei@example.com"
    text = f"我的快递还没到，请打 {phone} 或发邮件到 {email}"
    first = IntakeMessage.model_validate(
        example("switchboard.message.received.v1", "webchat-zh-hans.json")
        | {"event_id": str(uuid.uuid4()), "text": {"original": text, "plain": text, "new_content": text}}
    )
    first = first.model_copy(update={"customer": first.customer.model_copy(update={"handle": email})})
    await publish(
        kafka_settings,
        [
            encode_event(
                MESSAGE_RECEIVED,
                topic=names("intake.messages.v1"),
                event_id=first.event_id,
                source="test",
                key=first.conversation_id,
                data=first,
            )
        ],
    )
    [stored] = await read_topic(kafka_settings, names("intake.messages.v1"), count=1)
    reference = case_reference(Position(stored.partition, stored.offset))
    other = case_reference(Position(5, 999))

    routed = example("switchboard.message.routed.v1", "webchat-to-logistics.json")
    routed["message"] = orjson.loads(first.model_dump_json())
    routed["routing"]["case_reference"] = reference
    other_routed = orjson.loads(orjson.dumps(routed))
    other_routed["routing"]["case_reference"] = other
    department = example("switchboard.case.routed.v1", "logistics-webchat.json") | {"case_reference": reference}
    notified = example("switchboard.case.notified.v1", "resolved-update-sent.json") | {"case_reference": reference}
    rated = example("switchboard.case.satisfaction.v1", "button-5.json") | {"case_reference": reference}
    conversation = first.conversation_id
    steps = [
        [raw_record(names("intake.routed.v1"), conversation, "switchboard.message.routed.v1", routed)],
        [raw_record(names("intake.routed.v1"), "someone-else", "switchboard.message.routed.v1", other_routed)],
        [raw_record(names.department("logistics"), conversation, "switchboard.case.routed.v1", department)],
    ]
    for records in steps:
        await publish(kafka_settings, records)
        await asyncio.sleep(0.02)  # distinct record times, so that the order printed is the order written
    resolved = ["--status", "resolved", "--message", f"Delivered; call {phone} if not."]
    assert await _exit_code(["send-update", "--case", reference, "--department", "logistics", *resolved]) == 0
    await asyncio.sleep(0.02)
    await publish(
        kafka_settings, [raw_record(names("notify.updates.v1"), reference, "switchboard.case.notified.v1", notified)]
    )
    await asyncio.sleep(0.02)
    await publish(
        kafka_settings,
        [raw_record(names("case.satisfaction.v1"), reference, "switchboard.case.satisfaction.v1", rated)],
    )
    capsys.readouterr()

    assert await _exit_code(["case", reference.lower(), "--json"]) == 0
    out = capsys.readouterr().out
    events = [orjson.loads(line) for line in out.splitlines()]

    assert [e["topic"] for e in events] == [
        "intake.messages.v1",
        "intake.routed.v1",
        "dept.logistics.v1",
        "case.updates.v1",
        "notify.updates.v1",
        "case.satisfaction.v1",
    ]
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)
    assert {e["case_reference"] for e in events} == {reference}
    assert "routed to logistics" in events[1]["summary"]
    assert "logistics sent resolved" in events[3]["summary"]
    assert "rated 5/5 by button" in events[5]["summary"]
    assert phone not in out and "13800138000" not in out and email not in out
    assert "***8000" in out and "l***@example.com" in out

    assert await _exit_code(["case", reference]) == 0
    text_out = capsys.readouterr().out
    assert text_out.startswith(f"case {reference}: first message at intake.messages.v1[{stored.partition}]")
    assert len(text_out.splitlines()) == 1 + len(events)


async def test_the_case_command_refuses_a_mistyped_reference_and_reports_a_case_without_events(
    kafka_settings, kafka_topics, monkeypatch, capsys
):
    use_cluster(monkeypatch, kafka_settings)
    mistyped = REFERENCE[:-1] + ("0" if REFERENCE[-1] != "0" else "1")
    assert await _exit_code(["case", mistyped]) == 2
    assert "check symbol" in capsys.readouterr().err

    assert await _exit_code(["case", REFERENCE, "--since", "1h"]) == 1
    captured = capsys.readouterr()
    assert "no longer kept, or never written" in captured.out
    assert "no events found" in captured.err
