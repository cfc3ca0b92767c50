"""Department updates through the real broker and the notifier as its own process, on every channel it sends on.

Web chat through chat.outbound.v1; email through a real SMTP server (the devenv sink); Slack, Telegram,
WhatsApp, Messenger, LINE, WeChat and SMS (Twilio) through the devenv stand-ins of their APIs, which
the notifier's real clients call over HTTP. Each case's first message is a real record of
intake.messages.v1 and its reference derives from that record's position, as the dispatcher's does.
"""

from __future__ import annotations

import asyncio
import collections
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete

from switchboard_common.case_reference import IntakePosition, case_reference, parse_case_reference
from switchboard_common.events import (
    CASE_NOTIFIED,
    CASE_SATISFIED,
    CASE_UPDATED,
    CHAT_OUTBOUND,
    MESSAGE_RECEIVED,
    OutgoingRecord,
    encode_event,
)
from switchboard_common.events.models import (
    AckKind,
    AckOutcome,
    CaseStatus,
    CaseUpdate,
    CaseUpdateKind,
    Channel,
    CustomerIdentity,
    IntakeMessage,
    MessageKind,
    MessageText,
    ReplyTarget,
    SatisfactionAnswer,
)
from switchboard_common.identity import event_id
from switchboard_common.satisfaction import rating_payload, verify_rating_link
from switchboard_common.settings import KafkaSettings
from switchboard_common.topics import TopicNames
from switchboard_devenv.kafka_testing import decode_all, publish, read_topic
from switchboard_devenv.line_standin import LineApiState
from switchboard_devenv.processes import ServiceProcess, free_port, service_env
from switchboard_devenv.provider_standins import ProviderStandIns, base_urls, serving
from switchboard_devenv.smtp_sink import SmtpSink
from switchboard_devenv.twilio_api import TwilioApiState
from switchboard_devenv.wechat_standin import WeChatApiState
from switchboard_notifier.case_origin import CaseOrigins, UnknownCase

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

RATING_SECRET = uuid.uuid4().hex
EMAIL_URL = "https://mail.shop.example"
CREDENTIALS = {
    "SLACK_BOT_TOKEN": "xoxb-updates",
    "WHATSAPP_ACCESS_TOKEN": "EAAG-updates-wa",
    "MESSENGER_PAGE_ACCESS_TOKEN": "EAAG-updates-page",
    "TELEGRAM_BOT_TOKEN": "4242:updates-telegram",
    "LINE_CHANNEL_ACCESS_TOKEN": "line-updates-token",
    "WECHAT_APP_ID": "wx-updates",
    "WECHAT_APP_SECRET": "wechat-updates-secret",
    "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
    "TWILIO_AUTH_TOKEN": "twilio-updates-token",
    "TWILIO_FROM_NUMBER": "+15005550006",
}
LONG_AGO = timedelta(days=2)  # first messages old enough not to be acknowledged (max_ack_age 24 h)


@dataclass
class Rig:
    kafka: KafkaSettings
    names: TopicNames
    apis: ProviderStandIns
    sink: SmtpSink
    env: dict[str, str]
    log_dir: Path

    def notifier(self) -> ServiceProcess:
        return ServiceProcess(
            "notifier", "switchboard_notifier.main", port=free_port(), env=self.env, log_dir=self.log_dir
        )


@pytest.fixture
async def rig(kafka_settings: KafkaSettings, kafka_topics: TopicNames, smtp_sink: SmtpSink, tmp_path: Path):
    apis = ProviderStandIns(
        line=LineApiState(access_token=CREDENTIALS["LINE_CHANNEL_ACCESS_TOKEN"]),
        wechat=WeChatApiState(),
        wechat_secrets=(CREDENTIALS["WECHAT_APP_SECRET"], None),
        twilio=TwilioApiState(CREDENTIALS["TWILIO_ACCOUNT_SID"], CREDENTIALS["TWILIO_AUTH_TOKEN"]),
    )
    async with serving(apis) as root:
        env = service_env(kafka_settings, "updates-test") | {
            "SMTP_HOST": smtp_sink.host,
            "SMTP_PORT": str(smtp_sink.port),
            "SMTP_TLS_MODE": "none",
            "SMTP_FROM": "Shop Support <support@shop.example>",
            "SATISFACTION_LINK_SECRET": RATING_SECRET,
            "EMAIL_PUBLIC_BASE_URL": EMAIL_URL,
            "NOTIFIER_SURVEY_ANSWER_GRACE": "5s",
            **CREDENTIALS,
            **base_urls(root),
        }
        yield Rig(kafka_settings, kafka_topics, apis, smtp_sink, env, tmp_path)


def first_message(channel: Channel, reply_to: ReplyTarget, conversation: str, **fields: Any) -> IntakeMessage:
    text = fields.pop("text", "Where is my parcel? Order A123-4567 has not arrived.")
    return IntakeMessage(
        event_id=event_id("updates-test", conversation, uuid.uuid4().hex),
        channel=channel,
        channel_account=reply_to.account,
        received_at=datetime.now(UTC) - LONG_AGO,
        conversation_id=conversation,
        customer=CustomerIdentity(key=f"cust_{conversation}", handle=reply_to.address),
        reply_to=reply_to,
        text=MessageText(original=text, plain=text, new_content=text),
        **fields,
    )


def intake(names: TopicNames, message: IntakeMessage) -> OutgoingRecord:
    return encode_event(
        MESSAGE_RECEIVED,
        topic=names("intake.messages.v1"),
        event_id=message.event_id,
        source="test",
        key=message.conversation_id,
        data=message,
    )


async def open_cases(kafka: KafkaSettings, names: TopicNames, messages: list[IntakeMessage]) -> list[str]:
    """Publish first messages; their case references, from the positions Kafka gave them."""
    producer = AIOKafkaProducer(**kafka.client_kwargs())
    await producer.start()
    try:
        references = []
        for message in messages:
            record = intake(names, message)
            sent = await producer.send_and_wait(
                record.topic, record.value, key=record.key, headers=list(record.headers)
            )
            references.append(case_reference(IntakePosition(sent.partition, sent.offset)))
        return references
    finally:
        await producer.stop()


def update_record(names: TopicNames, update: CaseUpdate) -> OutgoingRecord:
    return encode_event(
        CASE_UPDATED,
        topic=names("case.updates.v1"),
        event_id=str(uuid.uuid4()),  # a department's resend is a new event with the same update_id
        source="dept/logistics",
        key=update.case_reference,
        data=update,
    )


def status(reference: str, value: CaseStatus, n: int, message: str | None = None) -> CaseUpdate:
    return CaseUpdate(
        update_id=f"{reference}/{n}",
        case_reference=reference,
        kind=CaseUpdateKind.STATUS,
        status=value,
        message=message,
        department="logistics",
        sent_at=datetime.now(UTC),
    )


def lifecycle(reference: str) -> list[CaseUpdate]:
    return [
        status(reference, CaseStatus.ACCEPTED, 1),
        status(reference, CaseStatus.IN_PROGRESS, 2, "We have asked the courier for news."),
        status(reference, CaseStatus.RESOLVED, 3, "The parcel was delivered this morning."),
    ]


ORDER = ["has taken on your case", "is now working on your case", "has been resolved", "How satisfied are you"]


def in_order(texts: list[str]) -> None:
    texts = [text.replace("\r\n", "\n").strip() for text in texts]
    assert len(texts) == len(ORDER), texts
    for text, phrase in zip(texts, ORDER, strict=True):
        assert phrase in text, (phrase, text)
    assert texts[1].endswith("We have asked the courier for news.")


CHANNELS = {
    Channel.WEBCHAT: ReplyTarget(channel=Channel.WEBCHAT, account="webchat:shop", address="wc-updates"),
    Channel.EMAIL: ReplyTarget(
        channel=Channel.EMAIL,
        account="email:support",
        address="jane@example.com",
        thread="<m1@example.com>",
        metadata={"subject": "Where is my parcel?", "references": "<m1@example.com>"},
    ),
    Channel.SMS: ReplyTarget(channel=Channel.SMS, account="+15005550006", address="+14155550100"),
    Channel.SLACK: ReplyTarget(channel=Channel.SLACK, account="T1", address="C0SUPPORT", thread="1700000000.000100"),
    Channel.TELEGRAM: ReplyTarget(channel=Channel.TELEGRAM, account="bot", address="777", thread="9"),
    Channel.WHATSAPP: ReplyTarget(
        channel=Channel.WHATSAPP, account="1122334455667", address="8613800138000", thread="wamid.FIRST"
    ),
    Channel.MESSENGER: ReplyTarget(channel=Channel.MESSENGER, account="PAGE1", address="PSID9"),
    Channel.LINE: ReplyTarget(channel=Channel.LINE, account="line", address="U4af4980629"),
    Channel.WECHAT: ReplyTarget(channel=Channel.WECHAT, account="gh_shop", address="o6_bmjrPTlm6_2sgVt7hMZOPfL2M"),
}


def delivered_texts(rig: Rig) -> dict[Channel, list[dict[str, Any]]]:
    """What each external channel's API accepted, in order: the request bodies."""

    def bodies(provider: str) -> list[dict[str, Any]]:
        return [call.body for call in rig.apis.calls_to(provider) if call.delivered]

    return {
        Channel.SLACK: bodies("slack"),
        Channel.TELEGRAM: bodies("telegram"),
        Channel.WHATSAPP: bodies("whatsapp"),
        Channel.MESSENGER: bodies("messenger"),
        Channel.LINE: [b for b in bodies("line") if "messages" in b],
        Channel.WECHAT: [s["body"] for s in rig.apis.wechat.sent] if rig.apis.wechat else [],
    }


async def test_every_channel_gets_each_update_once_in_order_then_a_survey_and_ratings_are_recorded(rig: Rig):
    names, kafka = rig.names, rig.kafka
    messages = [first_message(channel, target, f"conv-{channel.value}") for channel, target in CHANNELS.items()]
    references = dict(zip(CHANNELS, await open_cases(kafka, names, messages), strict=True))
    process = rig.notifier().start()
    try:
        await asyncio.to_thread(process.wait_ready, 60)
        updates = [u for reference in references.values() for u in lifecycle(reference)]
        duplicates = [u for u in updates if u.status is CaseStatus.IN_PROGRESS]
        await publish(kafka, [update_record(names, u) for u in updates[:9]])
        await publish(kafka, [update_record(names, u) for u in updates[9:]])
        await publish(kafka, [update_record(names, u) for u in duplicates])  # a department sends them again
        records = await read_topic(
            kafka,
            names("notify.updates.v1"),
            timeout=90,
            until=lambda rs: len(rs) >= 4 * len(CHANNELS),
            settle=4,
        )
        notifications = decode_all(records, CASE_NOTIFIED)
        assert len(notifications) == 4 * len(CHANNELS), collections.Counter(n.channel for n in notifications)
        assert {(n.kind, n.outcome) for n in notifications} == {
            (AckKind.UPDATE, AckOutcome.SENT),
            (AckKind.SURVEY, AckOutcome.SENT),
        }, [(n.channel, n.kind, n.outcome, n.reason) for n in notifications if n.outcome is not AckOutcome.SENT]

        # web chat: through chat.outbound.v1, with rating buttons
        outbound = decode_all(await read_topic(kafka, names("chat.outbound.v1"), count=4, timeout=30), CHAT_OUTBOUND)
        in_order([m.text for m in outbound])
        assert [a.value for a in outbound[-1].actions] == [
            rating_payload(references[Channel.WEBCHAT], n) for n in range(1, 6)
        ]

        # email: replies in the customer's thread, the survey with signed links to intake-email
        mails = [mail.message for mail in await asyncio.to_thread(rig.sink.wait_for, 4, 30)]
        assert len(rig.sink.received) == 4
        in_order([mail.get_body(("plain",)).get_content() for mail in mails])
        for mail in mails:
            assert mail["In-Reply-To"] == "<m1@example.com>"
            assert mail["Subject"] == f"Re: Where is my parcel? [{references[Channel.EMAIL]}]"
        links = [
            line.split(": ", 1)[1]
            for line in mails[-1].get_body(("plain",)).get_content().splitlines()
            if EMAIL_URL in line
        ]
        assert len(links) == 5
        proven = verify_rating_link(
            RATING_SECRET.encode(), links[4].rsplit("/", 1)[1], int(datetime.now(UTC).timestamp())
        )
        assert proven is not None and (proven.case_reference, proven.score) == (references[Channel.EMAIL], 5)

        # SMS: a text survey ("reply with a number")
        sms = [m["body"] for m in rig.apis.twilio.messages] if rig.apis.twilio else []
        in_order(sms)
        assert "reply with a number from 1" in sms[-1]

        sent = delivered_texts(rig)
        in_order([b["text"] for b in sent[Channel.SLACK]])
        assert all(b["thread_ts"] == "1700000000.000100" for b in sent[Channel.SLACK])
        assert [e["value"] for e in sent[Channel.SLACK][-1]["blocks"][1]["elements"]] == [
            rating_payload(references[Channel.SLACK], n) for n in range(1, 6)
        ]
        in_order([b["text"] for b in sent[Channel.TELEGRAM]])
        assert len(sent[Channel.TELEGRAM][-1]["reply_markup"]["inline_keyboard"][0]) == 5
        wa = sent[Channel.WHATSAPP]
        in_order([b["text"]["body"] for b in wa[:3]] + [wa[3]["interactive"]["body"]["text"]])
        assert wa[3]["interactive"]["type"] == "list"
        assert len(wa[3]["interactive"]["action"]["sections"][0]["rows"]) == 5
        in_order([b["message"]["text"] for b in sent[Channel.MESSENGER]])
        assert len(sent[Channel.MESSENGER][-1]["message"]["quick_replies"]) == 5
        in_order([b["messages"][0]["text"] for b in sent[Channel.LINE]])
        assert len(sent[Channel.LINE][-1]["messages"][0]["quickReply"]["items"]) == 5
        in_order([b["text"]["content"] for b in sent[Channel.WECHAT]])
        assert "reply with a number" in sent[Channel.WECHAT][-1]["text"]["content"]

        # ratings: a web-chat button (then a typed "2", a repeat) and a typed Telegram rating
        now = datetime.now(UTC)
        answers = [
            first_message(
                Channel.WEBCHAT,
                CHANNELS[Channel.WEBCHAT],
                "conv-webchat",
                kind=MessageKind.SATISFACTION_RESPONSE,
                text="4 - Good",
                satisfaction=SatisfactionAnswer(case_reference=references[Channel.WEBCHAT], score=4, via="button"),
            ).model_copy(update={"received_at": now}),
            first_message(Channel.WEBCHAT, CHANNELS[Channel.WEBCHAT], "conv-webchat", text="2"),
            first_message(Channel.TELEGRAM, CHANNELS[Channel.TELEGRAM], "conv-telegram", text="5"),
        ]
        await publish(kafka, [intake(names, answers[0])])
        await publish(kafka, [intake(names, a) for a in answers[1:]])
        rated = decode_all(
            await read_topic(kafka, names("case.satisfaction.v1"), count=2, timeout=60, settle=4), CASE_SATISFIED
        )
        assert sorted((r.case_reference, r.score, r.via) for r in rated) == sorted(
            [(references[Channel.WEBCHAT], 4, "button"), (references[Channel.TELEGRAM], 5, "text")]
        )
        thanks = decode_all(await read_topic(kafka, names("chat.outbound.v1"), count=5, timeout=20), CHAT_OUTBOUND)
        assert thanks[-1].text == "Thank you for your rating!" and thanks[-1].kind is AckKind.SURVEY
    finally:
        process.stop()


async def test_a_notifier_killed_mid_stream_delivers_every_update_once_and_in_order(rig: Rig):
    names, kafka = rig.names, rig.kafka
    cases = 24
    messages = [
        first_message(Channel.WEBCHAT, CHANNELS[Channel.WEBCHAT].model_copy(update={"address": f"wc-r{i}"}), f"wc-r{i}")
        for i in range(cases)
    ]
    references = await open_cases(kafka, names, messages)
    steps = [CaseStatus.ACCEPTED, CaseStatus.IN_PROGRESS, CaseStatus.WAITING_FOR_CUSTOMER, CaseStatus.CLOSED]
    updates = [status(ref, value, n) for n, value in enumerate(steps) for ref in references]
    process = rig.notifier().start()
    try:
        await asyncio.to_thread(process.wait_ready, 60)
        for i, update in enumerate(updates):
            records = [update_record(names, update)]
            if i % 7 == 0:
                records.append(update_record(names, update))  # a department's duplicate
            await publish(kafka, records)
            if i == len(updates) // 3:
                process.kill()
            if i == len(updates) // 2:
                process = rig.notifier().start()
            await asyncio.sleep(0.02)
        await asyncio.to_thread(process.wait_ready, 60)
        outbound = decode_all(
            await read_topic(kafka, names("chat.outbound.v1"), count=len(updates), timeout=90, settle=4),
            CHAT_OUTBOUND,
        )
    finally:
        process.stop()
    by_case: dict[str, list[str]] = collections.defaultdict(list)
    for chat in outbound:
        assert chat.case_reference is not None
        by_case[chat.case_reference].append(chat.text)
    assert len(outbound) == len(updates), f"{len(outbound)} messages for {len(updates)} updates"
    phrases = ["has taken on", "is now working on", "needs some information", "is now closed"]
    for reference in references:
        texts = by_case[reference]
        assert [next(p for p in phrases if p in t) for t in texts] == phrases, (reference, texts)


async def test_invalid_updates_are_dead_lettered_with_the_reason_and_a_lost_origin_is_recorded(rig: Rig):
    names, kafka = rig.names, rig.kafka
    # two cases in one conversation (one partition): the first one's message then passes the intake retention
    same = [first_message(Channel.WEBCHAT, CHANNELS[Channel.WEBCHAT], "wc-valid") for _ in range(2)]
    [lost, kept] = await open_cases(kafka, names, same)
    position = parse_case_reference(lost)
    admin = AIOKafkaAdminClient(**kafka.client_kwargs())
    await admin.start()
    try:
        tp = TopicPartition(names("intake.messages.v1"), position.partition)
        await admin.delete_records({tp: RecordsToDelete(before_offset=position.offset + 1)})
    finally:
        await admin.close()
    nowhere = case_reference(IntakePosition(0, 10_000))
    good = status(kept, CaseStatus.ACCEPTED, 1)
    delay_without_time = update_record(names, good).value.replace(b'"accepted"', b'"delayed"')
    bad_json = OutgoingRecord(names("case.updates.v1"), b"x", delay_without_time, update_record(names, good).headers)
    garbage = OutgoingRecord(names("case.updates.v1"), b"x", b"{not json", update_record(names, good).headers)
    process = rig.notifier().start()
    try:
        await asyncio.to_thread(process.wait_ready, 60)
        await publish(
            kafka,
            [
                update_record(names, status("SB-NOT-A-REF", CaseStatus.ACCEPTED, 1)),
                update_record(names, status(nowhere, CaseStatus.ACCEPTED, 1)),
                bad_json,
                garbage,
                update_record(names, status(lost, CaseStatus.IN_PROGRESS, 1)),
                update_record(names, good),
            ],
        )
        letters = await read_topic(kafka, names("case.updates.v1.dlq"), count=4, timeout=60, settle=2)
        recorded = decode_all(
            await read_topic(kafka, names("notify.updates.v1"), count=2, timeout=30, settle=2), CASE_NOTIFIED
        )
    finally:
        process.stop()
    reasons = sorted(record.header("dlq_reason") or "" for record in letters)
    assert len(reasons) == 4
    assert any(r.startswith("invalid case reference") for r in reasons)
    assert any(r.startswith(f"unknown case reference {nowhere}") for r in reasons)
    assert any("a delay needs the new expected time" in r for r in reasons)
    assert any("not valid JSON" in r for r in reasons)
    outcomes = {n.case_reference: (n.outcome, n.reason) for n in recorded}
    assert outcomes == {kept: (AckOutcome.SENT, None), lost: (AckOutcome.SUPPRESSED, "case_origin_expired")}


async def test_case_origins_reads_the_message_at_a_position_and_tells_unknown_positions(
    kafka_settings: KafkaSettings, kafka_topics: TopicNames
):
    messages = [first_message(Channel.WEBCHAT, CHANNELS[Channel.WEBCHAT], f"wc-o{i}") for i in range(3)]
    references = await open_cases(kafka_settings, kafka_topics, messages)
    origins = CaseOrigins(kafka_settings, kafka_topics("intake.messages.v1"), cache_size=2)
    try:
        for reference, message in zip(references, messages, strict=True):
            found = await origins.find(parse_case_reference(reference))
            assert found is not None and found.event_id == message.event_id
        again = await origins.find(parse_case_reference(references[-1]))
        assert again is not None and origins.reads == 3  # from the cache
        with pytest.raises(UnknownCase):
            await origins.find(IntakePosition(0, 10_000))
        with pytest.raises(UnknownCase):
            await origins.find(IntakePosition(999, 0))
    finally:
        await origins.close()
