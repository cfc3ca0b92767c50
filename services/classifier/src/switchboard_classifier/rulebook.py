"""The taxonomy compiled for matching: every keyword in one trie-shaped regular expression.

One scan of the normalised text finds every keyword of every label (the trie keeps the regular
expression engine from trying thousands of alternatives at each position), and one more finds the
taxonomy's regular-expression rules. Each match maps to the signals it is evidence for.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeAlias

from switchboard_classifier.taxonomy import RuleGroup, Taxonomy, TaxonomyError

_SPACES = re.compile(r"\s+")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u00b4": "'"})


def normalise(text: str) -> str:
    """The form every rule is matched against: NFKC, lower case, straight quotes, single spaces."""
    if text.isascii():  # already NFKC, and no curly quotes
        return _SPACES.sub(" ", text.lower()).strip()
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
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Signals are hashed for every hit of every message (scoring.tally): the hash of the fields, once.
        object.__setattr__(self, "_hash", hash((self.dimension, self.label, self.group, self.weight, self.decisive)))

    def __hash__(self) -> int:
        return self._hash


@dataclass(frozen=True, slots=True)
class Hit:
    """A signal found in a text, and the keyword (or pattern) that found it."""

    signal: Signal
    cue: str
    evidence: str = field(init=False, repr=False, compare=False)
    """What the hit says in a classification's evidence: ``dimension[:label]:group:cue``."""
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        signal = self.signal
        label = f":{signal.label}" if signal.label else ""
        object.__setattr__(self, "evidence", f"{signal.dimension.value}{label}:{signal.group}:{self.cue}")
        object.__setattr__(self, "_hash", hash((signal, self.cue)))

    def __hash__(self) -> int:
        return self._hash


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
        self._pattern_hits = [Hit(signal, f"pattern:{signal.group}") for signal in self._pattern_signals]
        try:
            self._compile_keywords()
            self._patterns = re.compile("|".join(patterns)) if patterns else None
        except re.error as exc:  # each pattern compiled alone; together they still may not
            raise TaxonomyError(f"the taxonomy's patterns do not compile together: {exc}") from exc
        self.english_words = frozenset(
            word for core in self._entries for word in re.findall(r"[a-z]+", core) if len(word) > 1
        )

    def _compile_keywords(self) -> None:
        """The keyword scan's regular expressions and, for each keyword, the hits it gives.

        A keyword that starts with a word character only counts at the start of a word, so those
        keywords make one trie behind a lookbehind: one search finds the next such keyword and the
        longest one there. The others (Chinese above all) start anywhere; one trie of them all makes
        the regular expression engine try each of hundreds of first characters in turn at every
        position, so the search only finds where one may start (its first character), and a trie per
        first character finds the longest one there.
        """
        word_cores = [core for core in self._entries if _is_word_char(core[0])]
        other_cores: dict[str, list[str]] = {}
        for core in self._entries:
            if not _is_word_char(core[0]):
                other_cores.setdefault(core[0], []).append(core)
        starts = []
        if word_cores:
            starts.append(f"(?<![A-Za-z0-9])(?:{_trie_pattern(word_cores)})")
        if other_cores:
            starts.append("[" + "".join(re.escape(ch) for ch in sorted(other_cores)) + "]")
        self._keyword_starts = re.compile("|".join(starts)) if starts else None
        self._keywords_at = {ch: re.compile(_trie_pattern(cores)).match for ch, cores in other_cores.items()}
        # What a keyword found gives: every signal where it ends a word, stems alone where the word goes on.
        self._hits: dict[str, tuple[Hit, ...]] = {}
        self._stem_hits: dict[str, tuple[Hit, ...]] = {}
        for core, entries in self._entries.items():
            hits = [(entry.stem, Hit(entry.signal, core + ("*" if entry.stem else ""))) for entry in entries]
            self._hits[core] = tuple(hit for _, hit in hits)
            self._stem_hits[core] = tuple(hit for stem, hit in hits if stem)

    def scan(self, normalised: str) -> list[Hit]:
        """Every signal found in ``normalised`` text (see :func:`normalise`).

        Keywords are found left to right, the longest at each place, a keyword that starts with a
        word character only where a word starts; the scan goes on after the keyword found. A keyword
        that ends with a word character where the word goes on counts only as a stem (``refund*``).
        Then every pattern rule that matches.
        """
        text = normalised
        found: list[Hit] = []
        if self._keyword_starts is not None:
            search = self._keyword_starts.search
            keywords_at = self._keywords_at
            end = len(text)
            position = 0
            while (match := search(text, position)) is not None:
                start, stop = match.span()
                core = match.group()
                if not _is_word_char(core[0]):  # where a keyword of the other kind may start
                    longest = keywords_at[core](text, start)
                    if longest is None:
                        position = start + 1
                        continue
                    core, stop = longest.group(), longest.end()
                position = stop
                if _is_word_char(core[-1]) and stop < end and _is_word_char(text[stop]):
                    found.extend(self._stem_hits[core])
                else:
                    found.extend(self._hits[core])
        if self._patterns is not None:
            for match in self._patterns.finditer(text):
                index = int(match.lastgroup[1:]) if match.lastgroup else -1
                if index >= 0:
                    found.append(self._pattern_hits[index])
        return found


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
