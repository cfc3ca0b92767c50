"""The classifier's step in the consume loop: one intake message in, one classified message out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from switchboard_classifier.classifier import ClassificationInput, Classifier
from switchboard_classifier.metrics import CLASSIFIED, CLASSIFIER, CONFIDENCE
from switchboard_common.consume_loop import Processor
from switchboard_common.events import MESSAGE_CLASSIFIED, MESSAGE_RECEIVED, Event, OutgoingRecord, encode_event
from switchboard_common.events.envelope import ConsumedRecord, InvalidMessage
from switchboard_common.events.models import ClassifiedMessage, IntakeMessage, IntakePosition
from switchboard_common.identity import derived_event_id
from switchboard_common.topics import INTAKE_CLASSIFIED, INTAKE_MESSAGES, TopicNames

SOURCE = "switchboard/classifier"


class ClassifierProcessor(Processor):
    """Classifies each message of intake.messages.v1 onto intake.classified.v1. Stateless."""

    def __init__(
        self, classifier: Classifier, names: TopicNames, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.inputs = {names(INTAKE_MESSAGES): [MESSAGE_RECEIVED]}
        self._classifier = classifier
        self._output = names(INTAKE_CLASSIFIED)
        self._clock = clock or (lambda: datetime.now(UTC))
        CLASSIFIER.info({"classifier": classifier.name})

    async def process(self, event: Event[Any], record: ConsumedRecord) -> Sequence[OutgoingRecord]:
        message: IntakeMessage = event.data
        try:
            classified_id = derived_event_id(message.event_id, "classified")
        except ValueError:
            raise InvalidMessage(f"event_id {message.event_id[:100]!r} is not a UUID") from None
        classification = self._classifier.classify(ClassificationInput.from_message(message))
        CLASSIFIED.labels(classification.type.value, classification.topic.value).inc()
        CONFIDENCE.observe(classification.confidence)
        classified = ClassifiedMessage(
            event_id=classified_id,
            message=message,
            intake_position=IntakePosition(partition=record.partition, offset=record.offset),
            classification=classification,
            classified_at=self._clock(),
        )
        return [
            encode_event(
                MESSAGE_CLASSIFIED,
                topic=self._output,
                event_id=classified.event_id,
                source=SOURCE,
                key=message.conversation_id,
                data=classified,
                traceparent=event.traceparent,
                # The message as consumed (validated by decode_event): not serialised a second time.
                verbatim={"message": record.value} if record.value is not None else None,
            )
        ]
