"""Department updates, satisfaction requests and answers, driven event by event with a fake clock.

The case's first message comes from a dict here (the Kafka reader is tested against the broker in
test_updates_kafka.py); everything else is the notifier's own code.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from aiokafka import TopicPartition
from notifier_support import (
    T0,
    Clock,
    RecordingSender,
    StaticOrigins,
    acks,
    as_consumed,
    chat_messages,
    intake_event,
    message,
    routed,
    routed_event,
)

from switchboard_common.case_reference import IntakePosition, case_reference
from switchboard_common.events import (
    ACK_RECORDED,
    CASE_NOTIFIED,
    CASE_SATISFIED,
    CASE_UPDATED,
    InvalidMessage,
    OutgoingRecord,
    decode_event,
    encode_event,
)
from switchboard_common.events.models import (
    AckKind,
    AckOutcome,
    AutomatedReason,
    CaseStatus,
    CaseUpdate,
    CaseUpdateKind,
    Channel,
    IntakeMessage,
    Language,
    MessageKind,
    ReplyTarget,
    SatisfactionAnswer,
)
from switchboard_common.satisfaction import rating_payload, verify_rating_link
from switchboard_common.settings import KafkaSettings
from switchboard_common.topics import TopicNames
from switchboard_notifier.ack_state import PartitionState
from switchboard_notifier.channels import SenderRegistry
from switchboard_notifier.channels.webchat import WebChatSender
from switchboard_notifier.processor import NotifierProcessor
from switchboard_notifier.settings import NotifierSettings
from switchboard_notifier.templates import AckTemplates
from switchboard_notifier.update_state import UpdatePartitionState

INTAKE, ROUTED, UPDATES, ACKS = "p.intake.messages.v1", "p.intake.routed.v1", "p.case.updates.v1", "p.notify.acks.v1"
SECRET = "rating-secret-for-tests"


class Rig:
    """A notifier with cases whose first messages sit at known intake positions."""

    def __init__(self, *senders: Any, **overrides: Any) -> None:
        self.clock = Clock(T0)
        self.origins = StaticOrigins()
        settings = NotifierSettings(kafka=KafkaSettings(topic_prefix="p."), **overrides)
        registry = SenderRegistry(list(senders) or [WebChatSender(TopicNames("p."))])
        self.notifier = NotifierProcessor(
            settings, AckTemplates.load(None, settings.zone), registry, self.origins, clock=self.clock
        )
        self.offsets: dict[int, int] = {}

    def case(self, origin: IntakeMessage, partition: int = 0, offset: int | None = None) -> str:
        offset = offset if offset is not None else 100 + len(self.origins.messages)
        position = IntakePosition(partition, offset)
        self.origins.messages[position] = origin
        return case_reference(position)

    async def update(self, update: CaseUpdate, partition: int = 1) -> list[OutgoingRecord]:
        offset = self.offsets.get(partition, 0)
        self.offsets[partition] = offset + 1
        record = as_consumed(
            encode_event(
                CASE_UPDATED,
                topic=UPDATES,
                event_id=update.update_id,
                source="t",
                key=update.case_reference,
                data=update,
            ),
            partition,
            offset,
        )
        return list(await self.notifier.process(decode_event(record, [CASE_UPDATED]), record))

    async def feed_back(self, outputs: list[OutgoingRecord], partition: int = 0) -> list[OutgoingRecord]:
        """The notify.acks.v1 records among ``outputs``, consumed as the notifier's input."""
        produced: list[OutgoingRecord] = []
        for out in outputs:
            if out.topic == ACKS:
                record = as_consumed(out, partition, 0)
                produced += await self.notifier.process(decode_event(record, [ACK_RECORDED]), record)
        return produced

    async def tick(self, seconds: float) -> list[OutgoingRecord]:
        self.clock.advance(seconds)
        return list(await self.notifier.tick())


def status(reference: str, value: CaseStatus, n: int = 1, **fields: Any) -> CaseUpdate:
    return CaseUpdate(
        update_id=f"u-{reference}-{n}",
        case_reference=reference,
        kind=CaseUpdateKind.STATUS,
        status=value,
        department="logistics",
        sent_at=T0,
        **fields,
    )


def reply(reference: str, text: str, n: int = 9) -> CaseUpdate:
    return CaseUpdate(
        update_id=f"u-{reference}-{n}",
        case_reference=reference,
        kind=CaseUpdateKind.REPLY,
        message=text,
        department="logistics",
        sent_at=T0,
    )


def notified(outputs: list[OutgoingRecord]) -> list[Any]:
    return [decode_event(as_consumed(o, 0, 0), [CASE_NOTIFIED]).data for o in outputs if o.topic.endswith("updates.v1")]


def ratings(outputs: list[OutgoingRecord]) -> list[Any]:
    return [
        decode_event(as_consumed(o, 0, 0), [CASE_SATISFIED]).data
        for o in outputs
        if o.topic.endswith("satisfaction.v1")
    ]


def on_channel(channel: Channel, address: str, **fields: Any) -> IntakeMessage:
    base = message(channel=channel, conversation=f"{channel.value}_conv")
    return base.model_copy(update={"reply_to": ReplyTarget(channel=channel, account="acct", address=address), **fields})


# -- updates -----------------------------------------------------------------------------------


async def test_a_status_update_reaches_the_chat_with_the_departments_message_and_is_recorded():
    rig = Rig()
    ref = rig.case(message(conversation="wc_case"))
    outputs = await rig.update(status(ref, CaseStatus.IN_PROGRESS, message="We have asked the courier.\nBear with us."))

    [chat] = chat_messages(outputs)
    assert chat.conversation_id == "wc_case" and chat.kind is AckKind.UPDATE and chat.case_reference == ref
    assert chat.text.startswith(f"Hello, our Logistics team is now working on your case {ref}.")
    assert chat.text.endswith("\n\nWe have asked the courier.\nBear with us.")
    [record] = notified(outputs)
    assert (record.outcome, record.kind, record.status) == (AckOutcome.SENT, AckKind.UPDATE, CaseStatus.IN_PROGRESS)
    assert record.conversation_id == "wc_case" and record.case_reference == ref
    [out] = [o for o in outputs if o.topic == "p.notify.updates.v1"]
    assert out.partition == 1  # the partition of the update it answers, whatever the department's partitioner
    assert acks(outputs) == []  # no survey, no acknowledgement


@pytest.mark.parametrize(
    ("text", "language", "phrase"),
    [
        ("Where is my parcel?", Language.EN, "now expects to resolve it by 26 Nov 2026, 18:30 UTC"),
        ("我的包裹在哪里？", Language.ZH_HANS, "预计在2026年11月26日 18:30（UTC）前处理完毕"),
        ("我的包裹在哪裡？請幫我查一下", Language.ZH_HANT, "預計在2026年11月26日 18:30（UTC）前處理完畢"),
    ],
)
async def test_a_delay_names_the_new_expected_time_in_the_customers_language(text, language, phrase):
    rig = Rig()
    ref = rig.case(message(text=text))
    when = T0 + timedelta(days=2, hours=9, minutes=30)
    [chat] = chat_messages(await rig.update(status(ref, CaseStatus.DELAYED, expected_at=when)))
    assert chat.language is language
    assert phrase in chat.text


async def test_every_status_and_a_reply_have_their_own_text():
    rig = Rig()
    ref = rig.case(message())
    texts = []
    for n, value in enumerate(CaseStatus):
        extra = {"expected_at": T0 + timedelta(hours=5)} if value is CaseStatus.DELAYED else {}
        outputs = await rig.update(status(ref, value, n, **extra))
        texts.append(chat_messages(outputs)[0].text)
    outputs = await rig.update(reply(ref, "Your refund was issued today."))
    [chat] = chat_messages(outputs)
    assert chat.kind is AckKind.REPLY
    assert chat.text == f"Hello, our Logistics team has replied about your case {ref}:\n\nYour refund was issued today."
    assert len(set(texts)) == len(CaseStatus)


async def test_accepted_with_an_expected_time_says_when():
    rig = Rig()
    ref = rig.case(message())
    [chat] = chat_messages(await rig.update(status(ref, CaseStatus.ACCEPTED, expected_at=T0 + timedelta(hours=3))))
    assert "expects to have it resolved by 24 Nov 2026, 12:00 UTC" in chat.text


async def test_times_are_shown_in_the_configured_time_zone():
    rig = Rig(display_timezone="Asia/Shanghai")
    ref = rig.case(message(text="我的包裹在哪里？"))
    [chat] = chat_messages(await rig.update(status(ref, CaseStatus.ACCEPTED, expected_at=T0 + timedelta(hours=3))))
    assert "2026年11月24日 20:00（CST）" in chat.text


async def test_a_redelivered_or_duplicated_update_is_sent_once():
    rig = Rig()
    ref = rig.case(message())
    update = status(ref, CaseStatus.IN_PROGRESS)
    assert len(chat_messages(await rig.update(update))) == 1
    assert await rig.update(update) == []
    assert await rig.update(update, partition=1) == []


async def test_an_update_recorded_before_a_restart_is_not_sent_again():
    first = Rig()
    ref = first.case(message())
    update = status(ref, CaseStatus.IN_PROGRESS)
    [record] = notified(await first.update(update))

    again = Rig()
    again.case(message(), offset=100)
    state = UpdatePartitionState()
    state.remember(record)  # as on_assigned reads it back from notify.updates.v1
    again.notifier.updates._states[1] = state
    assert await again.update(update) == []


async def test_a_later_update_of_a_case_waits_for_the_earlier_one_and_other_cases_do_not():
    sender = RecordingSender(fail_retryable=1)
    rig = Rig(sender)
    slow = rig.case(message(conversation="wc_slow"))
    other = rig.case(message(conversation="wc_other"))

    assert notified(await rig.update(status(slow, CaseStatus.ACCEPTED, 1))) == []  # provider unavailable
    assert notified(await rig.update(status(slow, CaseStatus.IN_PROGRESS, 2))) == []  # waits behind it
    assert rig.notifier.commit_floor(TopicPartition(UPDATES, 1)) == 0
    [done] = notified(await rig.update(status(other, CaseStatus.ACCEPTED, 3)))
    assert done.case_reference == other

    outputs = await rig.tick(1.1)
    assert [(n.case_reference, n.status) for n in notified(outputs)] == [
        (slow, CaseStatus.ACCEPTED),
        (slow, CaseStatus.IN_PROGRESS),
    ]
    assert [n.message.conversation_id for n in sender.sent] == ["wc_other", "wc_slow", "wc_slow"]
    assert notified(outputs)[0].attempts == 2
    assert rig.notifier.commit_floor(TopicPartition(UPDATES, 1)) is None


async def test_an_update_the_channel_refuses_for_good_is_recorded_as_failed_and_the_next_one_goes():
    sender = RecordingSender(fail_permanently=True)
    rig = Rig(sender)
    ref = rig.case(message())
    [record] = notified(await rig.update(status(ref, CaseStatus.ACCEPTED)))
    assert (record.outcome, record.reason) == (AckOutcome.FAILED, "recipient cannot receive messages")
    assert await rig.tick(600) == []


@pytest.mark.parametrize(
    ("reference", "reason"),
    [("SB-NOT-A-REF", "invalid case reference"), (case_reference(IntakePosition(0, 5)), "unknown case reference")],
)
async def test_an_update_for_a_reference_that_names_no_message_is_invalid(reference, reason):
    rig = Rig()
    with pytest.raises(InvalidMessage) as raised:
        await rig.update(status(reference, CaseStatus.ACCEPTED))
    assert raised.value.reason.startswith(reason)


async def test_an_update_for_a_case_past_the_intake_retention_is_recorded_not_sent():
    rig = Rig()
    position = IntakePosition(0, 3)
    rig.origins.gone.add(position)
    records = notified(await rig.update(status(case_reference(position), CaseStatus.RESOLVED)))
    assert [(r.kind, r.outcome, r.reason, r.channel) for r in records] == [
        (AckKind.UPDATE, AckOutcome.SUPPRESSED, "case_origin_expired", None),
        (AckKind.SURVEY, AckOutcome.SUPPRESSED, "case_origin_expired", None),
    ]


async def test_updates_for_an_automated_sender_or_a_channel_without_sender_are_suppressed():
    rig = Rig()
    bot = rig.case(message(automated=AutomatedReason.BOT))
    tg = rig.case(on_channel(Channel.TELEGRAM, "777"))
    [first] = notified(await rig.update(status(bot, CaseStatus.ACCEPTED)))
    [second] = notified(await rig.update(status(tg, CaseStatus.ACCEPTED, 2)))
    assert (first.reason, second.reason) == ("automated", "no_sender_for_channel")


# -- satisfaction requests ---------------------------------------------------------------------


async def test_resolved_is_followed_by_a_survey_with_rating_buttons_recorded_for_the_conversation():
    rig = Rig()
    ref = rig.case(message(conversation="wc_resolved"))
    outputs = await rig.update(status(ref, CaseStatus.RESOLVED, message="The parcel was delivered."))

    resolved, survey = chat_messages(outputs)
    assert resolved.kind is AckKind.UPDATE and "has been resolved" in resolved.text
    assert survey.kind is AckKind.SURVEY
    assert [a.value for a in survey.actions] == [rating_payload(ref, n) for n in range(1, 6)]
    assert survey.actions[0].label == "1 - Very poor"
    assert [(n.kind, n.outcome) for n in notified(outputs)] == [
        (AckKind.UPDATE, AckOutcome.SENT),
        (AckKind.SURVEY, AckOutcome.SENT),
    ]
    [request] = acks(outputs)
    assert (request.kind, request.conversation_id, request.case_reference) == (AckKind.SURVEY, "wc_resolved", ref)
    [request_out] = [o for o in outputs if o.topic == ACKS]
    assert request_out.key == b"wc_resolved" and request_out.partition is None  # partitioned like the conversation


async def test_email_gets_signed_rating_links_to_intake_emails_public_url():
    sender = RecordingSender(channels=frozenset({Channel.EMAIL}))
    rig = Rig(sender, rating_link_secret=SECRET, rating_base_url="https://mail.example.com/")
    ref = rig.case(on_channel(Channel.EMAIL, "jane@example.com"))
    await rig.update(status(ref, CaseStatus.RESOLVED))
    survey = sender.sent[-1]
    assert survey.kind is AckKind.SURVEY and "click a rating" in survey.text
    assert survey.subject == f"How did we do? [{ref}]"
    links = [action.url for action in survey.actions]
    assert all(url and url.startswith("https://mail.example.com/v1/email/rating/") for url in links)
    proven = [verify_rating_link(SECRET.encode(), url.rsplit("/", 1)[1], int(T0.timestamp())) for url in links]
    assert [(p.case_reference, p.conversation_id, p.score) for p in proven] == [
        (ref, "email_conv", n) for n in range(1, 6)
    ]
    later = int((T0 + timedelta(days=3, seconds=1)).timestamp())
    assert verify_rating_link(SECRET.encode(), links[0].rsplit("/", 1)[1], later) is None


async def test_without_rating_link_settings_email_customers_get_no_survey_and_the_record_says_why():
    sender = RecordingSender(channels=frozenset({Channel.EMAIL}))
    rig = Rig(sender)
    ref = rig.case(on_channel(Channel.EMAIL, "jane@example.com"))
    outputs = await rig.update(status(ref, CaseStatus.RESOLVED))
    assert [n.kind for n in sender.sent] == [AckKind.UPDATE]
    assert notified(outputs)[-1].reason == "rating_links_not_configured"


async def test_sms_customers_are_asked_to_reply_with_a_number_and_withheld_callers_are_not_asked():
    sender = RecordingSender(channels=frozenset({Channel.SMS}))
    rig = Rig(sender)
    texter = rig.case(on_channel(Channel.SMS, "+14155550100"))
    withheld = rig.case(on_channel(Channel.SMS, "withheld").model_copy(update={"channel": Channel.PHONE}))
    await rig.update(status(texter, CaseStatus.RESOLVED))
    outputs = await rig.update(status(withheld, CaseStatus.RESOLVED, 2))
    survey = sender.sent[1]
    assert survey.kind is AckKind.SURVEY and survey.actions == ()
    assert "reply with a number from 1" in survey.text
    assert notified(outputs)[-1].reason == "customer_cannot_answer"


async def test_a_case_is_surveyed_once_and_not_when_the_resolution_did_not_arrive():
    rig = Rig()
    ref = rig.case(message())
    await rig.update(status(ref, CaseStatus.RESOLVED, 1))
    outputs = await rig.update(status(ref, CaseStatus.RESOLVED, 2))
    assert notified(outputs)[-1].reason == "already_surveyed"

    failing = Rig(RecordingSender(fail_permanently=True))
    other = failing.case(message())
    outputs = await failing.update(status(other, CaseStatus.RESOLVED))
    assert [(n.kind, n.outcome, n.reason) for n in notified(outputs)][-1] == (
        AckKind.SURVEY,
        AckOutcome.SUPPRESSED,
        "resolution_not_delivered",
    )


# -- answers ---------------------------------------------------------------------------------


def button_answer(ref: str, score: int, n: int = 50, conversation: str = "wc_conv1") -> IntakeMessage:
    return message(n, conversation=conversation, text=f"{score}").model_copy(
        update={
            "kind": MessageKind.SATISFACTION_RESPONSE,
            "satisfaction": SatisfactionAnswer(case_reference=ref, score=score, via="button"),
        }
    )


async def surveyed(rig: Rig, conversation: str = "wc_conv1") -> str:
    ref = rig.case(message(conversation=conversation))
    await rig.feed_back(await rig.update(status(ref, CaseStatus.RESOLVED)))
    return ref


async def test_a_button_answer_is_published_once_thanked_for_and_not_acknowledged():
    rig = Rig()
    ref = await surveyed(rig)
    outputs = list(await rig.notifier.process(*intake_event(button_answer(ref, 4), INTAKE, 20)))
    [rating] = ratings(outputs)
    assert (rating.case_reference, rating.score, rating.via, rating.conversation_id) == (ref, 4, "button", "wc_conv1")
    [thanks] = chat_messages(outputs)
    assert thanks.kind is AckKind.SURVEY and thanks.text == "Thank you for your rating!"
    [record] = acks(outputs)
    assert (record.kind, record.outcome, record.reason) == (AckKind.SURVEY, AckOutcome.SENT, "satisfaction_recorded")

    second = list(await rig.notifier.process(*intake_event(button_answer(ref, 1, n=51), INTAKE, 21)))
    assert ratings(second) == [] and chat_messages(second) == []
    assert acks(second)[0].reason == "satisfaction_already_answered"
    # the dispatcher's record of the answer (routed nowhere) changes nothing, and nothing is acknowledged later
    assert await rig.notifier.process(*routed_event(routed(button_answer(ref, 4), department=None), ROUTED, 5)) == []
    assert await rig.tick(120) == []


async def test_a_typed_rating_answers_the_open_request_in_the_conversation():
    rig = Rig()
    ref = await surveyed(rig)
    outputs = list(await rig.notifier.process(*intake_event(message(60, text="５分"), INTAKE, 30)))
    [rating] = ratings(outputs)
    assert (rating.case_reference, rating.score, rating.via) == (ref, 5, "text")


async def test_a_typed_number_without_a_request_is_an_ordinary_message():
    rig = Rig()
    msg = message(61, conversation="wc_plain", text="5")
    assert await rig.notifier.process(*intake_event(msg, INTAKE, 31)) == []
    outputs = list(await rig.notifier.process(*routed_event(routed(msg, department=None), ROUTED, 6)))
    assert ratings(outputs) == []
    assert acks(outputs)[0].reason == "non_actionable"


async def test_a_button_for_a_case_never_surveyed_here_waits_briefly_then_is_ignored():
    rig = Rig(survey_answer_grace="30s")
    forged = case_reference(IntakePosition(0, 999))
    assert await rig.notifier.process(*intake_event(button_answer(forged, 5), INTAKE, 40)) == []
    assert rig.notifier.commit_floor(TopicPartition(INTAKE, 0)) == 40
    assert await rig.tick(10) == []
    outputs = await rig.tick(25)
    assert ratings(outputs) == [] and chat_messages(outputs) == []
    assert acks(outputs)[0].reason == "satisfaction_not_requested"
    assert rig.notifier.commit_floor(TopicPartition(INTAKE, 0)) is None


async def test_a_button_answer_read_before_its_request_is_taken_when_the_request_arrives():
    rig = Rig()
    ref = rig.case(message(conversation="wc_conv1"))
    request_outputs = await rig.update(status(ref, CaseStatus.RESOLVED))
    assert await rig.notifier.process(*intake_event(button_answer(ref, 3), INTAKE, 41)) == []
    outputs = await rig.feed_back(request_outputs)
    [rating] = ratings(outputs)
    assert rating.score == 3


async def test_an_answer_record_read_back_marks_the_message_handled_and_the_request_answered():
    rig = Rig()
    ref = rig.case(message(conversation="wc_conv1"))
    request = await rig.update(status(ref, CaseStatus.RESOLVED))
    await rig.feed_back(request)
    answer = button_answer(ref, 4)
    outputs = list(await rig.notifier.process(*intake_event(answer, INTAKE, 20)))

    state = PartitionState()  # as on_assigned rebuilds it from notify.acks.v1
    for record in acks(request + outputs):
        state.remember(record)
    survey = state.survey("wc_conv1", ref)
    assert survey is not None and survey.answered_by == answer.event_id
    assert answer.event_id in state.handled
    assert state.latest_open_survey("wc_conv1", T0 - timedelta(days=1)) is None
