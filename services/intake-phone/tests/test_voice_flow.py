"""The IVR as TwiML: greeting in the caller's language, menus, transfer or voicemail; choices in the URLs."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree

import pytest
import yaml

from switchboard_common.events.models import Language
from switchboard_intake_phone.ivr import IvrConfig, IvrConfigError, load_ivr_config
from switchboard_intake_phone.voice_flow import STEP_LANGUAGE, STEP_TEAM, CallbackUrls, VoiceFlow

URLS = CallbackUrls("https://phone.example.com/v1/phone/twilio")
PACKAGED = Path(__file__).parents[1] / "src/switchboard_intake_phone/config/ivr.yaml"


def packaged_document() -> dict:
    return yaml.safe_load(PACKAGED.read_text("utf-8"))


def ivr_with(**changes) -> IvrConfig:
    return IvrConfig.model_validate(packaged_document() | changes)


def parse(twiml: str) -> ElementTree.Element:
    assert twiml.startswith('<?xml version="1.0" encoding="UTF-8"?><Response')
    return ElementTree.fromstring(twiml)  # noqa: S314


def query(url: str | None) -> dict[str, str]:
    assert url is not None
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def says(element: ElementTree.Element) -> list[tuple[str | None, str | None]]:
    return [(say.get("language"), say.text) for say in element.iter("Say")]


FLOW = VoiceFlow(load_ivr_config())


def test_a_caller_from_china_is_greeted_in_simplified_chinese():
    document = parse(FLOW.incoming_call(URLS, called="+18005550123", caller_country="CN"))
    gather = document.find("Gather")
    assert gather is not None
    assert says(gather)[0] == ("cmn-CN", "感谢您致电客户服务中心。")
    assert query(gather.get("action")) == {"step": "language", "lang": "zh-Hans", "attempt": "1"}


def test_a_caller_from_elsewhere_is_greeted_in_the_default_language():
    document = parse(FLOW.incoming_call(URLS, called="+18005550123", caller_country="DE"))
    assert says(document)[0] == ("en-US", "Thank you for calling customer service.")


def test_a_number_can_have_its_own_greeting_language():
    flow = VoiceFlow(ivr_with(numbers={"+85230001234": {"language": "zh-Hant"}}))
    document = parse(flow.incoming_call(URLS, called="+85230001234", caller_country="US"))
    assert says(document)[0] == ("cmn-TW", "感謝您致電客戶服務中心。")


def test_the_language_menu_offers_each_language_in_its_own_voice():
    document = parse(FLOW.incoming_call(URLS, called=None, caller_country=None))
    options = says(document)[1:]
    assert options == [
        ("en-US", "For English, press 1."),
        ("cmn-CN", "普通话服务请按2。"),
        ("cmn-TW", "繁體中文服務請按3。"),
    ]
    gather = document.find("Gather")
    assert gather is not None
    assert gather.get("numDigits") == "1" and gather.get("actionOnEmptyResult") == "true"


@pytest.mark.parametrize(
    ("key", "language", "voice", "first_option"),
    [
        ("1", "en", "en-US", "For orders, press 1."),
        ("2", "zh-Hans", "cmn-CN", "订单请按1。"),
        ("3", "zh-Hant", "cmn-TW", "訂單請按1。"),
    ],
)
def test_choosing_a_language_plays_the_team_menu_in_it(key, language, voice, first_option):
    document = parse(FLOW.menu_choice(URLS, step=STEP_LANGUAGE, language=Language.EN, attempt=1, digits=key))
    gather = document.find("Gather")
    assert gather is not None
    assert says(gather)[0] == (voice, first_option)
    assert len(says(gather)) == 5
    assert query(gather.get("action")) == {"step": "team", "lang": language, "attempt": "1"}


def test_an_invalid_key_says_so_and_plays_the_menu_again():
    document = parse(FLOW.menu_choice(URLS, step=STEP_TEAM, language=Language.ZH_HANS, attempt=1, digits="9"))
    gather = document.find("Gather")
    assert gather is not None
    assert says(gather)[0] == ("cmn-CN", "对不起，您的选择无效。")
    assert query(gather.get("action"))["attempt"] == "2"


def test_no_key_on_the_last_attempt_goes_to_the_default_destination():
    document = parse(FLOW.menu_choice(URLS, step=STEP_TEAM, language=Language.EN, attempt=2, digits=""))
    record = document.find("Record")
    assert record is not None
    assert query(record.get("action")) == {"lang": "en"}  # no team chosen


def test_no_language_chosen_keeps_the_greeting_language():
    document = parse(FLOW.menu_choice(URLS, step=STEP_LANGUAGE, language=Language.ZH_HANT, attempt=2, digits=""))
    gather = document.find("Gather")
    assert gather is not None
    assert query(gather.get("action"))["lang"] == "zh-Hant"


def test_a_team_without_a_transfer_records_a_voicemail_with_transcription():
    document = parse(FLOW.menu_choice(URLS, step=STEP_TEAM, language=Language.ZH_HANS, attempt=1, digits="2"))
    assert says(document)[0] == ("cmn-CN", "请在提示音后留言，并留下您的订单号。留言结束后请按井号键。")
    record = document.find("Record")
    assert record is not None
    assert record.get("transcribe") == "true"
    assert record.get("maxLength") == "120"
    for attribute in ("action", "recordingStatusCallback", "transcribeCallback"):
        assert query(record.get(attribute)) == {"lang": "zh-Hans", "team": "logistics"}
    assert urlsplit(record.get("transcribeCallback")).path == "/v1/phone/twilio/voice/transcription"
    assert document.find("Hangup") is not None  # after a silent recording


def test_a_team_with_a_number_is_transferred_and_learns_how_the_transfer_ended():
    flow = VoiceFlow(ivr_with(destinations={"orders": {"transfer": {"number": "+18005550101", "timeout_seconds": 25}}}))
    document = parse(flow.menu_choice(URLS, step=STEP_TEAM, language=Language.EN, attempt=1, digits="1"))
    assert says(document) == [("en-US", "Connecting you to our orders team.")]
    dial = document.find("Dial")
    assert dial is not None
    assert dial.get("timeout") == "25"
    assert dial.findtext("Number") == "+18005550101"
    assert query(dial.get("action")) == {"lang": "en", "team": "orders"}


def test_a_team_with_a_queue_is_enqueued():
    flow = VoiceFlow(ivr_with(destinations={"billing": {"transfer": {"queue": "billing"}}}))
    document = parse(flow.menu_choice(URLS, step=STEP_TEAM, language=Language.EN, attempt=1, digits="4"))
    enqueue = document.find("Enqueue")
    assert enqueue is not None and enqueue.text == "billing"
    assert query(enqueue.get("action"))["team"] == "billing"


def test_an_unanswered_transfer_falls_back_to_voicemail():
    document = parse(FLOW.transfer_ended(URLS, language=Language.ZH_HANT, team="billing", answered=False))
    assert says(document)[0] == ("cmn-TW", "對不起，目前沒有客服人員可以接聽您的電話。")
    assert document.find("Record") is not None


def test_an_answered_transfer_ends_the_call():
    document = parse(FLOW.transfer_ended(URLS, language=Language.EN, team="orders", answered=True))
    assert [child.tag for child in document] == ["Hangup"]


def test_prompts_are_escaped_in_the_xml():
    document = packaged_document()
    document["languages"]["en"]["texts"]["greeting"] = 'Hi <Hangup/> & "welcome"'
    flow = VoiceFlow(IvrConfig.model_validate(document))
    twiml = flow.incoming_call(URLS, called=None, caller_country=None)
    assert "<Hangup" not in twiml
    assert says(parse(twiml))[0][1] == 'Hi <Hangup/> & "welcome"'


def test_the_packaged_ivr_file_is_valid():
    ivr = load_ivr_config()
    assert set(ivr.team_menu.values()) == {"orders", "logistics", "after_sales", "billing", "tech_support"}
    assert set(ivr.language_menu.values()) == {Language.EN, Language.ZH_HANS, Language.ZH_HANT}


def test_an_ivr_file_missing_a_prompt_is_rejected_with_the_reason(tmp_path):
    document = packaged_document()
    del document["languages"]["zh-Hant"]["texts"]["voicemail_prompt"]
    path = tmp_path / "ivr.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True))
    with pytest.raises(IvrConfigError, match="zh-Hant: text 'voicemail_prompt' missing"):
        load_ivr_config(path)


def test_an_ivr_file_with_a_destination_for_an_unknown_team_is_rejected():
    with pytest.raises(ValueError, match="'sales' is not a team"):
        ivr_with(destinations={"sales": {}})


def test_an_ivr_file_with_a_key_that_is_not_on_a_keypad_is_rejected():
    with pytest.raises(ValueError, match="not one keypad key"):
        ivr_with(team_menu={"12": "orders"})


def test_a_transfer_names_exactly_one_target():
    with pytest.raises(ValueError, match="exactly one"):
        ivr_with(destinations={"orders": {"transfer": {"number": "+18005550101", "queue": "q"}}})
