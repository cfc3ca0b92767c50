"""Publishing call facts to phone.callbacks.v1 (keyed by call), acknowledged by Kafka."""

from __future__ import annotations

from collections.abc import Sequence

from switchboard_common.events import encode_event
from switchboard_common.events.envelope import new_traceparent
from switchboard_common.producer import EventProducer
from switchboard_common.topics import TopicNames
from switchboard_intake_phone.facts import CALL_FACT, CallFact


class FactPublisher:
    """Raises :class:`~switchboard_common.producer.KafkaUnavailable` when Kafka did not acknowledge in time."""

    def __init__(self, producer: EventProducer, names: TopicNames, service: str) -> None:
        self._producer = producer
        self._topic = names(CALL_FACT.topic)
        self._service = service

    async def publish(self, facts: Sequence[CallFact], timeout: float | None = None) -> None:
        records = [
            encode_event(
                CALL_FACT,
                topic=self._topic,
                event_id=fact.fact_id,
                source=f"switchboard/{self._service}/{fact.provider}",
                key=fact.call_key,
                data=fact,
                time=fact.received_at,
                traceparent=new_traceparent(),
            )
            for fact in facts
        ]
        await self._producer.publish(records, timeout=timeout)
