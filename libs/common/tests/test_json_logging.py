import logging

import orjson

from switchboard_common.json_logging import JsonFormatter


def format_record(message: str, **extra) -> dict:
    record = logging.LogRecord("test", logging.INFO, __file__, 1, message, (), None)
    for key, value in extra.items():
        setattr(record, key, value)
    return orjson.loads(JsonFormatter("svc").format(record))


def test_log_lines_are_json_with_the_service_and_extra_fields():
    line = format_record("accepted", channel="webchat", count=3)
    assert line["service"] == "svc"
    assert line["message"] == "accepted"
    assert line["channel"] == "webchat"
    assert line["count"] == 3


def test_contact_details_are_masked_in_messages_and_fields():
    line = format_record("from jane.doe@example.com", caller="+86 138 0013 8000", nested={"email": "bob@example.org"})
    assert "jane.doe" not in line["message"]
    assert line["caller"] == "***8000"
    assert line["nested"]["email"] == "b***@example.org"
