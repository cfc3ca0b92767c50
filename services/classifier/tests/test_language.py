"""Language detection: simplified and traditional Chinese, English, undetermined, and the channel's prior."""

from __future__ import annotations

import pytest

from switchboard_classifier.rulebook import Rulebook, normalise
from switchboard_common.events.models import Language
from switchboard_common.hanzi import SIMPLIFIED_ONLY, TRADITIONAL_ONLY
from switchboard_common.language import LanguageDetector


@pytest.fixture(scope="module")
def detect(taxonomy):
    detector = LanguageDetector(Rulebook(taxonomy).english_words)
    return lambda text, prior=None: detector.detect(normalise(text), prior).language


@pytest.mark.parametrize(
    "text",
    ["我的快递三天了还没到，能帮我查一下吗？", "这个订单怎么取消", "请问发票什么时候开好", "退货地址在哪里"],
)
def test_simplified_chinese_is_zh_hans(detect, text):
    assert detect(text) is Language.ZH_HANS


@pytest.mark.parametrize(
    "text",
    ["我的包裹三天了還沒到，能幫我查一下嗎？", "這個訂單怎麼取消", "請問發票什麼時候開好", "退貨地址在哪裡"],
)
def test_traditional_chinese_is_zh_hant(detect, text):
    assert detect(text) is Language.ZH_HANT


@pytest.mark.parametrize(
    "text",
    ["Where is my package?", "refund", "I can't log in to my account", "The blender stopped working after two days"],
)
def test_english_is_en(detect, text):
    assert detect(text) is Language.EN


def test_chinese_with_an_english_product_name_is_chinese(detect):
    assert detect("我的iPhone屏幕碎了，能修吗") is Language.ZH_HANS
    assert detect("我的iPhone螢幕碎了，能修嗎") is Language.ZH_HANT


def test_english_with_a_chinese_place_name_is_english(detect):
    assert detect("Please deliver my order to 北京市朝阳区 next week, thank you") is Language.EN


def test_a_stray_simplified_character_does_not_outvote_traditional_text(detect):
    assert detect("這個訂單還沒到，貨運單號是多少？我问過了") is Language.ZH_HANT


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "asdkjh qwkejh zzzz",
        "12345 !!!",
        "Hola, mi pedido no ha llegado todavía",
        "注文した商品がまだ届きません",
    ],
)
def test_text_in_no_supported_language_is_undetermined(detect, text):
    assert detect(text) is Language.UND


def test_the_prior_decides_chinese_without_script_specific_characters(detect):
    assert detect("你好") is Language.ZH_HANS
    assert detect("你好", Language.ZH_HANT) is Language.ZH_HANT


def test_the_prior_decides_an_empty_message(detect):
    assert detect("", Language.ZH_HANT) is Language.ZH_HANT


def test_clear_text_wins_over_the_prior(detect):
    assert detect("這個訂單還沒到，請幫我查詢", Language.ZH_HANS) is Language.ZH_HANT
    assert detect("Where is my package? It has not arrived.", Language.ZH_HANS) is Language.EN


def test_the_language_the_customer_chose_beats_the_channel_locale(classify):
    result = classify("你好", chosen_language=Language.ZH_HANT, language_hint=Language.ZH_HANS)
    assert result.language is Language.ZH_HANT


def test_script_character_sets_do_not_overlap():
    assert not SIMPLIFIED_ONLY & TRADITIONAL_ONLY
    assert {"这", "们", "么", "发"} <= SIMPLIFIED_ONLY
    assert {"這", "們", "麼", "發", "髮"} <= TRADITIONAL_ONLY


def test_characters_common_to_both_scripts_are_evidence_for_neither():
    for shared in "干台只里后面系周著":
        assert shared not in SIMPLIFIED_ONLY
        assert shared not in TRADITIONAL_ONLY
