"""Which language a message is written in: simplified or traditional Chinese, English, or undetermined.

Chinese is told apart from English by counting Han characters against English words; the two
Chinese scripts by the characters that only one of them uses (:mod:`switchboard_common.hanzi`).
A language the customer chose on the channel, or the channel reported, decides where the text
itself does not: an empty message, Chinese without a script-specific character, a near tie.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from switchboard_common.events.models import Language
from switchboard_common.hanzi import SIMPLIFIED_ONLY, TRADITIONAL_ONLY

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_OTHER_SCRIPTS = re.compile(
    r"[\u0370-\u03ff\u0400-\u04ff\u0590-\u05ff\u0600-\u06ff\u0900-\u097f\u0e00-\u0e7f\u1100-\u11ff\uac00-\ud7af]"
)
_LATIN_WORD = re.compile(r"[a-z\u00e0-\u00ff]+(?:'[a-z]+)?")
_SIMPLIFIED = re.compile("[" + "".join(sorted(SIMPLIFIED_ONLY)) + "]")
_TRADITIONAL = re.compile("[" + "".join(sorted(TRADITIONAL_ONLY)) + "]")

# Frequent English words; the taxonomy's own English vocabulary is added to these.
_COMMON_ENGLISH = """
    a about after again all am an and any are as at be been before being but by can cannot can't
    could did didn't do does doesn't don't for from get got had has hasn't have haven't hello help hi
    how i i'm if in into is isn't it it's just know let like me more my need no not now of off ok on
    one only or our out over please right so some still than thank thanks that the their them then
    there they this to too two up us very want was wasn't we well were what when where which who why
    will with won't would yes yet you your yours
"""
COMMON_ENGLISH = frozenset(_COMMON_ENGLISH.split())

CHARS_PER_CHINESE_WORD = 1.5
"""Han characters that weigh as much as one English word when text mixes the two."""


@dataclass(frozen=True, slots=True)
class LanguageGuess:
    language: Language
    evidence: str


class LanguageDetector:
    """Detects the language of normalised text (NFKC, lower case: see :func:`guess_language`)."""

    def __init__(self, english_vocabulary: frozenset[str] = frozenset()) -> None:
        self._english = COMMON_ENGLISH | english_vocabulary

    def detect(self, normalised: str, prior: Language | None = None) -> LanguageGuess:
        ascii_only = normalised.isascii()
        han = len(_HAN.findall(normalised)) if not ascii_only else 0
        kana = len(_KANA.findall(normalised)) if not ascii_only else 0
        other = len(_OTHER_SCRIPTS.findall(normalised)) if not ascii_only else 0
        words = _LATIN_WORD.findall(normalised)
        english = sum(1 for w in words if w in self._english)
        looks_english = bool(words) and (english >= 2 or english / len(words) >= 0.5) and english / len(words) >= 0.25
        english_units = float(len(words)) if looks_english else 0.0
        chinese_units = han / CHARS_PER_CHINESE_WORD if not kana else 0.0
        foreign_units = float(kana + other) + (len(words) if not looks_english else 0)

        if chinese_units == 0 and english_units == 0:
            if prior is not None and prior is not Language.UND and foreign_units == 0:
                return LanguageGuess(prior, f"language:{prior.value}:prior")
            return LanguageGuess(Language.UND, "language:und")
        near_tie = abs(chinese_units - english_units) < 1.0
        if near_tie and prior in (Language.EN, Language.ZH_HANS, Language.ZH_HANT):
            chinese = prior is not Language.EN
        else:
            chinese = chinese_units > english_units
        if max(chinese_units, english_units) < foreign_units:
            return LanguageGuess(Language.UND, "language:und:other-script")
        if not chinese:
            return LanguageGuess(Language.EN, f"language:en:words={english}/{len(words)}")
        simplified = len(_SIMPLIFIED.findall(normalised))
        traditional = len(_TRADITIONAL.findall(normalised))
        counts = f"simplified={simplified},traditional={traditional}"
        if abs(simplified - traditional) < 2 and prior in (Language.ZH_HANS, Language.ZH_HANT):
            return LanguageGuess(prior, f"language:{prior.value}:prior:{counts}")
        if traditional > simplified:
            return LanguageGuess(Language.ZH_HANT, f"language:zh-Hant:{counts}")
        return LanguageGuess(Language.ZH_HANS, f"language:zh-Hans:{counts}")


_DEFAULT_DETECTOR: LanguageDetector | None = None


def guess_language(text: str, prior: Language | None = None) -> Language:
    """The language of raw text, for callers without a taxonomy (the notifier's generic acknowledgement)."""
    global _DEFAULT_DETECTOR
    if _DEFAULT_DETECTOR is None:
        _DEFAULT_DETECTOR = LanguageDetector()
    normalised = " ".join(unicodedata.normalize("NFKC", text).lower().split())
    return _DEFAULT_DETECTOR.detect(normalised, prior).language
