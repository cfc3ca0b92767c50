"""The taxonomy compiled for matching: every keyword in one trie-shaped regular expression.

One scan of the normalised text finds every keyword of every label (the trie keeps the regular
expression engine from trying thousands of alternatives at each position), and one more finds the
taxonomy's regular-expression rules. Each match maps to the signals it is evidence for.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeAlias

from switchboard_classifier.taxonomy import RuleGroup, Taxonomy, TaxonomyError

_SPACES = re.compile(r"\s+")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u00b4": "'"})


def normalise(text: str) -> str:
    """The form every rule is matched against: NFKC, lower case, straight quotes, single spaces."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text).translate(_QUOTES).lower()).strip()


class Dimension(StrEnum):
    """What a signal is evidence about."""

    TYPE = "type"
    TOPIC = "topic"
    URGENT = "urgent"
    STATED_URGENCY = "stated_urgency"
    NO_RUSH = "no_rush"
    ANGER = "anger"
    POSITIVE = "positive"
    NEGATIVE = "negative"
    NO_REQUEST = "no_request"


@dataclass(frozen=True, slots=True)
class Signal:
    """One rule group's evidence: for ``label`` (a type, topic or urgent reason) of ``dimension``."""

    dimension: Dimension
    label: str
    group: str
    weight: float
    decisive: bool = False


@dataclass(frozen=True, slots=True)
class Hit:
    """A signal found in a text, and the keyword (or pattern) that found it."""

    signal: Signal
    cue: str


@dataclass(frozen=True, slots=True)
class _Entry:
    signal: Signal
    stem: bool


def _is_word_char(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


_Trie: TypeAlias = dict[str, "_Trie"]


def _trie_pattern(words: Iterable[str]) -> str:
    """A regular expression matching any of ``words``, longest first, shaped as a trie."""
    trie: _Trie = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: _Trie) -> str:
        branches = [re.escape(ch) + emit(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    root = [re.escape(ch) + emit(child) for ch, child in sorted(trie.items())]
    return "|".join(root)


class Rulebook:
    """A :class:`Taxonomy` compiled once, scanned for every message."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.taxonomy = taxonomy
        self._entries: dict[str, list[_Entry]] = {}
        self._pattern_signals: list[Signal] = []
        patterns: list[str] = []
        for dimension, label, group in _groups(taxonomy):
            signal = Signal(dimension, label, group.name, group.weight, group.decisive)
            for keyword in group.keywords():
                stem = keyword.endswith("*")
                core = normalise(keyword.rstrip("*"))
                entries = self._entries.setdefault(core, [])
                if not any(e.signal == signal for e in entries):
                    entries.append(_Entry(signal, stem))
            for pattern in group.patterns:
                patterns.append(f"(?P<p{len(self._pattern_signals)}>{pattern})")
                self._pattern_signals.append(signal)
        try:
            self._keywords = re.compile(_trie_pattern(self._entries)) if self._entries else None
            self._patterns = re.compile("|".join(patterns)) if patterns else None
        except re.error as exc:  # each pattern compiled alone; together they still may not
            raise TaxonomyError(f"the taxonomy's patterns do not compile together: {exc}") from exc
        self.english_words = frozenset(
            word for core in self._entries for word in re.findall(r"[a-z]+", core) if len(word) > 1
        )

    def scan(self, normalised: str) -> list[Hit]:
        """Every signal found in ``normalised`` text (see :func:`normalise`)."""
        return list(self._scan(normalised))

    def _scan(self, text: str) -> Iterator[Hit]:
        if self._keywords is not None:
            search = self._keywords.search
            end = len(text)
            position = 0
            while (match := search(text, position)) is not None:
                core = match.group()
                start, stop = match.span()
                if _is_word_char(core[0]) and start > 0 and _is_word_char(text[start - 1]):
                    position = start + 1  # inside a word ("line pay" in "online payment"): look again further on
                    continue
                position = stop
                open_right = _is_word_char(core[-1]) and stop < end and _is_word_char(text[stop])
                for entry in self._entries[core]:
                    if entry.stem or not open_right:
                        yield Hit(entry.signal, core + ("*" if entry.stem else ""))
        if self._patterns is not None:
            for match in self._patterns.finditer(text):
                index = int(match.lastgroup[1:]) if match.lastgroup else -1
                if index >= 0:
                    yield Hit(self._pattern_signals[index], f"pattern:{self._pattern_signals[index].group}")


def _groups(taxonomy: Taxonomy) -> Iterator[tuple[Dimension, str, RuleGroup]]:
    for message_type, groups in taxonomy.types.items():
        yield from ((Dimension.TYPE, message_type.value, g) for g in groups)
    for topic, groups in taxonomy.topics.items():
        yield from ((Dimension.TOPIC, topic.value, g) for g in groups)
    for reason, groups in taxonomy.urgent.items():
        yield from ((Dimension.URGENT, reason.value, g) for g in groups)
    singles = (
        (Dimension.STATED_URGENCY, taxonomy.stated_urgency),
        (Dimension.NO_RUSH, taxonomy.no_rush),
        (Dimension.ANGER, taxonomy.anger),
        (Dimension.POSITIVE, taxonomy.sentiment.positive),
        (Dimension.NEGATIVE, taxonomy.sentiment.negative),
        (Dimension.NO_REQUEST, taxonomy.no_request),
    )
    for dimension, groups in singles:
        yield from ((dimension, "", g) for g in groups)
