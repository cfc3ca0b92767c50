"""The classifier interface, the rules classifier and the rules-plus-model classifier the service runs.

A :class:`Classifier` turns a :class:`ClassificationInput` into a
:class:`~switchboard_common.events.models.Classification`. Both classifiers share what must be
exact: language, entities, masking, automated messages, a text that is only a rating (an answer to a
satisfaction request: non-actionable), and the taxonomy's keyword evidence. The
:class:`RulesClassifier` decides from that evidence alone; the :class:`HybridClassifier` adds the
trained model (:mod:`switchboard_classifier.model`) and decides with both
(:mod:`switchboard_classifier.combination`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from switchboard_classifier.combination import combine
from switchboard_classifier.entities import extract_entities, merge
from switchboard_classifier.masking import mask_contacts
from switchboard_classifier.model import LinearModel, load_model
from switchboard_classifier.rulebook import Rulebook, normalise
from switchboard_classifier.scoring import Decision, Evidence, TextFeatures, decide, tally
from switchboard_classifier.taxonomy import Taxonomy, load_taxonomy
from switchboard_common.events.models import (
    AutomatedReason,
    Channel,
    Classification,
    IntakeMessage,
    Language,
    MessageTopic,
    MessageType,
    Priority,
    Sentiment,
)
from switchboard_common.language import LanguageDetector
from switchboard_common.satisfaction import rating_in_text

RATING_ONLY_EVIDENCE = "type:non_actionable:rating-only"
DECISIONS_REMEMBERED = 2048
"""Decisions kept for texts seen again (LRU): "谢谢", "在吗", "hi", templates, auto-replies."""
REMEMBERED_TEXT_CHARS = 500
"""Longer texts are decided afresh every time: they seldom come again word for word."""
_UPPER = re.compile(r"[A-Z]")
_LOWER = re.compile(r"[a-z]")


@dataclass(frozen=True, slots=True)
class ClassificationInput:
    """What a classifier looks at: the customer's new text and what the channel told about it."""

    text: str
    subject: str | None = None
    channel: Channel | None = None
    language_hint: Language | None = None
    chosen_language: Language | None = None
    automated: AutomatedReason | None = None

    @classmethod
    def from_message(cls, message: IntakeMessage) -> ClassificationInput:
        return cls(
            text=message.text.new_content,
            subject=message.subject,
            channel=message.channel,
            language_hint=message.language_hint,
            chosen_language=message.routing_hints.language,
            automated=message.automated,
        )

    @property
    def language_prior(self) -> Language | None:
        """The customer's own choice first, then what the channel reported."""
        return self.chosen_language or self.language_hint


class Classifier(Protocol):
    """Decides language, type, topic, priority, sentiment and entities of one message."""

    @property
    def name(self) -> str: ...

    def classify(self, item: ClassificationInput) -> Classification: ...


class RulesClassifier:
    """The taxonomy's keyword and pattern rules, compiled once; no I/O, no state between messages."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        self._taxonomy = taxonomy
        self._rulebook = Rulebook(taxonomy)
        self._languages = LanguageDetector(self._rulebook.english_words)
        self._name = f"rules/{taxonomy.name}"
        self._remembered = lru_cache(maxsize=DECISIONS_REMEMBERED)(self._decide_text)

    @property
    def name(self) -> str:
        return self._name

    @property
    def taxonomy(self) -> Taxonomy:
        return self._taxonomy

    def classify(self, item: ClassificationInput) -> Classification:
        whole = f"{item.subject}\n{item.text}" if item.subject else item.text
        normalised = normalise(whole)
        guess = self._languages.detect(normalised, item.language_prior)
        yuan = "CNY" if guess.language is Language.ZH_HANS else "XXX"
        body_entities = extract_entities(item.text, yuan_currency=yuan)
        subject_entities = extract_entities(item.subject, yuan_currency=yuan) if item.subject else None
        masked_text = mask_contacts(item.text, body_entities)
        masked_subject = mask_contacts(item.subject, subject_entities) if item.subject and subject_entities else None
        entities = merge(body_entities, *([subject_entities] if subject_entities else []))

        if item.automated is not None:
            return Classification(
                language=guess.language,
                type=MessageType.NON_ACTIONABLE,
                topic=MessageTopic.OTHER,
                priority=Priority.LOW,
                sentiment=Sentiment(score=0.0),
                entities=entities,
                masked_subject=masked_subject,
                masked_text=masked_text,
                confidence=1.0,
                model=self.name,
                evidence=[f"automated:{item.automated.value}", guess.evidence],
            )

        score = rating_in_text(item.text)
        if score is not None:
            # "5", "★★★★", "四星": an answer to a satisfaction request, which the notifier records
            # against the case; no team has anything to do with it.
            return Classification(
                language=guess.language,
                type=MessageType.NON_ACTIONABLE,
                topic=MessageTopic.OTHER,
                priority=Priority.LOW,
                sentiment=Sentiment(score=(score - 3) / 2),
                entities=entities,
                masked_subject=masked_subject,
                masked_text=masked_text,
                confidence=1.0,
                model=self.name,
                evidence=[RATING_ONLY_EVIDENCE, guess.evidence],
            )

        if len(whole) <= REMEMBERED_TEXT_CHARS:
            decision = self._remembered(whole, normalised, guess.language)
        else:
            decision = self._decide_text(whole, normalised, guess.language)
        sentiment = decision.sentiment  # a Decision may be remembered: each classification has its own copy
        return Classification(
            language=guess.language,
            type=decision.type,
            topic=decision.topic,
            priority=decision.priority,
            sentiment=Sentiment(score=sentiment.score, anger=sentiment.anger, stated_urgency=sentiment.stated_urgency),
            entities=entities,
            masked_subject=masked_subject,
            masked_text=masked_text,
            confidence=decision.confidence,
            model=self.name,
            evidence=[guess.evidence, *decision.evidence],
        )

    def _decide_text(self, whole: str, normalised: str, language: Language) -> Decision:
        """The decision for a text (``normalised`` is ``normalise(whole)``) in ``language``: a pure function."""
        found = tally(self._rulebook.scan(normalised))
        features = TextFeatures(length=len(normalised), shouting=self._shouting(whole))
        return self._decide(whole, normalised, found, features, language)

    def _decide(
        self, whole: str, normalised: str, found: Evidence, features: TextFeatures, language: Language
    ) -> Decision:
        return decide(found, features, self._taxonomy.scoring, language)

    def _shouting(self, text: str) -> bool:
        scoring = self._taxonomy.scoring
        upper = len(_UPPER.findall(text))
        if upper < scoring.shouting_min_letters:
            return False
        return upper / (upper + len(_LOWER.findall(text))) >= scoring.shouting_ratio


class HybridClassifier(RulesClassifier):
    """The rules for what must be exact, the trained model for the rest (see :mod:`.combination`)."""

    def __init__(self, taxonomy: Taxonomy, model: LinearModel) -> None:
        super().__init__(taxonomy)
        self.model = model
        self._name = f"rules/{taxonomy.name}+model/{model.label}"

    def _decide(
        self, whole: str, normalised: str, found: Evidence, features: TextFeatures, language: Language
    ) -> Decision:
        scoring = self._taxonomy.scoring
        rules = decide(found, features, scoring, language)
        if features.length == 0:  # nothing to read (an attachment alone): the rules' low-confidence guess, to triage
            return replace(rules, evidence=["model:abstained:no-text", *rules.evidence])
        prediction = self.model.predict_normalised(normalised, shouting=self.model.featuriser.is_shouting(whole))
        return combine(found, rules, prediction, features, scoring, self._taxonomy.combination, language)


def load_classifier(
    taxonomy_path: Path | None = None, model_path: Path | None = None, *, use_model: bool = True
) -> RulesClassifier:
    """The service's classifier: the taxonomy's rules plus the trained model (packaged ones without paths).

    An invalid taxonomy raises :class:`~switchboard_classifier.taxonomy.TaxonomyError`, an unusable
    model :class:`~switchboard_classifier.model.ModelError`, both at start-up. ``use_model=False``
    gives the rules alone.
    """
    taxonomy = load_taxonomy(taxonomy_path)
    if not use_model:
        return RulesClassifier(taxonomy)
    return HybridClassifier(taxonomy, load_model(model_path))
