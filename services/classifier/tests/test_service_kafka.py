"""The classifier against the real broker: intake.messages.v1 in, intake.classified.v1 out, dead letters aside."""

from __future__ import annotations

import asyncio
from importlib import resources

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from jsonschema import Draft202012Validator

from switchboard_classifier.app import create_app
from switchboard_classifier.processor import ClassifierProcessor
from switchboard_classifier.settings import ClassifierSettings
from switchboard_common.consume_loop import ConsumeLoop
from switchboard_common.events import MESSAGE_CLASSIFIED, OutgoingRecord
from switchboard_common.events.envelope import trace_id_of
from switchboard_common.events.models import AutomatedReason, Language, MessageTopic, MessageType, Priority
from switchboard_common.identity import derived_event_id
from switchboard_common.settings import ConsumerSettings, KafkaSettings
from switchboard_common.topics import TopicNames
from switchboard_devenv.kafka_testing import decode_all, publish, read_topic

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def classified_schema() -> Draft202012Validator:
    path = resources.files("switchboard_common").joinpath("schemas/json/switchboard.message.classified.v1.json")
    schema = orjson.loads(path.read_bytes())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def consumer_settings(name: str) -> ConsumerSettings:
    return ConsumerSettings(instance_id=name, poll_timeout_ms=100)


async def test_intake_messages_are_classified_in_place_and_invalid_records_are_dead_lettered(
    kafka_settings: KafkaSettings,
    kafka_topics: TopicNames,
    classifier,
    intake_message,
    intake_record,
    classified_schema,
):
    chinese = intake_message("wx-1", "快递三天了还没到，订单号 202311241234567，电话13800138000", conversation="conv-a")
    english = intake_message(
        "mail-1", "The charger caught fire!!! This is ridiculous, I want a refund", conversation="conv-b"
    )
    automated = intake_message(
        "mail-2", "Out of office until Monday", conversation="conv-a", automated=AutomatedReason.AUTO_REPLY
    )
    source = kafka_topics("intake.messages.v1")
    headers = [(k, v) for k, v in intake_record(kafka_topics, chinese).headers if k != "ce_id"]
    not_json = OutgoingRecord(source, b"conv-a", b"{not json", (*headers, ("ce_id", b"bad-1")))
    not_a_message = OutgoingRecord(source, b"conv-a", b'{"event_id": "x"}', (*headers, ("ce_id", b"bad-2")))
    inputs = [intake_record(kafka_topics, m) for m in (chinese, english, automated)]
    await publish(kafka_settings, [inputs[0], not_json, inputs[1], not_a_message, inputs[2]])

    loop = ConsumeLoop(
        processor=ClassifierProcessor(classifier, kafka_topics),
        group_id=f"{kafka_settings.topic_prefix}switchboard-classifier",
        kafka=kafka_settings,
        consumer=consumer_settings("classifier-test"),
        names=kafka_topics,
        source="switchboard/classifier",
    )
    await loop.start()
    loop.start_background()
    try:
        outputs = await read_topic(kafka_settings, kafka_topics("intake.classified.v1"), count=3, timeout=60)
        dead = await read_topic(kafka_settings, f"{source}.dlq", count=2, timeout=30)
    finally:
        await loop.stop()

    positions = {r.header("ce_id"): (r.partition, r.offset) for r in await read_topic(kafka_settings, source, count=5)}
    classified = {c.message.event_id: c for c in decode_all(outputs, MESSAGE_CLASSIFIED)}
    assert set(classified) == {chinese.event_id, english.event_id, automated.event_id}
    for message_id, item in classified.items():
        assert (item.intake_position.partition, item.intake_position.offset) == positions[message_id]
        assert item.event_id == derived_event_id(message_id, "classified")

    first = classified[chinese.event_id].classification
    assert (first.language, first.topic) == (Language.ZH_HANS, MessageTopic.LOGISTICS)
    assert first.entities.order_numbers == ["202311241234567"]
    assert first.masked_text == "快递三天了还没到，订单号 202311241234567，电话***8000"
    second = classified[english.event_id].classification
    assert (second.language, second.priority) == (Language.EN, Priority.URGENT)
    assert second.sentiment.anger
    assert classified[automated.event_id].classification.type is MessageType.NON_ACTIONABLE

    by_id = {r.header("ce_id"): r for r in outputs}
    for record in outputs:
        classified_schema.validate(orjson.loads(record.value))
    chinese_output = by_id[derived_event_id(chinese.event_id, "classified")]
    assert chinese_output.key == b"conv-a"
    assert trace_id_of(chinese_output.header("traceparent")) == trace_id_of(
        dict(inputs[0].headers)["traceparent"].decode()
    )

    dead_by_id = {r.header("ce_id"): r for r in dead}
    assert dead_by_id["bad-1"].header("dlq_reason").startswith("value is not valid JSON")
    assert dead_by_id["bad-2"].header("dlq_reason").startswith("value does not match IntakeMessage")
    for ce_id, record in dead_by_id.items():
        assert record.header("dlq_source_topic") == source
        where = (int(record.header("dlq_source_partition")), int(record.header("dlq_source_offset")))
        assert where == positions[ce_id]


async def test_the_service_app_classifies_with_the_packaged_model_reports_ready_and_commits_under_its_group(
    kafka_settings: KafkaSettings, kafka_topics: TopicNames, intake_message, intake_record, model
):
    settings = ClassifierSettings(kafka=kafka_settings, consumer=consumer_settings("classifier-app-test"))
    app = create_app(settings)
    message = intake_message("line-1", "請問我的包裹什麼時候到？", conversation="conv-z")
    await publish(kafka_settings, [intake_record(kafka_topics, message)])

    async with app.router.lifespan_context(app):
        outputs = await read_topic(kafka_settings, kafka_topics("intake.classified.v1"), count=1, timeout=60)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://classifier") as client:
            async with asyncio.timeout(30):
                while (ready := await client.get("/readyz")).status_code != 200:
                    await asyncio.sleep(0.1)
            assert ready.json()["checks"] == {f"loop:{settings.group_id}": True}
            assert (await client.get("/healthz")).status_code == 200
            metrics = (await client.get("/metrics")).text
            assert (
                f'switchboard_classifier_info{{classifier="rules/switchboard-default-v1+model/{model.label}"}}'
                in metrics
            )
            assert 'switchboard_classifier_messages_total{topic="logistics",type="inquiry"}' in metrics

    (classified,) = decode_all(outputs, MESSAGE_CLASSIFIED)
    assert classified.classification.language is Language.ZH_HANT
    assert classified.classification.model == f"rules/switchboard-default-v1+model/{model.label}"
    (source,) = await read_topic(kafka_settings, kafka_topics("intake.messages.v1"), count=1)
    committed = AIOKafkaConsumer(group_id=settings.group_id, **kafka_settings.client_kwargs())
    await committed.start()
    try:
        offset = await committed.committed(TopicPartition(source.topic, source.partition))
    finally:
        await committed.stop()
    assert offset == source.offset + 1
