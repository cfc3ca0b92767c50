from datetime import UTC, datetime

import orjson
import pytest

from switchboard_common.events import (
    CHAT_OUTBOUND,
    MESSAGE_RECEIVED,
    ConsumedRecord,
    InvalidMessage,
    decode_event,
    encode_event,
)
from switchboard_common.events.envelope import new_traceparent, trace_id_of
from switchboard_common.events.models import AckKind, ChatOutbound, IntakeMessage

INTAKE_JSON = (
    b'{"event_id":"c78a5e46-4d44-5448-ba8e-48dea1108be7","channel":"webchat","channel_account":"webchat:demo",'
    b'"received_at":"2026-11-24T14:22:49.960368Z","conversation_id":"wc_1","customer":{"key":"cust_1","handle":"wc_1"},'
    b'"reply_to":{"channel":"webchat","account":"webchat:demo","address":"wc_1"},'
    b'"text":{"original":"hello","plain":"hello","new_content":"hello"}}'
)


def outbound() -> ChatOutbound:
    return ChatOutbound(message_id="m-1", conversation_id="c-1", kind=AckKind.ACK, text="hi", sent_at=datetime.now(UTC))


def consumed(record) -> ConsumedRecord:
    return ConsumedRecord(record.topic, 0, 7, record.key, record.value, dict(record.headers), 0)


def test_an_event_travels_as_cloudevents_binary_mode_headers_with_a_json_value():
    record = encode_event(
        CHAT_OUTBOUND, topic="chat.outbound.v1", event_id="m-1", source="test", key="c-1", data=outbound()
    )
    headers = dict(record.headers)
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_type"] == b"switchboard.chat.outbound.v1"
    assert headers["ce_id"] == b"m-1"
    assert headers["content-type"] == b"application/json"
    assert record.key == b"c-1"
    assert decode_event(consumed(record), [CHAT_OUTBOUND]).data == outbound().model_copy(
        update={"sent_at": decode_event(consumed(record), [CHAT_OUTBOUND]).data.sent_at}
    )


def test_a_field_given_verbatim_is_written_as_given_and_reads_back_the_same():
    data = outbound()
    whole = encode_event(CHAT_OUTBOUND, topic="t", event_id="m-1", source="s", key="c-1", data=data)
    # As another producer may have written it: other spacing, and a key this version does not know.
    given = b' { "text" :  "hi", "added_by_a_newer_version": [1, 2] } '
    spliced = encode_event(
        CHAT_OUTBOUND, topic="t", event_id="m-1", source="s", key="c-1", data=data, verbatim={"text": given}
    )
    as_json = orjson.loads(spliced.value)
    assert as_json["text"] == {"text": "hi", "added_by_a_newer_version": [1, 2]}
    assert {k: v for k, v in as_json.items() if k != "text"} == {
        k: v for k, v in orjson.loads(whole.value).items() if k != "text"
    }
    assert spliced.headers[:3] == whole.headers[:3] and spliced.key == whole.key


def test_a_model_whose_only_field_is_verbatim_is_still_one_json_object():
    record = encode_event(
        MESSAGE_RECEIVED,
        topic="t",
        event_id="x",
        source="s",
        key="k",
        data=IntakeMessage.model_validate_json(INTAKE_JSON),
        verbatim={name: orjson.dumps(value) for name, value in orjson.loads(INTAKE_JSON).items()},
    )
    assert IntakeMessage.model_validate_json(record.value) == IntakeMessage.model_validate_json(INTAKE_JSON)


def test_the_trace_continues_across_a_hop():
    parent = new_traceparent()
    record = encode_event(
        CHAT_OUTBOUND, topic="t", event_id="m-1", source="s", key="c", data=outbound(), traceparent=parent
    )
    child = dict(record.headers)["traceparent"].decode()
    assert trace_id_of(child) == trace_id_of(parent)
    assert child != parent


def test_data_of_the_wrong_model_cannot_be_encoded_under_a_type():
    with pytest.raises(TypeError):
        encode_event(MESSAGE_RECEIVED, topic="t", event_id="x", source="s", key="k", data=outbound())


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda h, v: (h | {"ce_specversion": b"0.3"}, v), "unsupported ce_specversion"),
        (lambda h, v: (h | {"ce_type": b"other.v1"}, v), "unexpected ce_type"),
        (lambda h, v: ({k: x for k, x in h.items() if k != "ce_id"}, v), "missing ce_id"),
        (lambda h, v: (h, b"[1, 2"), "not valid JSON"),
        (lambda h, v: (h, b'{"message_id": 5}'), "does not match ChatOutbound"),
        (lambda h, v: (h | {"content-type": b"text/xml"}, v), "unsupported content-type"),
        (lambda h, v: (h, None), "tombstone"),
    ],
)
def test_invalid_records_are_refused_with_a_reason(mutate, reason):
    record = encode_event(CHAT_OUTBOUND, topic="t", event_id="m-1", source="s", key="c", data=outbound())
    headers, value = mutate(dict(record.headers), record.value)
    with pytest.raises(InvalidMessage, match=reason):
        decode_event(ConsumedRecord("t", 0, 0, b"c", value, headers, 0), [CHAT_OUTBOUND])
