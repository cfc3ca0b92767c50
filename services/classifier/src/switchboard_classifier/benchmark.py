"""``switchboard-classifier-bench``: how fast the classifier is, on its hot path and end to end.

    switchboard-classifier-bench [--seconds 5] [--corpus BITEXT_CSV]      # the hot path, one core
    switchboard-classifier-bench --e2e [--messages 20000] [--partitions 3]  # topic to topic, real broker

The hot path is ``Classifier.classify`` for one message, for the rules alone and for the rules with
the model (the service's classifier). Its rate is messages per second of *CPU time* of this process
(``time.process_time``), that is per core, so that other work on the machine does not count against
it. The built-in mix is short chat lines and longer emails in simplified Chinese, traditional Chinese
and English, with order numbers, amounts and contact details; ``--corpus`` adds the English requests
of a CSV file with an ``instruction`` column (the Bitext customer-support sample).

``--e2e`` measures the service as deployed: a real Kafka broker (``KAFKA_BOOTSTRAP_SERVERS``, or a
local one started for the run), ``intake.messages.v1`` filled beforehand with N messages, then the
service's processor in the real consume loop (exactly-once transactions as configured) until its
committed offsets reach the end of the input; messages per second is N over that time (wall clock).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from switchboard_classifier.classifier import ClassificationInput, Classifier, load_classifier
from switchboard_classifier.settings import SERVICE, ClassifierSettings
from switchboard_common.events.models import Channel

MIX = [
    "在吗？我的订单号 202311241234567 三天了还没发货，能帮我催一下吗？急用",
    "請問我的包裹什麼時候會到？訂單編號 TW20231124001，運單號 SF1234567890123",
    "Hi, my order #A123-4567 hasn't arrived yet and the tracking page shows no updates. Can you check?",
    "你们这个垃圾产品，充电的时候冒烟了！！！气死我了，我要投诉，电话 13800138000",
    "I was charged twice for the same order ($45.99 each). Please refund the duplicate charge ASAP.",
    "建议你们的App增加夜间模式，晚上看着太刺眼了",
    "It would be great if you offered gift wrapping at checkout. Just a suggestion, thanks!",
    "收到的鞋子尺码不对，想换大一码，请问怎么退换货？运费谁出？",
    "我的帳號被盜了，有人用我的信用卡買了 NT$1,500 的東西，請立刻幫我凍結帳號！",
    "Our store is down since this morning, the POS cannot take orders and we are losing sales. Urgent!",
    "谢谢！",
    "Out of office: I am currently away until Monday and will reply when I return.",
    "优惠券结算时用不了，满减活动也没有生效，能补给我吗？",
    "Hello,\n\nI bought a blender from your shop last week (order number 88812345) and it stopped working "
    "after two days. It won't turn on at all. I would like a replacement or a refund of ¥1,299.00.\n\n"
    "You can reach me at jane.doe@example.com or +1 (415) 555-0100.\n\nBest regards,\nJane",
    "忘记密码了，手机也收不到验证码，登录不了，怎么办",
    "Could you tell me the dimensions of this desk and what material the top is made of?",
]


def hot_path_rate(classifier: Classifier, texts: Sequence[str], seconds: float) -> tuple[float, int]:
    """Messages per CPU second of ``classifier.classify`` over ``texts`` (repeated), and how many were classified."""
    items = [ClassificationInput(text=t, channel=Channel.WEBCHAT) for t in texts]
    for item in items:  # warm up (caches, first-call costs)
        classifier.classify(item)
    count, started = 0, time.process_time()
    while time.process_time() - started < seconds:
        for item in items:
            classifier.classify(item)
        count += len(items)
    return count / (time.process_time() - started), count


def _texts(corpus: Path | None, at_least: int = 8192) -> list[str]:
    """The mix (and the corpus), each text made unique by a number, cycled to ``at_least`` texts.

    The classifier remembers its decisions for the most recent texts; with every text new it never
    answers from that memory, so the figures are those of messages it has not seen before.
    """
    texts = list(MIX)
    if corpus is not None:
        with corpus.open(encoding="utf-8", newline="") as handle:
            texts += [row["instruction"] for row in csv.DictReader(handle)]
    count = max(at_least, len(texts))
    return [f"{texts[n % len(texts)]} [{n}]" for n in range(count)]


def run_hot_path(args: argparse.Namespace, settings: ClassifierSettings) -> None:
    texts = _texts(args.corpus)
    average = sum(len(t) for t in texts) / len(texts)
    print(
        f"hot path: Classifier.classify, one message at a time; {len(texts)} distinct texts (none repeated "
        f"within the classifier's memory), {average:.0f} chars avg"
    )
    for label, use_model in (("rules alone", False), ("rules + model (the service)", True)):
        classifier = load_classifier(settings.taxonomy_path, settings.model_path, use_model=use_model)
        rate, count = hot_path_rate(classifier, texts, args.seconds)
        print(f"  {label:<30}{rate:>9,.0f} messages/s per core  ({count:,} messages, {classifier.name})")


async def run_end_to_end(args: argparse.Namespace, settings: ClassifierSettings) -> None:
    # Development tooling, imported only here: the broker runner and the topic helpers.
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from switchboard_classifier.processor import SOURCE, ClassifierProcessor
    from switchboard_common.consume_loop import ConsumeLoop
    from switchboard_common.events import MESSAGE_RECEIVED, encode_event
    from switchboard_common.events.models import CustomerIdentity, IntakeMessage, MessageText, ReplyTarget
    from switchboard_common.identity import customer_key, event_id
    from switchboard_common.producer import EventProducer
    from switchboard_common.settings import ConsumerSettings, KafkaSettings
    from switchboard_common.topics import INTAKE_CLASSIFIED, INTAKE_MESSAGES

    try:
        from switchboard_devenv.kafka_broker import KafkaBroker
        from switchboard_devenv.kafka_testing import create_plan_topics
    except ImportError:  # pragma: no cover - the workspace installs it
        sys.exit("switchboard-classifier-bench --e2e needs the development tools (uv sync --all-packages)")

    broker = None
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        print("starting a local Kafka broker ...", flush=True)
        broker = KafkaBroker()
        broker.start()
        bootstrap = broker.bootstrap_servers
    try:
        kafka = KafkaSettings(
            bootstrap_servers=bootstrap, topic_prefix=f"bench{uuid.uuid4().hex[:8]}.", send_timeout_s=30.0
        )
        names = await create_plan_topics(kafka, pipeline_partitions=args.partitions)
        source, output = names(INTAKE_MESSAGES), names(INTAKE_CLASSIFIED)
        texts = _texts(args.corpus, at_least=args.messages)
        now = datetime.now(UTC)
        records = []
        for number in range(args.messages):
            text = texts[number % len(texts)]
            conversation = f"bench-conversation-{number % 1000}"
            message = IntakeMessage(
                event_id=event_id("bench", f"{number}"),
                channel=Channel.WEBCHAT,
                channel_account="bench",
                received_at=now,
                conversation_id=conversation,
                customer=CustomerIdentity(key=customer_key("webchat", conversation), handle=conversation),
                reply_to=ReplyTarget(channel=Channel.WEBCHAT, account="bench", address=conversation),
                text=MessageText(original=text, plain=text, new_content=text),
            )
            records.append(
                encode_event(
                    MESSAGE_RECEIVED,
                    topic=source,
                    event_id=message.event_id,
                    source="bench/intake",
                    key=conversation,
                    data=message,
                )
            )
        print(f"filling {source} with {len(records):,} messages ...", flush=True)
        producer = EventProducer(kafka, client_id="bench-filler")
        await producer.start()
        try:
            for start in range(0, len(records), 1000):
                await producer.publish(records[start : start + 1000])
        finally:
            await producer.stop()

        classifier = load_classifier(settings.taxonomy_path, settings.model_path, use_model=not args.rules_only)
        group = f"{kafka.topic_prefix}{SERVICE}-bench"
        loop = ConsumeLoop(
            processor=ClassifierProcessor(classifier, names),
            group_id=group,
            kafka=kafka,
            consumer=ConsumerSettings(instance_id="bench", max_batch=args.batch, poll_timeout_ms=100),
            names=names,
            source=SOURCE,
        )
        watcher = AIOKafkaConsumer(group_id=group, enable_auto_commit=False, **kafka.client_kwargs())
        await watcher.start()
        try:
            partitions = [TopicPartition(source, p) for p in range(args.partitions)]  # as created above
            ends = await watcher.end_offsets(partitions)
            cpu_started = time.process_time()
            started = time.perf_counter()
            await loop.start()
            loop.start_background()
            try:
                while True:
                    committed = [await watcher.committed(tp) or 0 for tp in partitions]
                    if all(done >= ends[tp] for done, tp in zip(committed, partitions, strict=True)):
                        break
                    if time.perf_counter() - started > args.timeout:
                        sys.exit(f"not drained after {args.timeout:.0f} s: {sum(committed)} of {args.messages} done")
                    await asyncio.sleep(0.05)
                elapsed = time.perf_counter() - started
                cpu = time.process_time() - cpu_started
            finally:
                await loop.stop()
            out_partitions = [TopicPartition(output, p) for p in range(args.partitions)]
            out_ends = await watcher.end_offsets(out_partitions)
        finally:
            await watcher.stop()
        written = sum(out_ends.values())  # includes one transaction marker per partition and transaction
        print(
            f"end to end: {args.messages:,} messages from {source} to {output} in {elapsed:.1f} s "
            f"= {args.messages / elapsed:,.0f} messages/s ({args.partitions} partitions, batches of up to "
            f"{args.batch}, exactly-once {kafka.exactly_once}; this process used {cpu:.1f} s of CPU, "
            f"{args.messages / cpu:,.0f} messages per CPU second; {written:,} offsets written to the output)"
        )
        print(f"  classifier {classifier.name}")
    finally:
        if broker is not None:
            broker.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="switchboard-classifier-bench", description="Classifier throughput: hot path per core, or end to end."
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="CPU seconds per hot-path measurement")
    parser.add_argument("--corpus", type=Path, help="CSV with an 'instruction' column to add to the mix")
    parser.add_argument("--e2e", action="store_true", help="end to end through a real broker instead")
    parser.add_argument("--messages", type=int, default=20_000, help="messages in the input topic (--e2e)")
    parser.add_argument("--partitions", type=int, default=3, help="partitions of the pipeline topics (--e2e)")
    parser.add_argument("--batch", type=int, default=500, help="the consume loop's largest batch (--e2e)")
    parser.add_argument("--timeout", type=float, default=900.0, help="give up after this many seconds (--e2e)")
    parser.add_argument("--rules-only", action="store_true", help="the rules alone in the service (--e2e)")
    args = parser.parse_args(argv)
    settings = ClassifierSettings()
    if args.e2e:
        asyncio.run(run_end_to_end(args, settings))
    else:
        run_hot_path(args, settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
