"""``switchboard-ops``: look at topics, send case updates, look up a case, replay dead letters.

    switchboard-ops tail TOPIC [--from-beginning] [--follow] [--limit N]
    switchboard-ops send-update --case REF --department NAME (--status STATUS | --reply)
                    [--message TEXT] [--expected-at WHEN] [--author NAME] [--update-id ID] [--dry-run]
                                                   one CaseUpdate to case.updates.v1, keyed by the case
    switchboard-ops case REF [--since DURATION] [--json]
                                                   a case's events across topics, in time order
    switchboard-ops dlq list TOPIC                 dead letters of TOPIC (reason, source position)
    switchboard-ops dlq replay TOPIC [--offset N ...] [--dry-run]
                                                   republish dead letters to the topic they came from

Topic names are logical (``intake.messages.v1``, ``dept.logistics.v1``); ``KAFKA_TOPIC_PREFIX`` is
applied. ``tail`` and ``dlq`` print one JSON object per line. The cluster is ``KAFKA_BOOTSTRAP_SERVERS``.

``send-update`` builds the update from its flags, checks it with the event model (the reason is
printed and nothing is sent when it is invalid: a status update needs a status, a reply a message,
a delay the new expected time) and publishes it as a department would: CloudEvents headers, keyed
by the canonical case reference, acknowledged by Kafka (idempotent producer, ``acks=all``).
``--expected-at`` takes an ISO 8601 time or a duration from now (``2h``, ``3d``). Resending with the
same ``--update-id`` is delivered to the customer once.

``case`` checks the reference, reads the case's first message at the intake position the reference
encodes, then reads every record written since then (or within ``--since``, default 30 days, when
that message is no longer kept) on intake.routed.v1, the department topics, escalations.v1,
case.updates.v1, notify.acks.v1, notify.updates.v1 and case.satisfaction.v1, keeps those of the
case, and prints them in time order, contact details masked.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from switchboard_common.case_reference import InvalidCaseReference, normalise_case_reference, parse_case_reference
from switchboard_common.events import CASE_UPDATED, MESSAGE_RECEIVED, InvalidMessage, decode_event, encode_event
from switchboard_common.events.envelope import ConsumedRecord, OutgoingRecord
from switchboard_common.events.models import CaseStatus, CaseUpdate, CaseUpdateKind, IntakeMessage
from switchboard_common.partition_reader import read_partitions_since, read_record_at, to_consumed, topic_partitions
from switchboard_common.pii import mask_handle, mask_text
from switchboard_common.producer import EventProducer
from switchboard_common.routing import parse_duration
from switchboard_common.settings import KafkaSettings
from switchboard_common.topics import (
    CASE_SATISFACTION,
    CASE_UPDATES,
    ESCALATIONS,
    INTAKE_MESSAGES,
    INTAKE_ROUTED,
    NOTIFY_ACKS,
    NOTIFY_UPDATES,
    TopicNames,
)

SOURCE = "switchboard/ops"
CASE_TOPICS = (INTAKE_ROUTED, ESCALATIONS, CASE_UPDATES, NOTIFY_ACKS, NOTIFY_UPDATES, CASE_SATISFACTION)
DEFAULT_CASE_WINDOW = timedelta(days=30)
_DEPARTMENT_TOPIC = re.compile(r"^dept\.[a-z][a-z0-9_]*\.v1$")


async def read_records(
    kafka: KafkaSettings, topic: str, *, from_beginning: bool, follow: bool, idle_s: float = 2.0
) -> AsyncIterator[ConsumedRecord]:
    """Committed records of every partition of ``topic``; without ``follow``, until it has been idle for a while."""
    consumer = AIOKafkaConsumer(enable_auto_commit=False, isolation_level="read_committed", **kafka.client_kwargs())
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise SystemExit(f"topic {topic} does not exist")
        consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
        if from_beginning:
            await consumer.seek_to_beginning()
        else:
            await consumer.seek_to_end()
        idle = 0.0
        while follow or idle < idle_s:
            batch = await consumer.getmany(timeout_ms=500)
            if not any(batch.values()):
                idle += 0.5
                continue
            idle = 0.0
            for raws in batch.values():
                for raw in raws:
                    yield to_consumed(raw)
    finally:
        await consumer.stop()


def describe(record: ConsumedRecord) -> dict[str, Any]:
    """A record as one JSON-friendly object: position, key, headers, value (JSON when it is JSON)."""
    value: Any = None
    if record.value is not None:
        try:
            value = orjson.loads(record.value)
        except orjson.JSONDecodeError:
            value = record.value.decode("utf-8", "replace")
    return {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "key": record.key.decode("utf-8", "replace") if record.key else None,
        "headers": {k: v.decode("utf-8", "replace") for k, v in record.headers.items()},
        "value": value,
    }


def replay_record(dead: ConsumedRecord) -> OutgoingRecord:
    """The original record of a dead letter, to publish again to the topic it came from."""
    source = dead.header("dlq_source_topic")
    if not source:
        raise ValueError(f"{dead.topic}[{dead.partition}]@{dead.offset} has no dlq_source_topic header")
    headers = tuple((k, v) for k, v in dead.headers.items() if not k.startswith("dlq_"))
    replayed_from = f"{dead.topic}[{dead.partition}]@{dead.offset}".encode()
    return OutgoingRecord(
        topic=source, key=dead.key, value=dead.value or b"", headers=(*headers, ("dlq_replayed_from", replayed_from))
    )


async def _tail(kafka: KafkaSettings, topic: str, args: argparse.Namespace) -> int:
    count = 0
    async for record in read_records(kafka, topic, from_beginning=args.from_beginning, follow=args.follow):
        print(orjson.dumps(describe(record)).decode(), flush=True)
        count += 1
        if args.limit and count >= args.limit:
            break
    return 0


async def _dlq(kafka: KafkaSettings, names: TopicNames, args: argparse.Namespace) -> int:
    dlq_topic = names.dead_letter(names(args.topic))
    dead = [r async for r in read_records(kafka, dlq_topic, from_beginning=True, follow=False)]
    if args.dlq_command == "list":
        for record in dead:
            entry = describe(record)
            print(
                orjson.dumps(
                    {
                        "offset": record.offset,
                        "reason": record.header("dlq_reason"),
                        "source": f"{record.header('dlq_source_topic')}[{record.header('dlq_source_partition')}]"
                        f"@{record.header('dlq_source_offset')}",
                        "consumer_group": record.header("dlq_consumer_group"),
                        "failed_at": record.header("dlq_failed_at"),
                        "ce_id": record.header("ce_id"),
                        "value": entry["value"],
                    }
                ).decode()
            )
        return 0
    chosen = [r for r in dead if not args.offset or r.offset in set(args.offset)]
    records = [replay_record(r) for r in chosen]
    if args.dry_run:
        for outgoing, source in zip(records, chosen, strict=True):
            print(orjson.dumps({"would_replay": source.offset, "to": outgoing.topic}).decode())
        return 0
    producer = EventProducer(kafka, client_id=f"{kafka.client_id}-ops")
    await producer.start()
    try:
        await producer.publish(records)
    finally:
        await producer.stop()
    print(orjson.dumps({"replayed": [r.offset for r in chosen], "to": sorted({r.topic for r in records})}).decode())
    return 0


# -- send-update -------------------------------------------------------------------------------


class UsageError(ValueError):
    """The command line asks for something that cannot be done; the message says why."""


def expected_time(text: str | None, now: datetime) -> datetime | None:
    """``--expected-at``: an ISO 8601 time (UTC when it names no zone) or a duration from now."""
    if text is None:
        return None
    try:
        return now + parse_duration(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--expected-at {text!r}: use an ISO 8601 time or a duration such as 2h or 3d") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def build_update(args: argparse.Namespace, now: datetime) -> CaseUpdate:
    """The CaseUpdate the flags describe; raises :class:`UsageError` with the reason when it is invalid."""
    try:
        reference = normalise_case_reference(args.case)
    except InvalidCaseReference as exc:
        raise UsageError(f"--case: {exc}") from None
    try:
        return CaseUpdate(
            update_id=args.update_id or str(uuid.uuid4()),
            case_reference=reference,
            kind=CaseUpdateKind.REPLY if args.reply else CaseUpdateKind.STATUS,
            status=CaseStatus(args.status) if args.status else None,
            message=args.message,
            expected_at=expected_time(args.expected_at, now),
            department=args.department,
            author=args.author,
            sent_at=now,
        )
    except ValidationError as exc:
        reasons = "; ".join(str(error["msg"]).removeprefix("Value error, ") for error in exc.errors())
        raise UsageError(f"invalid case update: {reasons}") from None


def update_record(names: TopicNames, update: CaseUpdate) -> OutgoingRecord:
    """The record a department publishes for ``update``: keyed by the case reference, CloudEvents headers."""
    return encode_event(
        CASE_UPDATED,
        topic=names(CASE_UPDATES),
        event_id=update.update_id,
        source=f"{SOURCE}/{update.department}",
        key=update.case_reference,
        data=update,
        time=update.sent_at,
        subject=update.case_reference,
    )


async def _send_update(kafka: KafkaSettings, names: TopicNames, args: argparse.Namespace) -> int:
    try:
        update = build_update(args, datetime.now(UTC))
    except UsageError as exc:
        print(f"switchboard-ops send-update: {exc}", file=sys.stderr)
        return 2
    record = update_record(names, update)
    summary = {"topic": record.topic, "key": update.case_reference, "update": update.model_dump(mode="json")}
    if args.dry_run:
        print(orjson.dumps({"would_send": summary}).decode())
        return 0
    producer = EventProducer(kafka, client_id=f"{kafka.client_id}-ops")
    await producer.start()
    try:
        await producer.publish([record])
    finally:
        await producer.stop()
    print(orjson.dumps({"sent": summary}).decode())
    return 0


# -- case ----------------------------------------------------------------------------------------


async def read_one(kafka: KafkaSettings, topic: str, partition: int, offset: int) -> ConsumedRecord | None:
    """The committed record at ``offset`` of ``topic[partition]``, or None when there is none (any more)."""
    consumer = AIOKafkaConsumer(enable_auto_commit=False, isolation_level="read_committed", **kafka.client_kwargs())
    await consumer.start()
    try:
        if partition not in await topic_partitions(consumer, topic):
            return None
        async with asyncio.timeout(10):
            return (await read_record_at(consumer, TopicPartition(topic, partition), offset)).record
    finally:
        await consumer.stop()


async def case_topic_partitions(kafka: KafkaSettings, names: TopicNames) -> list[TopicPartition]:
    """Every partition of the topics that carry a case's events (the department topics the cluster has)."""
    consumer = AIOKafkaConsumer(enable_auto_commit=False, **kafka.client_kwargs())
    await consumer.start()
    try:
        topics = await consumer.topics()
        await consumer._client.force_metadata_update()
        wanted = {names(t) for t in CASE_TOPICS}
        wanted |= {t for t in topics if t.startswith(names.prefix) and _DEPARTMENT_TOPIC.match(names.logical(t))}
        found: list[TopicPartition] = []
        for topic in sorted(wanted & set(topics)):
            found.extend(TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ()))
        return found
    finally:
        await consumer.stop()


def _of_case(record: ConsumedRecord, reference: str, needle: bytes) -> dict[str, Any] | None:
    """The record's JSON value when it belongs to the case (its reference as key, subject or field)."""
    if record.value is None or needle not in record.value:
        return None
    try:
        value = orjson.loads(record.value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(value, dict):
        return None
    routing = value.get("routing")
    mentioned = (
        value.get("case_reference"),
        routing.get("case_reference") if isinstance(routing, dict) else None,
    )
    return value if reference in mentioned else None


def _quote(text: str | None, limit: int = 80) -> str:
    text = " ".join(mask_text(text or "").split())
    return f'"{text[: limit - 1]}…"' if len(text) > limit else f'"{text}"'


def summarise(logical: str, value: dict[str, Any]) -> str:
    """One line about one event of a case, contact details masked."""
    if logical == INTAKE_ROUTED:
        routing, message = value.get("routing", {}), value.get("message", {})
        department = routing.get("department") or "no team (recorded only)"
        how = f", follow-up ({routing.get('linked_by') or 'linked'})" if routing.get("is_follow_up") else ""
        text = message.get("text", {}).get("new_content")
        return (
            f"routed to {department} by rule {routing.get('rule')}{how}: {message.get('channel')} message in "
            f"conversation {mask_text(str(message.get('conversation_id')))} {_quote(text)}"
        )
    if logical == ESCALATIONS:
        return f"escalated to supervisors: {', '.join(value.get('escalation_reasons', []))}"
    if logical.startswith("dept."):
        follow = " (follow-up)" if value.get("is_follow_up") else ""
        return (
            f"case event for {value.get('department')}{follow}: {value.get('type')}/{value.get('topic')}, "
            f"{value.get('priority')} priority, due {value.get('resolution_due_at')}"
        )
    if logical == CASE_UPDATES:
        what = value.get("status") or "reply"
        expected = f", expected {value['expected_at']}" if value.get("expected_at") else ""
        said = f": {_quote(value['message'])}" if value.get("message") else ""
        return f"{value.get('department')} sent {what}{expected}{said} (update {value.get('update_id')})"
    if logical == NOTIFY_ACKS:
        reason = f" ({value['reason']})" if value.get("reason") else ""
        return (
            f"{value.get('kind')} {value.get('outcome')} on {value.get('channel')} to "
            f"{value.get('recipient_masked') or '-'}{reason}"
        )
    if logical == NOTIFY_UPDATES:
        reason = f" ({value['reason']})" if value.get("reason") else ""
        status = f" {value['status']}" if value.get("status") else ""
        return (
            f"customer notified: {value.get('kind')}{status} {value.get('outcome')} on {value.get('channel')}"
            f"{reason} (update {value.get('update_id')})"
        )
    if logical == CASE_SATISFACTION:
        return f"rated {value.get('score')}/5 by {value.get('via')} on {value.get('channel')}"
    return logical


def _moment(timestamp_ms: int) -> str:
    return datetime.fromtimestamp(timestamp_ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def case_events(
    kafka: KafkaSettings, names: TopicNames, reference: str, *, window: timedelta | None = None
) -> tuple[IntakeMessage | None, list[dict[str, Any]]]:
    """The case's first message (if still kept) and its events, in time order, each summarised and masked."""
    position = parse_case_reference(reference)
    first_record = await read_one(kafka, names(INTAKE_MESSAGES), position.partition, position.offset)
    first: IntakeMessage | None = None
    events: list[dict[str, Any]] = []
    if first_record is not None:
        try:
            first = decode_event(first_record, [MESSAGE_RECEIVED]).data
        except InvalidMessage:
            first = None
    now = datetime.now(UTC)
    if window is not None:
        since = now - window
    elif first_record is not None:
        since = datetime.fromtimestamp(first_record.timestamp_ms / 1000, UTC) - timedelta(minutes=5)
    else:
        since = now - DEFAULT_CASE_WINDOW
    if first is not None and first_record is not None:
        events.append(
            {
                "at": _moment(first_record.timestamp_ms),
                "topic": INTAKE_MESSAGES,
                "partition": first_record.partition,
                "offset": first_record.offset,
                "type": first_record.header("ce_type"),
                "summary": f"first message on {first.channel.value} from {mask_handle(first.customer.handle)} "
                f"in conversation {mask_text(first.conversation_id)}: {_quote(first.text.new_content)}",
                "_ts": first_record.timestamp_ms,
            }
        )
    needle = reference.encode()
    partitions = await case_topic_partitions(kafka, names)
    async for batch in read_partitions_since(kafka, partitions, int(since.timestamp() * 1000), timeout_s=30):
        for record in batch:
            value = _of_case(record, reference, needle)
            if value is None:
                continue
            logical = names.logical(record.topic)
            events.append(
                {
                    "at": _moment(record.timestamp_ms),
                    "topic": logical,
                    "partition": record.partition,
                    "offset": record.offset,
                    "type": record.header("ce_type"),
                    "summary": summarise(logical, value),
                    "_ts": record.timestamp_ms,
                }
            )
    events.sort(key=lambda e: (e["_ts"], e["topic"], e["offset"]))
    for event in events:
        del event["_ts"]
    return first, events


async def _case(kafka: KafkaSettings, names: TopicNames, args: argparse.Namespace) -> int:
    try:
        reference = normalise_case_reference(args.reference)
        window = parse_duration(args.since) if args.since else None
    except (InvalidCaseReference, ValueError) as exc:
        print(f"switchboard-ops case: {exc}", file=sys.stderr)
        return 2
    position = parse_case_reference(reference)
    first, events = await case_events(kafka, names, reference, window=window)
    if args.json:
        for event in events:
            print(orjson.dumps({"case_reference": reference, **event}).decode())
    else:
        origin = f"{INTAKE_MESSAGES}[{position.partition}]@{position.offset}"
        kept = "" if first is not None else " (no longer kept, or never written)"
        print(f"case {reference}: first message at {origin}{kept}; {len(events)} events")
        for event in events:
            print(f"{event['at']}  {event['topic']:<22} {event['summary']}")
    if not events:
        print(f"switchboard-ops case: no events found for {reference}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="switchboard-ops", description="Look at topics, send case updates, look up cases, replay dead letters."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    tail = sub.add_parser("tail", help="print a topic's records as JSON lines")
    tail.add_argument("topic")
    tail.add_argument("--from-beginning", action="store_true")
    tail.add_argument("--follow", action="store_true", help="keep printing new records until interrupted")
    tail.add_argument("--limit", type=int, default=0)
    dlq = sub.add_parser("dlq", help="dead letters of a topic")
    dlq_sub = dlq.add_subparsers(dest="dlq_command", required=True)
    listing = dlq_sub.add_parser("list")
    listing.add_argument("topic")
    replay = dlq_sub.add_parser("replay")
    replay.add_argument("topic")
    replay.add_argument("--offset", type=int, action="append", help="only these DLQ offsets (repeatable)")
    replay.add_argument("--dry-run", action="store_true")
    send = sub.add_parser("send-update", help="send a case update (status change or reply) to case.updates.v1")
    send.add_argument("--case", required=True, help="the case reference, as the customer got it")
    send.add_argument("--department", required=True, help="the department sending the update")
    kind = send.add_mutually_exclusive_group(required=True)
    kind.add_argument("--status", choices=[s.value for s in CaseStatus], help="a status change")
    kind.add_argument("--reply", action="store_true", help="a plain reply (needs --message)")
    send.add_argument("--message", help="text for the customer, in their language")
    send.add_argument("--expected-at", help="new expected time: ISO 8601, or a duration from now (2h, 3d)")
    send.add_argument("--author", help="who sends it (kept with the update, not shown to the customer)")
    send.add_argument("--update-id", help="the update's id (default: a new one); the same id is delivered once")
    send.add_argument("--dry-run", action="store_true", help="print the update, send nothing")
    case = sub.add_parser("case", help="a case's events across topics, in time order, contact details masked")
    case.add_argument("reference")
    case.add_argument("--since", help="look this far back (30m, 12h, 7d); default: since the case's first message")
    case.add_argument("--json", action="store_true", help="one JSON object per event")
    args = parser.parse_args(argv)
    kafka = KafkaSettings()
    names = TopicNames(kafka.topic_prefix)
    try:
        if args.command == "tail":
            return asyncio.run(_tail(kafka, names(args.topic), args))
        if args.command == "send-update":
            return asyncio.run(_send_update(kafka, names, args))
        if args.command == "case":
            return asyncio.run(_case(kafka, names, args))
        return asyncio.run(_dlq(kafka, names, args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
