"""What the trained model sees of a message: character and word n-grams, the same for training and serving.

Chinese needs no word segmentation: runs of Han characters give character unigrams, bigrams and
trigrams. Traditional characters are first converted to simplified ones (OpenCC's ``t2s``), so that
what the model learnt from a message in one script applies to the other. English gives words, word
bigrams and character n-grams inside words (``<refund>`` gives ``<re``, ``ref`` ...), which carry
typos and inflections ("refnd", "refunded") to the right weights. A few shape features say what no
n-gram does: the length of the message, repeated exclamation marks, question marks, capitals.

Digits are folded (``0`` for a digit, ``#`` for a run of three or more) so that order numbers and
amounts do not become vocabulary. The output is a list of distinct feature strings; the model
ignores those it has no weights for.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import opencc

_SPACES = re.compile(r"\s+")
_LONG_NUMBER = re.compile(r"\d{3,}")
_DIGIT = re.compile(r"\d")
_TOKENS = re.compile(
    r"(?P<han>[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+)"
    r"|(?P<word>[a-z#0]+(?:'[a-z]+)?)"
    r"|(?P<bang>!{2,})"
    r"|(?P<mark>[!?])"
)
_WORD_CACHE_SIZE = 50_000
"""Words whose features are remembered: English is mostly the same few thousand words."""
_UPPER = re.compile(r"[A-Z]")
_LOWER = re.compile(r"[a-z]")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u00b4": "'"})


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """Which n-grams make the features; stored with a trained model so that serving matches training."""

    han: tuple[int, ...] = (1, 2, 3)
    words: tuple[int, ...] = (1, 2)
    chars: tuple[int, ...] = (3, 4)
    traditional_to_simplified: bool = True
    shouting_min_letters: int = 12
    shouting_ratio: float = 0.8
    lengths: tuple[int, ...] = field(default=(4, 10, 25, 60, 150, 400))

    def to_dict(self) -> dict[str, Any]:
        return {
            "han": list(self.han),
            "words": list(self.words),
            "chars": list(self.chars),
            "traditional_to_simplified": self.traditional_to_simplified,
            "shouting_min_letters": self.shouting_min_letters,
            "shouting_ratio": self.shouting_ratio,
            "lengths": list(self.lengths),
        }

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> FeatureSpec:
        return cls(
            han=tuple(int(n) for n in document["han"]),
            words=tuple(int(n) for n in document["words"]),
            chars=tuple(int(n) for n in document["chars"]),
            traditional_to_simplified=bool(document["traditional_to_simplified"]),
            shouting_min_letters=int(document["shouting_min_letters"]),
            shouting_ratio=float(document["shouting_ratio"]),
            lengths=tuple(int(n) for n in document["lengths"]),
        )


class Featuriser:
    """Turns a text into its feature strings by a :class:`FeatureSpec`. No state between texts."""

    def __init__(self, spec: FeatureSpec) -> None:
        self.spec = spec
        self._word_grams: dict[str, tuple[str, ...]] = {}
        self._to_simplified: Callable[[str], str] | None = (
            opencc.OpenCC("t2s").convert if spec.traditional_to_simplified else None
        )

    def prepare(self, text: str) -> str:
        """The form n-grams are taken from: NFKC, lower case, simplified script, digits folded, single spaces."""
        return self._fold(unicodedata.normalize("NFKC", text).translate(_QUOTES).lower())

    def _fold(self, lowered: str) -> str:
        if self._to_simplified is not None and not lowered.isascii():
            lowered = self._to_simplified(lowered)
        if _DIGIT.search(lowered) is not None:
            lowered = _DIGIT.sub("0", _LONG_NUMBER.sub("#", lowered))
        return _SPACES.sub(" ", lowered).strip()

    def features(self, text: str) -> list[str]:
        """The distinct features of ``text``, in no particular order."""
        return self.features_of_normalised(
            unicodedata.normalize("NFKC", text).translate(_QUOTES).lower(), shouting=self.is_shouting(text)
        )

    def features_of_normalised(self, normalised: str, *, shouting: bool) -> list[str]:
        """The features of text already in NFKC, lower case, with straight quotes (see ``rulebook.normalise``).

        ``shouting`` is :meth:`is_shouting` of the text as written (capitals are gone once lower-cased).
        """
        return list(self.feature_set_of_normalised(normalised, shouting=shouting))

    def feature_set_of_normalised(self, normalised: str, *, shouting: bool) -> set[str]:
        """:meth:`features_of_normalised` as the set it is made of (what the model sums over)."""
        spec = self.spec
        prepared = self._fold(normalised)
        found = {_length_feature(len(prepared), spec.lengths)}
        if shouting:
            found.add("shape:shouting")
        words: list[str] = []
        word_grams = self._word_grams
        add, update = found.add, found.update
        for match in _TOKENS.finditer(prepared):
            kind = match.lastgroup
            token = match.group()
            if kind == "word":
                words.append(token)
                grams = word_grams.get(token)
                if grams is None:
                    grams = self._grams_of_word(token)
                update(grams)
            elif kind == "han":
                size = len(token)
                for n in spec.han:
                    update(token if n == 1 else [token[i : i + n] for i in range(size - n + 1)])
            elif kind == "bang":
                add("shape:!!")
            else:
                add("shape:" + token)
        if len(words) > 1 and 2 in spec.words:
            update([f"b:{a} {b}" for a, b in pairwise(words)])
        return found

    def _grams_of_word(self, word: str) -> tuple[str, ...]:
        """A word's own features (the word, its character n-grams), remembered for the next message."""
        marked = f"<{word}>"
        size = len(marked)
        # Character n-grams are unprefixed: words, bigrams and shapes carry a prefix, Han n-grams cannot collide.
        grams = [marked[i : i + n] for n in self.spec.chars if size > n for i in range(size - n + 1)]
        if 1 in self.spec.words:
            grams.append("w:" + word)
        result = tuple(grams)
        if len(self._word_grams) < _WORD_CACHE_SIZE:
            self._word_grams[word] = result
        return result

    def is_shouting(self, text: str) -> bool:
        """Written mostly in capitals (as the spec counts them)."""
        upper = len(_UPPER.findall(text))
        if upper < self.spec.shouting_min_letters:
            return False
        return upper / (upper + len(_LOWER.findall(text))) >= self.spec.shouting_ratio


def _length_feature(length: int, bounds: tuple[int, ...]) -> str:
    for index, bound in enumerate(bounds):
        if length <= bound:
            return f"shape:len{index}"
    return f"shape:len{len(bounds)}"
