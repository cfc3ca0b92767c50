import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from switchboard_common.identity import SWITCHBOARD_NAMESPACE, customer_key, derived_event_id, event_id
from switchboard_common.text import language_from_locale, safe_plain_text


def test_the_same_provider_ids_always_give_the_same_event_id():
    assert event_id("slack", "T1", "Ev1") == event_id("slack", "T1", "Ev1")
    assert event_id("slack", "T1", "Ev1") != event_id("slack", "T1", "Ev2")


def test_ids_from_different_providers_never_collide_on_equal_provider_ids():
    assert event_id("slack", "X") != event_id("telegram", "X")


def test_joining_parts_cannot_be_confused_by_where_the_separator_falls():
    assert event_id("k", "a", "bc") != event_id("k", "ab", "c")


def test_derived_ids_are_stable_and_differ_per_stage():
    source = event_id("webchat", "c", "m")
    assert derived_event_id(source, "classified") == derived_event_id(source, "classified")
    assert derived_event_id(source, "classified") != derived_event_id(source, "routed")


@given(st.text(), st.text(min_size=1))
def test_event_ids_are_rfc4122_version_5_uuids(kind: str, part: str) -> None:
    name = "\x1f".join((kind, part.replace("\x1f", " ")))
    assert event_id(kind, part) == str(uuid.uuid5(SWITCHBOARD_NAMESPACE, name))


@given(st.uuids(), st.text(), st.sampled_from([str, lambda u: str(u).upper(), lambda u: u.hex, lambda u: f"{{{u}}}"]))
def test_derived_ids_are_the_version_5_uuid_of_the_stage_under_the_source_id(source, stage, spelling) -> None:
    assert derived_event_id(spelling(source), stage) == str(uuid.uuid5(source, stage))


@pytest.mark.parametrize("text", ["", "not-a-uuid", "12345678-1234-1234-1234-12345678 0ab", "g" * 36])
def test_a_source_id_that_is_no_uuid_is_refused_as_before(text: str) -> None:
    with pytest.raises(ValueError, match=r"hexadecimal|base 16"):
        derived_event_id(text, "classified")


def test_customer_keys_ignore_case_and_surrounding_space_of_the_handle():
    assert customer_key("email", " Jane@Example.com ") == customer_key("email", "jane@example.com")
    assert customer_key("email", "jane@example.com").startswith("cust_")


def test_safe_plain_text_removes_control_and_direction_override_characters():
    text, truncated = safe_plain_text("pay\u202eevil\x00 now\r\n\r\n\r\n\r\nok")
    assert text == "payevil now\n\nok"
    assert truncated is False


def test_safe_plain_text_reports_truncation():
    text, truncated = safe_plain_text("x" * 20, max_chars=5)
    assert (text, truncated) == ("xxxxx", True)


def test_locales_map_to_the_gateway_languages():
    assert language_from_locale("zh-CN,zh;q=0.9") == "zh-Hans"
    assert language_from_locale("zh-TW") == "zh-Hant"
    assert language_from_locale("zh_Hant_HK") == "zh-Hant"
    assert language_from_locale("en-GB") == "en"
    assert language_from_locale("fr-FR") is None


def test_conversation_keys_are_stable_and_reveal_no_contact_details():
    from switchboard_common.identity import conversation_key

    key = conversation_key("phone", "+18005550123", "+14155550100")
    assert key == conversation_key("phone", "+18005550123", "+14155550100")
    assert key.startswith("phone_")
    assert "4155550100" not in key
    assert key != conversation_key("phone", "+18005550123", "+14155550101")
