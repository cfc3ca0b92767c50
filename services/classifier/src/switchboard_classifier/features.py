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
_UPPER = re.compile(r"[A-Z]")
_LOWER = re.compile(r"[a-z]")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u00b4": "'"})


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """Which n-grams make the features; stored with a trained model so that serving matches training."""

    han: tuple[int, ...] = (1, 2, 3)
    words: tuple[int, ...] = (1, 2)
    chars: tuple[int, ...] = (3, 4, 5)
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
        self._to_simplified: Callable[[str], str] | None = (
            opencc.OpenCC("t2s").convert if spec.traditional_to_simplified else None
        )

    def prepare(self, text: str) -> str:
        """The form n-grams are taken from: NFKC, lower case, simplified script, digits folded, single spaces."""
        prepared = unicodedata.normalize("NFKC", text).translate(_QUOTES).lower()
        if self._to_simplified is not None and not prepared.isascii():
            prepared = self._to_simplified(prepared)
        prepared = _DIGIT.sub("0", _LONG_NUMBER.sub("#", prepared))
        return _SPACES.sub(" ", prepared).strip()

    def features(self, text: str) -> list[str]:
        """The distinct features of ``text``."""
        spec = self.spec
        prepared = self.prepare(text)
        found: list[str] = [_length_feature(len(prepared), spec.lengths)]
        if self._shouting(text):
            found.append("shape:shouting")
        words: list[str] = []
        for match in _TOKENS.finditer(prepared):
            kind = match.lastgroup
            token = match.group()
            if kind == "han":
                size = len(token)
                for n in spec.han:
                    found.extend(token[i : i + n] for i in range(size - n + 1))
            elif kind == "word":
                words.append(token)
                marked = f"<{token}>"
                size = len(marked)
                for n in spec.chars:
                    if size > n:
                        found.extend("c:" + marked[i : i + n] for i in range(size - n + 1))
            elif kind == "bang":
                found.append("shape:!!")
            else:
                found.append("shape:" + token)
        if words:
            if 1 in spec.words:
                found.extend("w:" + w for w in words)
            if 2 in spec.words:
                found.extend(f"b:{a} {b}" for a, b in pairwise(words))
        return list(dict.fromkeys(found))

    def _shouting(self, text: str) -> bool:
        upper = len(_UPPER.findall(text))
        if upper < self.spec.shouting_min_letters:
            return False
        return upper / (upper + len(_LOWER.findall(text))) >= self.spec.shouting_ratio


def _length_feature(length: int, bounds: tuple[int, ...]) -> str:
    for index, bound in enumerate(bounds):
        if length <= bound:
            return f"shape:len{index}"
    return f"shape:len{len(bounds)}"
