"""The consume-loop step: one intake message in, one classified message out, with its intake position."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from switchboard_classifier.processor import ClassifierProcessor
from switchboard_common.events import MESSAGE_CLASSIFIED, MESSAGE_RECEIVED, InvalidMessage, decode_event
from switchboard_common.events.envelope import ConsumedRecord, OutgoingRecord, trace_id_of
from switchboard_common.events.models import (
    AutomatedReason,
    Language,
    MessageTopic,
    MessageType,
)
from switchboard_common.identity import derived_event_id
from switchboard_common.topics import TopicNames

NAMES = TopicNames("acme.")
CLASSIFIED_AT = datetime(2024, 11, 24, 8, 30, tzinfo=UTC)


def consumed(record: OutgoingRecord, partition: int, offset: int) -> ConsumedRecord:
    return ConsumedRecord(
        topic=record.topic,
        partition=partition,
        offset=offset,
        key=record.key,
        value=record.value,
        headers=dict(record.headers),
        timestamp_ms=0,
    )


@pytest.fixture
def processor(classifier) -> ClassifierProcessor:
    return ClassifierProcessor(classifier, NAMES, clock=lambda: CLASSIFIED_AT)


async def process(processor: ClassifierProcessor, record: ConsumedRecord) -> list[OutgoingRecord]:
    return list(await processor.process(decode_event(record, [MESSAGE_RECEIVED]), record))


def test_it_consumes_intake_messages_under_the_topic_prefix(processor):
    assert processor.inputs == {"acme.intake.messages.v1": [MESSAGE_RECEIVED]}


async def test_a_message_is_classified_by_rules_and_model_onto_intake_classified_with_its_own_intake_position(
    processor, intake_message, intake_record, model
):
    message = intake_message("wx-1", "我的快递三天了还没到，订单号 202311241234567", conversation="conv-9")
    source = intake_record(NAMES, message)

    (output,) = await process(processor, consumed(source, partition=4, offset=1234))

    assert output.topic == "acme.intake.classified.v1"
    assert output.key == b"conv-9"
    headers = dict(output.headers)
    assert headers["ce_type"] == b"switchboard.message.classified.v1"
    assert headers["ce_source"] == b"switchboard/classifier"
    assert headers["ce_id"] == derived_event_id(message.event_id, "classified").encode()
    assert trace_id_of(headers["traceparent"].decode()) == trace_id_of(dict(source.headers)["traceparent"].decode())
    classified = decode_event(consumed(output, 0, 0), [MESSAGE_CLASSIFIED]).data
    assert classified.event_id == derived_event_id(message.event_id, "classified")
    assert (classified.intake_position.partition, classified.intake_position.offset) == (4, 1234)
    assert classified.message == message
    assert classified.classified_at == CLASSIFIED_AT
    assert classified.classification.topic is MessageTopic.LOGISTICS
    assert classified.classification.entities.order_numbers == ["202311241234567"]
    assert classified.classification.model == f"rules/switchboard-default-v1+model/{model.label}"


async def test_the_message_goes_on_as_it_was_consumed_not_serialised_again(processor, intake_message, intake_record):
    message = intake_message("wx-3", "Where is my parcel?")
    source = intake_record(NAMES, message)
    # A newer intake adapter may add a field this classifier does not know: it is kept, not dropped.
    newer = orjson.loads(source.value) | {"added_by_a_newer_adapter": {"x": 1}}
    record = consumed(source, 0, 8)
    record.value = orjson.dumps(newer)

    (output,) = await process(processor, record)

    assert orjson.loads(output.value)["message"] == newer
    classified = decode_event(consumed(output, 0, 0), [MESSAGE_CLASSIFIED]).data
    assert classified.message == message
    assert classified.classification.topic is MessageTopic.LOGISTICS


async def test_the_same_message_always_gets_the_same_classified_event_id(processor, intake_message, intake_record):
    source = intake_record(NAMES, intake_message("wx-2", "退款什么时候到账？"))
    first = await process(processor, consumed(source, 0, 7))
    again = await process(processor, consumed(source, 0, 7))
    assert dict(first[0].headers)["ce_id"] == dict(again[0].headers)["ce_id"]


async def test_an_automated_message_is_non_actionable(processor, intake_message, intake_record):
    message = intake_message("mail-1", "I am out of the office until Monday", automated=AutomatedReason.AUTO_REPLY)
    (output,) = await process(processor, consumed(intake_record(NAMES, message), 0, 0))
    classification = orjson.loads(output.value)["classification"]
    assert (classification["type"], classification["confidence"]) == (MessageType.NON_ACTIONABLE.value, 1.0)


async def test_the_language_the_customer_chose_is_the_prior(processor, intake_message, intake_record):
    message = intake_message("ivr-1", "你好", chosen_language=Language.ZH_HANT)
    (output,) = await process(processor, consumed(intake_record(NAMES, message), 0, 0))
    assert orjson.loads(output.value)["classification"]["language"] == "zh-Hant"


async def test_a_message_whose_event_id_is_not_a_uuid_is_invalid(processor, intake_message, intake_record):
    message = intake_message("x", "hello").model_copy(update={"event_id": "not-a-uuid"})
    with pytest.raises(InvalidMessage, match="not a UUID"):
        await process(processor, consumed(intake_record(NAMES, message), 0, 0))
