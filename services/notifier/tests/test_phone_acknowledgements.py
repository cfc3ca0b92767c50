"""Acknowledgements of phone contacts: short SMS texts per kind of contact, in the caller's chosen language."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from notifier_support import T0, Clock, StaticOrigins, intake_event, message, routed, routed_event

from switchboard_common.events.models import Channel, Language, MessageKind, RoutingHints
from switchboard_common.settings import KafkaSettings
from switchboard_notifier.channels import Delivery, Notification, SenderRegistry
from switchboard_notifier.processor import NotifierProcessor
from switchboard_notifier.settings import NotifierSettings
from switchboard_notifier.templates import AckContent, AckTemplates

INTAKE, ROUTED = "p.intake.messages.v1", "p.intake.routed.v1"
TEMPLATES = AckTemplates.load()


@dataclass
class SmsOutbox:
    channels: frozenset[Channel] = frozenset({Channel.SMS, Channel.PHONE})
    sent: list[Notification] = field(default_factory=list)

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def deliver(self, notification: Notification) -> Delivery:
        self.sent.append(notification)
        return Delivery(provider_id="SM1")


def phone_message(kind: MessageKind, *, chosen: Language | None = None, text: str = "my parcel is late"):
    base = message(channel=Channel.PHONE, text=text)
    return base.model_copy(
        update={
            "kind": kind,
            "reply_to": base.reply_to.model_copy(update={"channel": Channel.SMS, "address": "+14155550100"}),
            "routing_hints": RoutingHints(department="logistics", language=chosen),
        }
    )


async def acknowledge(msg, classified_as: Language = Language.EN) -> Notification:
    outbox = SmsOutbox()
    notifier = NotifierProcessor(
        NotifierSettings(kafka=KafkaSettings(topic_prefix="p.")),
        TEMPLATES,
        SenderRegistry([outbox]),
        StaticOrigins(),
        clock=Clock(T0),
    )
    await notifier.process(*intake_event(msg, INTAKE, 0))
    await notifier.process(*routed_event(routed(msg, language=classified_as), ROUTED, 0))
    [sent] = outbox.sent
    return sent


async def test_a_voicemail_is_acknowledged_as_a_voicemail():
    sent = await acknowledge(phone_message(MessageKind.VOICEMAIL))
    assert sent.text == (
        "Hello, we received your voicemail. Case SB-TST-REF-001: "
        "our Logistics team will get back to you within 24 hours."
    )


async def test_a_missed_call_is_acknowledged_with_a_promise_to_call_back():
    sent = await acknowledge(phone_message(MessageKind.CALLBACK_REQUEST))
    assert sent.text.startswith("Sorry we missed your call. Case SB-TST-REF-001")
    assert "call you back within 24 hours" in sent.text


async def test_the_language_the_caller_chose_in_the_menu_wins_over_the_transcripts():
    sent = await acknowledge(phone_message(MessageKind.VOICEMAIL, chosen=Language.ZH_HANS), Language.EN)
    assert sent.language is Language.ZH_HANS
    assert sent.text == "您好！已收到您的语音留言，工单号 SB-TST-REF-001，物流团队将在24小时内回复。"


@pytest.mark.parametrize("language", [Language.EN, Language.ZH_HANS, Language.ZH_HANT])
@pytest.mark.parametrize("key", ["ack", "generic_ack", "ack_voicemail", "ack_callback_request"])
def test_sms_acknowledgements_fit_one_or_two_segments_and_carry_reference_team_and_time(language, key):
    content = AckContent(
        case_reference="SB-78T-JAF-TKG",
        department="tech_support",
        topic=None,
        response_time=timedelta(hours=24),
    )
    text = TEMPLATES.render(key, language, content, Channel.SMS)
    assert "SB-78T-JAF-TKG" in text
    assert ("24" in text) and (key.startswith("generic") or TEMPLATES.department_name(language, "tech_support") in text)
    limit = 160 if language is Language.EN else 70  # GSM-7 and UCS-2 single segments
    assert len(text) <= 2 * limit
