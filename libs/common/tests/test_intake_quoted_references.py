"""Every intake's messages carry the case references the customer quoted, whatever the channel."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from switchboard_common.case_reference import IntakePosition, case_reference
from switchboard_common.events.models import (
    Channel,
    CustomerIdentity,
    IntakeMessage,
    MessageText,
    ReplyTarget,
    ThreadInfo,
)
from switchboard_common.intake import IntakePublisher, with_quoted_case_references
from switchboard_common.topics import TopicNames

FIRST = case_reference(IntakePosition(2, 1234))
SECOND = case_reference(IntakePosition(0, 7))


def message(text: str, *, subject: str | None = None, quoted: list[str] | None = None) -> IntakeMessage:
    return IntakeMessage(
        event_id="0b7f4f2e-4a52-4c1e-9a53-1f7f1e9d2c11",
        channel=Channel.WHATSAPP,
        channel_account="wa:1",
        received_at=datetime(2026, 3, 2, tzinfo=UTC),
        conversation_id="wa:1:cust",
        customer=CustomerIdentity(key="k", handle="+8613800138000"),
        reply_to=ReplyTarget(channel=Channel.WHATSAPP, account="wa:1", address="+8613800138000"),
        subject=subject,
        text=MessageText(original=text, plain=text, new_content=text),
        thread=ThreadInfo(quoted_case_references=quoted or []),
    )


def test_references_typed_loosely_in_the_text_and_subject_are_found_in_order():
    typed = FIRST.lower().replace("-", " ")
    found = with_quoted_case_references(message(f"any news on {typed}? also {SECOND}", subject=f"re {SECOND}"))
    assert found.thread.quoted_case_references == [SECOND, FIRST]


def test_a_mistyped_reference_is_not_quoted():
    mistyped = FIRST[:-1] + ("0" if FIRST[-1] != "0" else "1")
    assert with_quoted_case_references(message(f"case {mistyped}")).thread.quoted_case_references == []


def test_references_an_intake_found_itself_are_kept():
    kept = with_quoted_case_references(message(f"about {SECOND}", quoted=[FIRST]))
    assert kept.thread.quoted_case_references == [FIRST]


def test_the_record_every_intake_publishes_carries_the_quoted_references():
    publisher = IntakePublisher(producer=None, names=TopicNames("p."), service="intake-chat")  # type: ignore[arg-type]
    record = publisher.record(message(f"我的工单 {FIRST} 有进展吗"))
    assert orjson.loads(record.value)["thread"]["quoted_case_references"] == [FIRST]
