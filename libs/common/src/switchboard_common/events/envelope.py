"""CloudEvents 1.0 over Kafka, binary content mode.

The envelope travels in ``ce_*`` record headers, the data as the JSON record value, and the
conversation id (or case reference) as the record key. A W3C ``traceparent`` header carries the
trace across services.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"


class InvalidMessage(Exception):
    """A message that can never be processed: it goes to the dead-letter topic with this reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class EventSpec(Generic[M]):
    """One event family: its topic (``{department}`` placeholder allowed), CloudEvents type and model."""

    topic: str
    ce_type: str
    model: type[M]
    key: str
    description: str


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    """A record ready for the producer.

    ``partition``: the partition to write to, where it must be a given one (a record that answers a
    consumed record on the co-partitioned topic, whatever partitioner its producer used); None lets
    the key decide.
    """

    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()
    partition: int | None = None


@dataclass(slots=True)
class ConsumedRecord:
    """A record as consumed, with its position."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Mapping[str, bytes]
    timestamp_ms: int

    def header(self, name: str) -> str | None:
        raw = self.headers.get(name)
        return raw.decode("utf-8", "replace") if raw is not None else None


@dataclass(frozen=True, slots=True)
class Event(Generic[M]):
    """A decoded CloudEvent with typed data."""

    id: str
    type: str
    source: str
    time: datetime
    key: str
    data: M
    subject: str | None = None
    traceparent: str | None = None
    extensions: Mapping[str, str] = field(default_factory=dict)


def new_traceparent(parent: str | None = None) -> str:
    """A W3C traceparent: a new span in ``parent``'s trace, or a new trace."""
    trace_id = None
    if parent:
        parts = parent.split("-")
        if len(parts) == 4 and len(parts[1]) == 32:
            trace_id = parts[1]
    # Trace and span ids need to be unique, not secret: the process's PRNG, no system call per event.
    if trace_id is None:
        trace_id = f"{_random_nonzero(128):032x}"
    return f"00-{trace_id}-{_random_nonzero(64):016x}-01"


_IDS = random.Random()
"""The ids' own generator (seeded from the OS): nothing that seeds or replays the global one touches it."""


def _random_nonzero(bits: int) -> int:
    return _IDS.getrandbits(bits) or 1  # an all-zero id is invalid (W3C Trace Context)


def trace_id_of(traceparent: str | None) -> str | None:
    if not traceparent:
        return None
    parts = traceparent.split("-")
    return parts[1] if len(parts) == 4 else None


def _dumps_default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def encode_event(
    spec: EventSpec[M],
    *,
    topic: str,
    event_id: str,
    source: str,
    key: str,
    data: M,
    time: datetime | None = None,
    subject: str | None = None,
    traceparent: str | None = None,
    verbatim: Mapping[str, bytes] | None = None,
) -> OutgoingRecord:
    """Serialise ``data`` as a CloudEvent record for ``topic``.

    ``verbatim``: fields of ``data`` whose JSON is already at hand, as it was consumed and validated
    (the intake message inside a classified one): written as they are instead of serialised again.
    Each must be the JSON of a value that validates as the field, and is what readers of the field
    see; unknown keys in it pass through, as readers ignore them.
    """
    if not isinstance(data, spec.model):
        raise TypeError(f"{spec.ce_type} carries {spec.model.__name__}, not {type(data).__name__}")
    when = (time or datetime.now(UTC)).astimezone(UTC)
    headers: list[tuple[str, bytes]] = [
        ("ce_specversion", SPEC_VERSION.encode()),
        ("ce_id", event_id.encode()),
        ("ce_source", source.encode()),
        ("ce_type", spec.ce_type.encode()),
        ("ce_time", when.isoformat().replace("+00:00", "Z").encode()),
        ("content-type", CONTENT_TYPE.encode()),
        ("traceparent", new_traceparent(traceparent).encode()),
    ]
    if subject:
        headers.append(("ce_subject", subject.encode()))
    if verbatim:
        rest = data.__pydantic_serializer__.to_json(data, exclude=set(verbatim))
        given = b",".join(orjson.dumps(name) + b":" + raw for name, raw in verbatim.items())
        value = b"{" + given + (b"," + rest[1:] if len(rest) > 2 else b"}")
    else:
        value = data.__pydantic_serializer__.to_json(data)
    return OutgoingRecord(topic=topic, key=key.encode(), value=value, headers=tuple(headers))


def decode_event(record: ConsumedRecord, specs: Sequence[EventSpec[Any]]) -> Event[Any]:
    """Validate a consumed record against the specs its topic may carry; :class:`InvalidMessage` if not."""
    if record.value is None:
        raise InvalidMessage("record has no value (tombstone) where an event was expected")
    specversion = record.header("ce_specversion")
    if specversion != SPEC_VERSION:
        raise InvalidMessage(f"missing or unsupported ce_specversion header: {specversion!r}")
    ce_type = record.header("ce_type")
    spec = next((s for s in specs if s.ce_type == ce_type), None)
    if spec is None:
        expected = ", ".join(s.ce_type for s in specs)
        raise InvalidMessage(f"unexpected ce_type {ce_type!r} on {record.topic} (expected {expected})")
    ce_id = record.header("ce_id")
    source = record.header("ce_source")
    if not ce_id or not source:
        raise InvalidMessage("missing ce_id or ce_source header")
    content_type = record.header("content-type")
    if content_type is not None and not content_type.startswith(CONTENT_TYPE):
        raise InvalidMessage(f"unsupported content-type {content_type!r}")
    try:
        # Parsing and validating in one pass (pydantic's JSON parser) costs half of parsing to dicts first.
        data = spec.model.model_validate_json(record.value)
    except ValidationError as exc:
        if any(error["type"] == "json_invalid" for error in exc.errors()):
            raise InvalidMessage(f"value is not valid JSON: {exc.errors()[0]['msg']}") from None
        raise InvalidMessage(f"value does not match {spec.model.__name__}: {_summarise(exc)}") from None
    raw_time = record.header("ce_time")
    try:
        time = datetime.fromisoformat(raw_time) if raw_time else datetime.fromtimestamp(record.timestamp_ms / 1000, UTC)
    except ValueError:
        raise InvalidMessage(f"ce_time is not RFC 3339: {raw_time!r}") from None
    return Event(
        id=ce_id,
        type=spec.ce_type,
        source=source,
        time=time,
        key=record.key.decode("utf-8", "replace") if record.key else "",
        data=data,
        subject=record.header("ce_subject"),
        traceparent=record.header("traceparent"),
    )


def _summarise(exc: ValidationError, limit: int = 5) -> str:
    parts = []
    for error in exc.errors()[:limit]:
        location = ".".join(str(p) for p in error["loc"]) or "(root)"
        parts.append(f"{location}: {error['msg']}")
    more = exc.error_count() - limit
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


def dumps(value: Any) -> bytes:
    """JSON for anything the project writes outside events (DLQ metadata, CLI output)."""
    return orjson.dumps(value, default=_dumps_default)
