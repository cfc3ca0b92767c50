"""Property-based tests: the normalisers and the routing rules hold their promises for any input.

Normalisers take whatever providers and customers send; for any payload they either produce valid
events or say why not, and never raise anything else. Routing always names a known department (or
none, for what is only recorded) and honours its precedence rules whatever the classification.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from switchboard_common.case_reference import (
    MAX_PARTITIONS,
    IntakePosition,
    case_reference,
    find_case_references,
    parse_case_reference,
)
from switchboard_common.events import CHAT_OUTBOUND, ConsumedRecord, InvalidMessage, decode_event
from switchboard_common.events.models import (
    Channel,
    Classification,
    Entities,
    IntakeMessage,
    Language,
    MessageKind,
    MessageTopic,
    MessageType,
    Money,
    Priority,
    Sentiment,
)
from switchboard_common.pii import EMAIL_PATTERN, mask_text
from switchboard_common.routing import MessageFacts, escalation_reasons, load_routing_config, route
from switchboard_common.text import safe_plain_text
from switchboard_intake_chat.providers.line import LineSettings, normalise_event
from switchboard_intake_chat.providers.meta import normalise_meta_payload
from switchboard_intake_chat.providers.slack import SlackSettings, normalise_slack_payload
from switchboard_intake_chat.providers.telegram import normalise_telegram_update
from switchboard_intake_chat.providers.wechat import Account, normalise_push
from switchboard_intake_chat.webchat.normalise import normalise_webchat
from switchboard_intake_chat.webchat.protocol import ChatMessageIn

NOW = datetime(2026, 11, 24, tzinfo=UTC)
CONFIG = load_routing_config()
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# JSON documents of any shape, with keys drawn from the ones providers use, so that the interesting
# branches are reached, not only "unknown type".
PROVIDER_KEYS = st.sampled_from(
    [
        "type",
        "event",
        "event_id",
        "team_id",
        "channel",
        "user",
        "text",
        "ts",
        "thread_ts",
        "subtype",
        "bot_id",
        "files",
        "object",
        "entry",
        "changes",
        "value",
        "messages",
        "statuses",
        "from",
        "id",
        "timestamp",
        "messaging",
        "sender",
        "recipient",
        "message",
        "mid",
        "update_id",
        "edited_message",
        "chat",
        "message_id",
        "date",
        "caption",
        "photo",
        "document",
        "location",
        "source",
        "userId",
        "webhookEventId",
        "replyToken",
        "deliveryContext",
        "isRedelivery",
        "mode",
        "contacts",
        "profile",
        "name",
        "interactive",
        "button_reply",
    ]
)
JSON_LEAVES = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
JSON = st.recursive(
    JSON_LEAVES,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(PROVIDER_KEYS | st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=30,
)
DOCUMENTS = st.dictionaries(PROVIDER_KEYS, JSON, max_size=8)


def valid_event(outcome: Any) -> None:
    if isinstance(outcome, IntakeMessage):
        IntakeMessage.model_validate(outcome.model_dump(mode="json"))
        assert outcome.event_id
        assert outcome.conversation_id


# -- web chat ------------------------------------------------------------------------------------


@SETTINGS
@given(text=st.text(min_size=1, max_size=300), client_id=st.from_regex(r"[A-Za-z0-9_.:-]{1,64}", fullmatch=True))
def test_any_chat_text_becomes_safe_plain_text_with_a_deterministic_event_id(text: str, client_id: str) -> None:
    message = ChatMessageIn(id=client_id, text=text)
    first = normalise_webchat(message, conversation_id="wc_x", channel_account="a", received_at=NOW, max_text_chars=200)
    again = normalise_webchat(message, conversation_id="wc_x", channel_account="a", received_at=NOW, max_text_chars=200)
    assert first.event_id == again.event_id
    assert len(first.text.plain) <= 200
    assert not any(ord(ch) < 32 and ch not in "\n\t" for ch in first.text.plain)
    assert "\u202e" not in first.text.plain
    assert first.text.plain == safe_plain_text(first.text.plain)[0]


# -- provider webhooks -----------------------------------------------------------------------------


@SETTINGS
@given(payload=DOCUMENTS)
def test_any_slack_payload_is_normalised_or_recorded_never_raises(payload: dict[str, Any]) -> None:
    settings_ = SlackSettings(signing_secret=SecretStr("s"))
    outcome = normalise_slack_payload(payload, received_at=NOW, settings=settings_)
    for item in outcome if isinstance(outcome, list) else []:
        valid_event(item)


@SETTINGS
@given(payload=DOCUMENTS, product=st.sampled_from([None, "whatsapp_business_account", "page"]))
def test_any_meta_payload_is_normalised_or_recorded_never_raises(payload: dict[str, Any], product: str | None) -> None:
    for item in normalise_meta_payload(payload, expected_object=product, received_at=NOW, max_text_chars=500):
        valid_event(item)


@SETTINGS
@given(update=DOCUMENTS)
def test_any_telegram_update_is_normalised_or_recorded_never_raises(update: dict[str, Any]) -> None:
    valid_event(normalise_telegram_update(update, account="bot", received_at=NOW, max_text_chars=500))


@SETTINGS
@given(event=DOCUMENTS)
def test_any_line_event_is_normalised_or_recorded_never_raises(event: dict[str, Any]) -> None:
    settings_ = LineSettings(channel_secret=SecretStr("s"))
    valid_event(normalise_event("U0destination", event, settings_, NOW))


@SETTINGS
@given(
    fields=st.dictionaries(
        st.sampled_from(
            [
                "ToUserName",
                "FromUserName",
                "CreateTime",
                "MsgType",
                "Content",
                "MsgId",
                "PicUrl",
                "MediaId",
                "Recognition",
                "Format",
                "Location_X",
                "Location_Y",
                "Label",
                "Title",
                "Url",
                "Event",
                "EventKey",
                "Token",
                "OpenKfId",
            ]
        ),
        st.text(max_size=30),
        max_size=10,
    )
)
def test_any_wechat_push_is_normalised_or_recorded_never_raises(fields: dict[str, str]) -> None:
    account = Account(channel=Channel.WECHAT, account="wx0001", language=Language.ZH_HANS)
    valid_event(normalise_push(fields, account, NOW))


@SETTINGS
@given(
    headers=st.dictionaries(
        st.sampled_from(["ce_specversion", "ce_type", "ce_id", "ce_source", "ce_time", "content-type", "x"]),
        st.binary(max_size=40),
        max_size=7,
    ),
    value=st.none() | st.binary(max_size=200),
)
def test_any_record_on_a_topic_decodes_or_is_refused_with_a_reason(
    headers: dict[str, bytes], value: bytes | None
) -> None:
    try:
        decode_event(ConsumedRecord("t", 0, 0, b"k", value, headers, 0), [CHAT_OUTBOUND])
    except InvalidMessage as exc:
        assert exc.reason  # noqa: PT017  (any other exception fails the test)


# -- case references and masking -------------------------------------------------------------------


@SETTINGS
@given(partition=st.integers(0, MAX_PARTITIONS - 1), offset=st.integers(0, 2**50 - 1))
def test_every_intake_position_round_trips_through_its_case_reference(partition: int, offset: int) -> None:
    position = IntakePosition(partition, offset)
    assert parse_case_reference(case_reference(position)) == position


@SETTINGS
@given(
    partition=st.integers(0, 63),
    offset=st.integers(0, 10**9),
    before=st.text(max_size=30),
    after=st.text(max_size=30),
)
def test_a_quoted_reference_is_found_whatever_surrounds_it(
    partition: int, offset: int, before: str, after: str
) -> None:
    reference = case_reference(IntakePosition(partition, offset))
    assume(not before[-1:].isascii() or not before[-1:].isalnum())
    assume(not after[:1].isascii() or not after[:1].isalnum())
    assert reference in find_case_references(f"{before}{reference}{after}")


@SETTINGS
@given(
    local=st.from_regex(r"[a-z0-9][a-z0-9._]{0,15}", fullmatch=True),
    domain=st.from_regex(r"[a-z0-9]{1,10}\.(com|org|cn|com\.tw)", fullmatch=True),
    before=st.text(max_size=20),
    after=st.text(max_size=20),
)
def test_an_email_address_anywhere_in_text_is_masked_and_masking_is_stable(
    local: str, domain: str, before: str, after: str
) -> None:
    address = f"{local}@{domain}"
    assume(not before[-1:].isascii() or not (before[-1:].isalnum() or before[-1:] in "._%+-"))
    assume(not after[:1].isascii() or not (after[:1].isalnum() or after[:1] in "-"))
    masked = mask_text(f"{before} {address} {after}")
    assert f"{local[0]}***@{domain}" in masked
    assert not [m for m in EMAIL_PATTERN.finditer(masked) if "***@" not in m.group(0)]
    assert mask_text(masked) == masked


# -- routing ---------------------------------------------------------------------------------------

CLASSIFICATIONS = st.builds(
    Classification,
    language=st.sampled_from(Language),
    type=st.sampled_from(MessageType),
    topic=st.sampled_from(MessageTopic),
    priority=st.sampled_from(Priority),
    sentiment=st.builds(Sentiment, score=st.floats(-1, 1), anger=st.booleans(), stated_urgency=st.booleans()),
    entities=st.builds(
        Entities,
        amounts=st.lists(
            st.builds(Money, amount=st.decimals(0, 100_000, places=2).map(Decimal), currency=st.just("CNY")),
            max_size=3,
        ),
    ),
    masked_text=st.just("..."),
    confidence=st.floats(0, 1),
    model=st.just("property"),
)
FACTS = st.builds(
    MessageFacts,
    channel=st.sampled_from(Channel),
    kind=st.sampled_from(MessageKind),
    hint=st.none() | st.sampled_from(["orders", "billing", "tech_support", "not-a-team"]),
    automated=st.booleans(),
)
ROUTABLE_KINDS = [k for k in MessageKind if k is not MessageKind.SATISFACTION_RESPONSE]
CHOSEN_TEAM_FACTS = st.builds(
    MessageFacts,
    channel=st.sampled_from(Channel),
    kind=st.sampled_from(ROUTABLE_KINDS),
    hint=st.sampled_from(["orders", "billing", "tech_support"]),
    automated=st.just(False),
)


def _not_routed(classification: Classification, facts: MessageFacts) -> bool:
    """Automated mail, non-actionable text and answers to a satisfaction survey reach no team."""
    return (
        facts.automated
        or classification.type is MessageType.NON_ACTIONABLE
        or facts.kind is MessageKind.SATISFACTION_RESPONSE
    )


@SETTINGS
@given(classification=CLASSIFICATIONS, facts=FACTS)
def test_routing_always_names_a_known_department_or_none(classification: Classification, facts: MessageFacts) -> None:
    decision = route(CONFIG, classification, facts)
    if _not_routed(classification, facts):
        assert decision.department is None
    else:
        assert decision.department in CONFIG.departments()


@SETTINGS
@given(classification=CLASSIFICATIONS, facts=CHOSEN_TEAM_FACTS)
def test_a_team_chosen_by_the_customer_wins_whatever_the_classification(
    classification: Classification, facts: MessageFacts
) -> None:
    assume(not _not_routed(classification, facts))
    assert route(CONFIG, classification, facts).department == facts.hint


@SETTINGS
@given(classification=CLASSIFICATIONS, facts=FACTS)
def test_below_the_confidence_threshold_only_the_customers_choice_or_triage_route(
    classification: Classification, facts: MessageFacts
) -> None:
    assume(classification.confidence < CONFIG.min_confidence)
    assume(not _not_routed(classification, facts))
    assert route(CONFIG, classification, facts).department in {CONFIG.fallback_department, facts.hint}


@SETTINGS
@given(classification=CLASSIFICATIONS, earlier=st.integers(0, 5))
def test_escalation_reasons_follow_the_policy(classification: Classification, earlier: int) -> None:
    reasons = {r.value for r in escalation_reasons(CONFIG, classification, earlier_complaints_in_conversation=earlier)}
    complaint = classification.type is MessageType.COMPLAINT
    high_value = complaint and any(m.amount > 500 for m in classification.entities.amounts)
    assert ("high_value_complaint" in reasons) == high_value
    assert ("repeated_complaint" in reasons) == (complaint and earlier >= 1)
    assert ("urgent_priority" in reasons) == (classification.priority is Priority.URGENT)
    assert ("anger" in reasons) == classification.sentiment.anger
