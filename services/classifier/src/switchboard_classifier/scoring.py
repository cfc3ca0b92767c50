"""From the signals found in a message to its type, topic, priority, sentiment and confidence.

Evidence adds up per label (each keyword once). The label with the most evidence wins; the
confidence grows with the amount of evidence and shrinks when another label had nearly as much
(conflicting evidence), so that a message with little or contradictory evidence goes to triage.

Priority follows the customer-service process: urgent when the customer's safety, money or data is
at risk or their business has stopped; otherwise normal for complaints and fault reports and low for
suggestions and inquiries, raised one level when the customer says it is urgent and one level when
they are angry.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from switchboard_classifier.rulebook import Dimension, Hit
from switchboard_classifier.taxonomy import Scoring
from switchboard_common.events.models import Language, MessageTopic, MessageType, Priority, Sentiment

_PRIORITY_LEVELS = (Priority.LOW, Priority.NORMAL, Priority.URGENT)
_EVIDENCE_ORDER = tuple(d for d in Dimension if d is not Dimension.NO_REQUEST)
"""The dimensions whose evidence a decision lists, in this order."""
_MESSAGE_TYPES = {t.value: t for t in MessageType}
_MESSAGE_TOPICS = {t.value: t for t in MessageTopic}
_NO_LABEL: tuple[str | None, float, float] = (None, 0.0, 0.0)


@dataclass(frozen=True, slots=True)
class TextFeatures:
    """What the rules cannot see as keywords."""

    length: int
    shouting: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    type: MessageType
    topic: MessageTopic
    priority: Priority
    sentiment: Sentiment
    confidence: float
    evidence: list[str]


@dataclass(slots=True)
class Tally:
    """Evidence for the labels of one dimension: summed weights, and what was found."""

    scores: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    evidence: list[str] = field(default_factory=list)
    decisive: set[str] = field(default_factory=set)

    def best(self) -> tuple[str | None, float, float]:
        """The leading label, its score and the runner-up's score."""
        if not self.scores:
            return None, 0.0, 0.0
        ranked = sorted(self.scores.items(), key=lambda item: item[1], reverse=True)
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        return ranked[0][0], ranked[0][1], runner_up

    @property
    def total(self) -> float:
        return sum(self.scores.values())


@dataclass(slots=True)
class Evidence:
    """Everything the rules found in one message, per dimension (each keyword counted once)."""

    tallies: dict[Dimension, Tally] = field(default_factory=dict)

    def __getitem__(self, dimension: Dimension) -> Tally:
        tally = self.tallies.get(dimension)
        return tally if tally is not None else Tally()

    def total(self, dimension: Dimension) -> float:
        tally = self.tallies.get(dimension)
        return tally.total if tally is not None else 0.0

    def anger_score(self, features: TextFeatures, scoring: Scoring) -> float:
        return (
            self.total(Dimension.ANGER)
            + (scoring.shouting_weight if features.shouting else 0.0)
            + min(0.5, self.total(Dimension.NEGATIVE) * scoring.negative_anger_share)
        )


def tally(hits: Sequence[Hit]) -> Evidence:
    """Add up the signals found in one message, per dimension and label."""
    evidence = Evidence()
    tallies = evidence.tallies
    seen: set[Hit] = set()  # hits are equal when signal and cue are
    for hit in hits:
        if hit in seen:
            continue
        seen.add(hit)
        signal = hit.signal
        found = tallies.get(signal.dimension)
        if found is None:
            found = tallies[signal.dimension] = Tally()
        found.scores[signal.label] += signal.weight
        if signal.decisive:
            found.decisive.add(signal.label)
        found.evidence.append(hit.evidence)
    return evidence


def decide(found: Evidence, features: TextFeatures, scoring: Scoring, language: Language) -> Decision:
    """The rules' decision from the evidence found in one message."""
    total = found.total
    tallies = found.tallies
    evidence: list[str] = []
    type_tally, topic_tally = tallies.get(Dimension.TYPE), tallies.get(Dimension.TOPIC)
    type_label, type_score, type_runner_up = type_tally.best() if type_tally is not None else _NO_LABEL
    topic_label, topic_score, topic_runner_up = topic_tally.best() if topic_tally is not None else _NO_LABEL
    urgent_score = total(Dimension.URGENT)
    no_request = total(Dimension.NO_REQUEST)

    negative = total(Dimension.NEGATIVE)
    anger_score = found.anger_score(features, scoring)
    anger = anger_score >= scoring.anger_threshold

    if type_label is not None:
        message_type = _MESSAGE_TYPES.get(type_label) or MessageType(type_label)
    elif (
        topic_label is None and urgent_score == 0 and no_request > 0 and features.length <= scoring.no_request_max_chars
    ):
        message_type = MessageType.NON_ACTIONABLE
        type_score = no_request
        evidence.append("type:non_actionable:no-request")
        evidence.extend(found[Dimension.NO_REQUEST].evidence)
    elif anger:  # an angry message that names no request is a complaint
        message_type = MessageType.COMPLAINT
        evidence.append("type:complaint:assumed-from-anger")
    else:
        message_type = MessageType.INQUIRY
        evidence.append("type:inquiry:assumed")
    topic = MessageTopic.OTHER
    if topic_label is not None:
        topic = _MESSAGE_TOPICS.get(topic_label) or MessageTopic(topic_label)

    stated_urgency = total(Dimension.STATED_URGENCY) > total(Dimension.NO_RUSH)
    if features.shouting:
        evidence.append("anger:shouting")

    raw = total(Dimension.POSITIVE) - negative - (anger_score if anger else 0.0)
    score = raw / (1.0 + abs(raw))
    if anger:
        score = min(score, -0.5)
    sentiment = Sentiment(score=round(score, 3), anger=anger, stated_urgency=stated_urgency)

    priority = process_priority(message_type, urgent_score > 0, stated_urgency, anger)

    evidence_amount = type_score + topic_score + 0.5 * urgent_score
    confidence = (
        (1.0 - math.exp(-evidence_amount / scoring.evidence_scale))
        * agreement(type_score, type_runner_up)
        * agreement(topic_score, topic_runner_up)
    )
    if language is Language.UND:
        confidence *= scoring.undetermined_language_factor

    for dimension in _EVIDENCE_ORDER:
        listed = tallies.get(dimension)
        if listed is not None:
            evidence.extend(listed.evidence)
    return Decision(
        type=message_type,
        topic=topic,
        priority=priority,
        sentiment=sentiment,
        confidence=round(min(1.0, max(0.0, confidence)), 3),
        evidence=evidence,
    )


def process_priority(message_type: MessageType, at_risk: bool, stated_urgency: bool, anger: bool) -> Priority:
    """Priority by the customer-service process: at risk is urgent; the type's level, raised by urgency and anger."""
    if message_type is MessageType.NON_ACTIONABLE:
        return Priority.LOW
    if at_risk:
        return Priority.URGENT
    level = 1 if message_type in (MessageType.COMPLAINT, MessageType.FAULT) else 0
    level += int(stated_urgency) + int(anger)
    return _PRIORITY_LEVELS[min(level, len(_PRIORITY_LEVELS) - 1)]


def agreement(best: float, runner_up: float) -> float:
    """1 when one label had all the evidence, 0.5 when two had the same."""
    return 1.0 - 0.5 * (runner_up / best) if best > 0 else 1.0
