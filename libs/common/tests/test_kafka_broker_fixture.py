import pytest

from switchboard_common.topics import TopicNames
from switchboard_devenv.kafka_testing import read_topic

pytestmark = pytest.mark.kafka


async def test_topics_of_the_plan_are_created_on_the_real_broker(kafka_settings, kafka_topics: TopicNames):
    records = await read_topic(kafka_settings, kafka_topics("intake.messages.v1"), timeout=2)
    assert records == []
