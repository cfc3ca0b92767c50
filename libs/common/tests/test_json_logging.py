import logging

import orjson

from switchboard_common.json_logging import JsonFormatter, Throttled


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


def test_a_throttled_warning_is_logged_once_per_interval_and_says_how_often_it_repeated(caplog):
    now = [0.0]
    logger = logging.getLogger("switchboard.test.throttled")
    warn = Throttled(logger, interval=10.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="switchboard.test.throttled"):
        for step in range(100):  # 0.0 to 9.9 s: the first is logged, 99 counted
            now[0] = step / 10
            warn.warning("answering 503", path="/webchat/messages", step=step)
        now[0] = 10.0
        warn.warning("answering 503", path="/webchat/messages", step=100)
        now[0] = 25.0
        warn.warning("answering 503", path="/webchat/messages", step=101)
    records = [r for r in caplog.records if r.name == "switchboard.test.throttled"]
    assert [r.step for r in records] == [0, 100, 101]  # type: ignore[attr-defined]
    assert not hasattr(records[0], "repeated")
    assert records[1].repeated == 99  # type: ignore[attr-defined]
    assert not hasattr(records[2], "repeated")
