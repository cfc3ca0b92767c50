"""What every intake adapter shares: publishing normalised messages, and the HTTP edge rules.

An intake answers its provider or customer with success only after Kafka acknowledged the event; if
Kafka does not acknowledge in time it answers 503 with ``Retry-After`` so that the provider retries.

Every message leaves with ``thread.quoted_case_references`` filled: an intake that found the
references itself (email reads subject and quoted text its own way) keeps its list; for the others
the publisher finds them in the subject and text (:func:`with_quoted_case_references`), so that a
customer quoting a case reference on any channel is attached to that case by the dispatcher.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import orjson
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from prometheus_client import Counter
from starlette.requests import ClientDisconnect

from switchboard_common.case_reference import find_case_references
from switchboard_common.events import MESSAGE_RECEIVED, OutgoingRecord, encode_event
from switchboard_common.events.envelope import new_traceparent
from switchboard_common.events.models import IntakeMessage
from switchboard_common.json_logging import Throttled
from switchboard_common.producer import EventProducer, KafkaUnavailable
from switchboard_common.topics import INTAKE_MESSAGES, TopicNames

log = logging.getLogger(__name__)

ACCEPTED = Counter("switchboard_intake_accepted_total", "Messages accepted (Kafka acknowledged).", ["channel"])
REJECTED = Counter("switchboard_intake_rejected_total", "Requests rejected, by reason.", ["channel", "reason"])
UNAVAILABLE = Counter(
    "switchboard_intake_unavailable_total",
    "Requests (and web-chat socket messages) answered 503 or unavailable because Kafka was unavailable.",
)

RETRY_AFTER_SECONDS = 2


def with_quoted_case_references(message: IntakeMessage) -> IntakeMessage:
    """The message with the case references quoted in its subject and text, unless the intake set them."""
    if message.thread.quoted_case_references:
        return message
    found = find_case_references(f"{message.subject or ''}\n{message.text.plain}")
    if not found:
        return message
    thread = message.thread.model_copy(update={"quoted_case_references": found})
    return message.model_copy(update={"thread": thread})


class IntakePublisher:
    """Publishes normalised messages to intake.messages.v1 and waits for Kafka's acknowledgement."""

    def __init__(self, producer: EventProducer, names: TopicNames, service: str) -> None:
        self._producer = producer
        self._topic = names(INTAKE_MESSAGES)
        self._service = service

    def record(self, message: IntakeMessage, traceparent: str | None = None) -> OutgoingRecord:
        message = with_quoted_case_references(message)
        return encode_event(
            MESSAGE_RECEIVED,
            topic=self._topic,
            event_id=message.event_id,
            source=f"switchboard/{self._service}/{message.channel_account}",
            key=message.conversation_id,
            data=message,
            time=message.received_at,
            traceparent=traceparent or new_traceparent(),
        )

    async def publish(self, messages: Sequence[IntakeMessage]) -> None:
        """Raises :class:`KafkaUnavailable` when Kafka did not acknowledge every message in time."""
        if not messages:
            return
        await self._producer.publish([self.record(m) for m in messages])
        for message in messages:
            ACCEPTED.labels(message.channel.value).inc()


async def read_body_limited(request: Request, limit: int) -> bytes:
    """The raw request body, or 413 as soon as it exceeds ``limit`` bytes (streamed, never buffered past it)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"request body of {declared} bytes exceeds the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise HTTPException(413, f"request body exceeds the limit of {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        # The client gave up before sending its body: nothing was stored, nobody is left to answer.
        raise HTTPException(400, "the client disconnected before sending the whole body") from None
    return b"".join(chunks)


def json_object(body: bytes, channel: str) -> dict[str, Any]:
    """The body as a JSON object; 400 (counted as ``malformed`` for ``channel``) when it is not one."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        REJECTED.labels(channel, "malformed").inc()
        raise HTTPException(400, f"not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        REJECTED.labels(channel, "malformed").inc()
        raise HTTPException(400, "the body is not a JSON object")
    return document


def install_kafka_unavailable_handler(app: FastAPI) -> None:
    """Answer 503 with Retry-After whenever a handler could not get Kafka's acknowledgement."""

    warn = Throttled(log)

    @app.exception_handler(KafkaUnavailable)
    async def _unavailable(request: Request, exc: KafkaUnavailable) -> JSONResponse:
        UNAVAILABLE.inc()
        warn.warning("answering 503: Kafka unavailable", path=request.url.path, error=str(exc)[:300])
        return JSONResponse(
            status_code=503,
            content={
                "error": "unavailable",
                "reason": "the message could not be stored; retry later",
                "retryable": True,
            },
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
