"""The notifier's decisions, driven event by event with a fake clock (Kafka is exercised elsewhere)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from aiokafka import TopicPartition
from notifier_support import (
    T0,
    Clock,
    RecordingSender,
    StaticOrigins,
    acks,
    chat_messages,
    intake_event,
    message,
    routed,
    routed_event,
)

from switchboard_common.case_reference import IntakePosition, case_reference
from switchboard_common.events.models import AckKind, AckOutcome, AutomatedReason, Channel, Language
from switchboard_common.settings import KafkaSettings
from switchboard_common.topics import TopicNames
from switchboard_notifier.ack_state import PartitionState
from switchboard_notifier.channels import SenderRegistry
from switchboard_notifier.channels.webchat import WebChatSender
from switchboard_notifier.processor import NotifierProcessor
from switchboard_notifier.settings import NotifierSettings
from switchboard_notifier.templates import AckTemplates

INTAKE, ROUTED = "p.intake.messages.v1", "p.intake.routed.v1"


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


def make(clock: Clock, sender=None, **overrides) -> NotifierProcessor:
    settings = NotifierSettings(kafka=KafkaSettings(topic_prefix="p."), **overrides)
    senders = SenderRegistry([sender] if sender else [WebChatSender(TopicNames("p."))])
    return NotifierProcessor(settings, AckTemplates.load(), senders, StaticOrigins(), clock=clock)


async def test_a_routed_message_is_acknowledged_at_once_with_case_team_and_response_time(clock):
    notifier = make(clock)
    msg = message()
    assert await notifier.process(*intake_event(msg, INTAKE, 10)) == []
    clock.advance(1.2)
    outputs = list(await notifier.process(*routed_event(routed(msg, reference="SB-AAA-BBB-CCC"), ROUTED, 4)))

    [chat] = chat_messages(outputs)
    assert chat.kind is AckKind.ACK
    assert chat.conversation_id == "wc_conv1"
    assert "SB-AAA-BBB-CCC" in chat.text and "Logistics team" in chat.text and "24 hours" in chat.text
    [ack] = acks(outputs)
    assert (ack.outcome, ack.sla_met, ack.latency_ms) == (AckOutcome.SENT, True, 1200.0)


async def test_the_acknowledgement_is_in_the_language_the_classifier_found(clock):
    notifier = make(clock)
    msg = message(text="我的包裹在哪里？")
    await notifier.process(*intake_event(msg, INTAKE, 0))
    outputs = await notifier.process(*routed_event(routed(msg, language=Language.ZH_HANS), ROUTED, 0))
    [chat] = chat_messages(list(outputs))
    assert "工单号" in chat.text
    assert chat.language is Language.ZH_HANS


async def test_without_a_routed_event_a_generic_ack_goes_out_at_the_configured_fraction_of_the_sla(clock):
    notifier = make(clock)
    await notifier.process(*intake_event(message(), INTAKE, 42, partition=2))
    clock.advance(14.9)
    assert await notifier.tick() == []
    clock.advance(0.2)
    outputs = list(await notifier.tick())

    [chat] = chat_messages(outputs)
    expected = case_reference(IntakePosition(partition=2, offset=42))
    assert chat.kind is AckKind.GENERIC_ACK
    assert chat.case_reference == expected and expected in chat.text
    [ack] = acks(outputs)
    assert ack.kind is AckKind.GENERIC_ACK and ack.sla_met


async def test_a_routed_event_after_the_generic_ack_sends_nothing_more(clock):
    notifier = make(clock)
    msg = message()
    await notifier.process(*intake_event(msg, INTAKE, 0))
    clock.advance(16)
    assert chat_messages(list(await notifier.tick()))
    assert await notifier.process(*routed_event(routed(msg), ROUTED, 0)) == []


async def test_a_redelivered_message_with_the_same_event_id_is_acknowledged_once(clock):
    notifier = make(clock)
    msg = message()
    await notifier.process(*intake_event(msg, INTAKE, 0))
    await notifier.process(*intake_event(msg, INTAKE, 1))
    first = await notifier.process(*routed_event(routed(msg), ROUTED, 0))
    second = await notifier.process(*routed_event(routed(msg), ROUTED, 1))
    assert len(chat_messages(list(first))) == 1
    assert second == []


async def test_input_offsets_are_held_until_the_acknowledgement_is_out(clock):
    notifier = make(clock)
    intake_tp, routed_tp = TopicPartition(INTAKE, 0), TopicPartition(ROUTED, 0)
    msg = message()
    await notifier.process(*intake_event(msg, INTAKE, 7))
    assert notifier.commit_floor(intake_tp) == 7
    await notifier.process(*routed_event(routed(msg), ROUTED, 3))
    assert notifier.commit_floor(intake_tp) is None
    assert notifier.commit_floor(routed_tp) is None


async def test_a_routed_record_stays_uncommitted_while_its_delivery_is_retried(clock):
    sender = RecordingSender(fail_retryable=1)
    notifier = make(clock, sender)
    msg = message()
    await notifier.process(*intake_event(msg, INTAKE, 7))
    assert await notifier.process(*routed_event(routed(msg), ROUTED, 3)) == []
    assert notifier.commit_floor(TopicPartition(ROUTED, 0)) == 3
    clock.advance(1.1)
    outputs = list(await notifier.tick())
    assert [n.kind for n in sender.sent] == [AckKind.ACK]
    assert acks(outputs)[0].attempts == 2
    assert notifier.commit_floor(TopicPartition(ROUTED, 0)) is None


async def test_an_acknowledgement_delivered_after_the_sla_is_recorded_as_a_breach(clock):
    sender = RecordingSender(fail_retryable=6)
    notifier = make(clock, sender, sla={"webchat": "30s"})
    msg = message()
    await notifier.process(*intake_event(msg, INTAKE, 0))
    await notifier.process(*routed_event(routed(msg), ROUTED, 0))
    outputs: list = []
    for _ in range(40):
        clock.advance(5)
        outputs.extend(await notifier.tick())
    [ack] = acks(outputs)
    assert ack.outcome is AckOutcome.SENT
    assert ack.sla_met is False
    assert ack.latency_ms > 30_000


async def test_a_recipient_that_cannot_receive_is_recorded_as_failed_not_retried(clock):
    sender = RecordingSender(fail_permanently=True)
    notifier = make(clock, sender)
    msg = message()
    await notifier.process(*intake_event(msg, INTAKE, 0))
    [ack] = acks(list(await notifier.process(*routed_event(routed(msg), ROUTED, 0))))
    assert (ack.outcome, ack.reason) == (AckOutcome.FAILED, "recipient cannot receive messages")
    clock.advance(600)
    assert await notifier.tick() == []


@pytest.mark.parametrize("reason", [AutomatedReason.AUTO_REPLY, AutomatedReason.BOUNCE, AutomatedReason.MAILING_LIST])
async def test_automated_messages_are_never_acknowledged(clock, reason):
    sender = RecordingSender()
    notifier = make(clock, sender)
    msg = message(channel=Channel.EMAIL, automated=reason)
    [ack] = acks(list(await notifier.process(*intake_event(msg, INTAKE, 0))))
    assert (ack.outcome, ack.reason) == (AckOutcome.SUPPRESSED, "automated")
    clock.advance(3600 * 5)
    assert await notifier.tick() == []
    assert sender.sent == []


async def test_non_actionable_messages_are_recorded_and_not_acknowledged(clock):
    notifier = make(clock)
    msg = message()
    await notifier.process(*intake_event(msg, INTAKE, 0))
    [ack] = acks(list(await notifier.process(*routed_event(routed(msg, department=None), ROUTED, 0))))
    assert (ack.outcome, ack.reason) == (AckOutcome.SUPPRESSED, "non_actionable")
    clock.advance(60)
    assert await notifier.tick() == []


async def test_a_second_message_in_a_conversation_within_the_window_gets_no_second_ack(clock):
    notifier = make(clock)
    first, second = message(1), message(2, received_at=T0 + timedelta(minutes=2))
    await notifier.process(*intake_event(first, INTAKE, 0))
    assert chat_messages(list(await notifier.process(*routed_event(routed(first), ROUTED, 0))))
    clock.advance(120)
    outputs = list(await notifier.process(*intake_event(second, INTAKE, 1)))
    outputs += await notifier.process(*routed_event(routed(second), ROUTED, 1))
    [ack] = acks(outputs)
    assert (ack.outcome, ack.reason) == (AckOutcome.SUPPRESSED, "conversation_recently_acknowledged")
    assert chat_messages(outputs) == []


async def test_two_messages_routed_close_together_in_one_conversation_get_one_ack(clock):
    notifier = make(clock)
    first, second = message(1), message(2, received_at=T0 + timedelta(seconds=1))
    await notifier.process(*intake_event(first, INTAKE, 0))
    await notifier.process(*intake_event(second, INTAKE, 1))
    outputs = list(await notifier.process(*routed_event(routed(first), ROUTED, 0)))
    outputs += await notifier.process(*routed_event(routed(second), ROUTED, 1))
    assert len(chat_messages(outputs)) == 1
    assert [a.outcome for a in acks(outputs)] == [AckOutcome.SENT, AckOutcome.SUPPRESSED]


async def test_without_a_conversation_window_every_message_is_acknowledged_even_one_sent_before_the_last_ack(clock):
    notifier = make(clock, conversation_window="0s")
    first, second = message(1), message(2, received_at=T0 + timedelta(seconds=1))
    await notifier.process(*intake_event(first, INTAKE, 0))
    await notifier.process(*intake_event(second, INTAKE, 1))
    clock.advance(5)  # the first acknowledgement is recorded after the second message arrived
    outputs = list(await notifier.process(*routed_event(routed(first), ROUTED, 0)))
    outputs += await notifier.process(*routed_event(routed(second), ROUTED, 1))
    assert len(chat_messages(outputs)) == 2
    assert [a.outcome for a in acks(outputs)] == [AckOutcome.SENT, AckOutcome.SENT]


async def test_a_message_in_the_same_conversation_after_the_window_is_acknowledged_again(clock):
    notifier = make(clock, conversation_window="10m")
    first, later = message(1), message(2, received_at=T0 + timedelta(minutes=11))
    await notifier.process(*intake_event(first, INTAKE, 0))
    await notifier.process(*routed_event(routed(first), ROUTED, 0))
    clock.advance(660)
    await notifier.process(*intake_event(later, INTAKE, 1))
    assert chat_messages(list(await notifier.process(*routed_event(routed(later), ROUTED, 1))))


async def test_a_message_older_than_the_maximum_age_is_recorded_as_expired(clock):
    notifier = make(clock)
    clock.advance(25 * 3600)
    [ack] = acks(list(await notifier.process(*intake_event(message(), INTAKE, 0))))
    assert (ack.outcome, ack.reason) == (AckOutcome.SUPPRESSED, "expired")


async def test_messages_on_a_channel_without_a_sender_are_recorded_as_such(clock):
    notifier = make(clock)
    [ack] = acks(list(await notifier.process(*intake_event(message(channel=Channel.TELEGRAM), INTAKE, 0))))
    assert ack.reason == "no_sender_for_channel"


def test_state_read_back_from_ack_records_marks_messages_handled_and_conversations_acknowledged():
    from switchboard_common.events.models import AckRecord

    state = PartitionState()
    state.remember(
        AckRecord(
            event_id="a",
            message_event_id="m-1",
            conversation_id="c-1",
            channel=Channel.WEBCHAT,
            kind=AckKind.ACK,
            outcome=AckOutcome.SENT,
            received_at=T0,
            recorded_at=T0,
            latency_ms=1,
            sla_seconds=30,
            sla_met=True,
        )
    )
    assert "m-1" in state.handled
    assert state.conversation_acked_at["c-1"] == T0


async def test_the_generic_ack_speaks_the_language_the_customer_wrote_in(clock):
    notifier = make(clock)
    await notifier.process(*intake_event(message(text="我的訂單還沒到，請幫我查一下"), INTAKE, 0))
    clock.advance(16)
    [chat] = chat_messages(list(await notifier.tick()))
    assert chat.language is Language.ZH_HANT
    assert "案件編號" in chat.text


def test_retries_back_off_exponentially_with_jitter_and_honour_retry_after():
    from switchboard_notifier.delivery import retry_delay

    second = timedelta(seconds=1)
    cap = timedelta(minutes=5)
    assert retry_delay(1, second, cap, None, jitter=1.0) == second
    assert retry_delay(4, second, cap, None, jitter=1.0) == timedelta(seconds=8)
    assert retry_delay(4, second, cap, None, jitter=0.5) == timedelta(seconds=4)
    assert retry_delay(30, second, cap, None, jitter=1.0) == cap
    assert retry_delay(1, second, cap, 30.0, jitter=0.5) == timedelta(seconds=30)
    delays = {retry_delay(3, second, cap, None) for _ in range(50)}
    assert len(delays) > 1
    assert all(timedelta(seconds=2) <= d <= timedelta(seconds=4) for d in delays)
