from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from switchboard_common.events.models import Channel, Language, MessageTopic
from switchboard_notifier.templates import AckContent, AckTemplates, TemplateError

TEMPLATES = AckTemplates.load()
CONTENT = AckContent(
    case_reference="SB-7K3-M9Q-XDZ",
    department="logistics",
    topic=MessageTopic.LOGISTICS,
    response_time=timedelta(hours=24),
    customer_name=None,
)


def test_the_english_acknowledgement_names_the_case_team_and_response_time():
    text = TEMPLATES.render("ack", Language.EN, CONTENT)
    assert "SB-7K3-M9Q-XDZ" in text
    assert "Logistics team" in text
    assert "within 24 hours" in text
    assert text.startswith("Hello,")


def test_simplified_chinese_has_no_stray_spaces_between_characters():
    text = TEMPLATES.render("ack", Language.ZH_HANS, CONTENT)
    assert "工单号是 SB-7K3-M9Q-XDZ。" in text
    assert "物流团队" in text
    assert "24小时内" in text
    assert "。 " not in text


def test_traditional_chinese_uses_its_own_wording():
    text = TEMPLATES.render("ack", Language.ZH_HANT, CONTENT)
    assert "案件編號" in text
    assert "物流團隊" in text


def test_a_named_customer_is_greeted_by_name():
    text = TEMPLATES.render("ack", Language.EN, replace(CONTENT, customer_name="Jane"))
    assert text.startswith("Hello Jane,")


def test_the_generic_acknowledgement_carries_the_case_reference_without_a_team():
    text = TEMPLATES.render("generic_ack", Language.EN, replace(CONTENT, department=None))
    assert "SB-7K3-M9Q-XDZ" in text
    assert "team" in text


@pytest.mark.parametrize(
    ("duration", "phrase"),
    [
        (timedelta(minutes=30), "30 minutes"),
        (timedelta(hours=1), "1 hour"),
        (timedelta(hours=2), "2 hours"),
        (timedelta(hours=48), "48 hours"),
        (timedelta(days=5), "5 days"),
    ],
)
def test_response_times_read_naturally(duration, phrase):
    assert TEMPLATES.response_time(Language.EN, duration) == phrase


def test_languages_without_templates_fall_back_to_the_default():
    assert TEMPLATES.pick_language(Language.UND, None) == Language.EN
    assert TEMPLATES.pick_language(None, Language.ZH_HANT) == Language.ZH_HANT


def test_a_guessed_language_is_worked_out_only_when_no_candidate_has_templates():
    asked: list[str] = []

    def guess(language: Language) -> Callable[[], Language]:
        def otherwise() -> Language:
            asked.append(language.value)
            return language

        return otherwise

    assert TEMPLATES.pick_language(None, Language.ZH_HANS, otherwise=guess(Language.ZH_HANT)) == Language.ZH_HANS
    assert asked == []
    assert TEMPLATES.pick_language(Language.UND, None, otherwise=guess(Language.ZH_HANT)) == Language.ZH_HANT
    assert TEMPLATES.pick_language(None, otherwise=guess(Language.UND)) == Language.EN
    assert asked == ["zh-Hant", "und"]


def test_a_channel_variant_overrides_the_text_for_that_channel(tmp_path: Path):
    source = (Path(__file__).parents[1] / "src/switchboard_notifier/config/templates.yaml").read_text()
    variant = source.replace(
        "    channels:\n",
        '    channels:\n      telegram:\n        ack: "Case {case_reference}: received."\n',
        1,
    )
    path = tmp_path / "templates.yaml"
    path.write_text(variant)
    templates = AckTemplates.load(path)
    assert templates.render("ack", Language.EN, CONTENT, Channel.TELEGRAM) == "Case SB-7K3-M9Q-XDZ: received."
    assert templates.render("ack", Language.EN, CONTENT, Channel.EMAIL).startswith("Hello,")


def test_a_template_with_an_unknown_placeholder_is_rejected_at_load(tmp_path: Path):
    source = (Path(__file__).parents[1] / "src/switchboard_notifier/config/templates.yaml").read_text()
    path = tmp_path / "templates.yaml"
    path.write_text(source.replace("reference is {case_reference}", "reference is {case_ref}", 1))
    with pytest.raises(TemplateError, match="case_ref"):
        AckTemplates.load(path)


def test_a_language_missing_a_required_text_is_rejected(tmp_path: Path):
    path = tmp_path / "templates.yaml"
    path.write_text(
        "languages:\n  en:\n    greeting: Hi\n    greeting_anonymous: Hi\n    ack: x\n"
        "    durations: {minutes: m, hour: h, hours: h, day: d, days: d}\n"
    )
    with pytest.raises(TemplateError, match="generic_ack"):
        AckTemplates.load(path)


def test_an_empty_topic_phrase_leaves_no_space_before_the_full_stop():
    text = TEMPLATES.render("ack", Language.EN, replace(CONTENT, topic=MessageTopic.OTHER))
    assert "message." in text
    assert " ." not in text
