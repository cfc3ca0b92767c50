"""The rules and the trained model, deciding together.

The rules decide what must be exact:

* a *decisive* rule group (``decisive: true`` in the taxonomy: explicit complaints, auto-replies,
  bounces) fixes the type whatever the model says;
* the urgent markers (the customer's safety, money or data at risk, a business stopped) make a
  message urgent, and a message with one is never non-actionable;
* stated urgency raises priority one level, and so does anger the rules see (abuse, shouting);
* entities and masking are the rules' alone (see :mod:`switchboard_classifier.classifier`).

The model decides the rest, with the rules' keyword evidence as a second opinion: for whether the
message is a customer request at all, for its type and for its topic, the model's probabilities and
the rules' share of the evidence (weighted by how much evidence there is) are added with the
taxonomy's ``combination`` weights and normalised. The model may also see anger the keywords miss,
and may raise priority (never lower it) when it is sure enough.

Confidence is the probability of the least sure of the decisions that route the message (that it is
a request, its topic, and its type where the topic leaves the department to the type); below the
routing rules' ``min_confidence`` the dispatcher sends the message to triage.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from switchboard_classifier.model import HeadPrediction, Prediction
from switchboard_classifier.rulebook import Dimension
from switchboard_classifier.scoring import Decision, Evidence, TextFeatures, process_priority
from switchboard_classifier.taxonomy import Combination, Scoring
from switchboard_common.events.models import Language, MessageTopic, MessageType, Priority, Sentiment

ACTIONABLE_TYPES = (MessageType.INQUIRY, MessageType.COMPLAINT, MessageType.SUGGESTION, MessageType.FAULT)
_LEVELS = {Priority.LOW: 0, Priority.NORMAL: 1, Priority.URGENT: 2}
_RULES_ONLY_GUESSES = frozenset(
    {"type:non_actionable:no-request", "type:complaint:assumed-from-anger", "type:inquiry:assumed"}
)
DECISIVE_CONFIDENCE = 0.95
"""Confidence of a type the rules fixed by a decisive keyword, where the model had less."""
_NON_ACTIONABLE = MessageType.NON_ACTIONABLE.value
_COMPLAINT = MessageType.COMPLAINT.value
_ACTIONABLE = tuple((t.value, t) for t in ACTIONABLE_TYPES)
_TYPES = {t.value: t for t in MessageType}
_TOPICS = {t.value: t for t in MessageTopic}
_PRIORITIES = {p.value: p for p in Priority}
_NO_SCORES: Mapping[str, float] = {}


def combine(
    found: Evidence,
    rules: Decision,
    prediction: Prediction,
    features: TextFeatures,
    scoring: Scoring,
    settings: Combination,
    language: Language,
) -> Decision:
    """The decision for one message from the rules' evidence and decision and the model's prediction."""
    evidence: list[str] = []
    type_tally = found.tallies.get(Dimension.TYPE)
    type_scores_found = type_tally.scores if type_tally is not None else _NO_SCORES
    at_risk = found.total(Dimension.URGENT) > 0

    not_request = _not_request_probability(found, prediction, features, scoring, settings)
    evidence.append(f"model:request:not_request={not_request:.2f}")

    decisive_type = _decisive_type(type_tally.decisive, at_risk) if type_tally is not None else None
    if decisive_type is MessageType.NON_ACTIONABLE or (
        decisive_type is None and not at_risk and not_request >= settings.not_request_threshold
    ):
        if decisive_type is not None:
            evidence.append("type:non_actionable:decisive")
            confidence = max(DECISIVE_CONFIDENCE, not_request)
        else:
            evidence.append("type:non_actionable:model")
            confidence = not_request
        return Decision(
            type=MessageType.NON_ACTIONABLE,
            topic=MessageTopic.OTHER,
            priority=Priority.LOW,
            sentiment=rules.sentiment,
            confidence=_bounded(confidence, language, scoring),
            evidence=[*evidence, *_keyword_evidence(rules)],
        )

    type_scores = {value: type_scores_found.get(value, 0.0) for value, _ in _ACTIONABLE}
    types = _blend(prediction["type"], type_scores, settings.rules_weight_type, scoring)
    message_type: MessageType
    if decisive_type is not None:
        message_type = decisive_type
        type_value = decisive_type.value
        type_probability = max(types[type_value], DECISIVE_CONFIDENCE)
        evidence.append(f"type:{type_value}:decisive")
    else:
        type_value = max(types, key=types.__getitem__)
        message_type, type_probability = _TYPES.get(type_value) or MessageType(type_value), types[type_value]
        type_value = message_type.value
    evidence.append(f"model:type:{type_value}={prediction['type'][type_value]:.2f}")

    topic_tally = found.tallies.get(Dimension.TOPIC)
    topic_scores = topic_tally.scores if topic_tally is not None else _NO_SCORES
    topics = _blend(prediction["topic"], topic_scores, settings.rules_weight_topic, scoring)
    topic_label = max(topics, key=topics.__getitem__)
    topic, topic_probability = _TOPICS.get(topic_label) or MessageTopic(topic_label), topics[topic_label]
    topic_value = topic.value
    evidence.append(f"model:topic:{topic_value}={prediction['topic'][topic_value]:.2f}")

    angry_by_model = prediction["anger"]["angry"]
    anger = rules.sentiment.anger or angry_by_model >= settings.anger_threshold
    if anger and not rules.sentiment.anger:
        evidence.append(f"anger:model={angry_by_model:.2f}")
    sentiment = Sentiment(
        score=min(rules.sentiment.score, -0.5) if anger else rules.sentiment.score,
        anger=anger,
        stated_urgency=rules.sentiment.stated_urgency,
    )

    priority = process_priority(message_type, at_risk, sentiment.stated_urgency, anger)
    model_priority, model_priority_probability = prediction["priority"].best()
    if (
        model_priority_probability >= settings.priority_threshold
        and _LEVELS[_PRIORITIES.get(model_priority) or Priority(model_priority)] > _LEVELS[priority]
    ):
        priority = _PRIORITIES.get(model_priority) or Priority(model_priority)
        evidence.append(f"priority:model:{model_priority}={model_priority_probability:.2f}")

    routed_by_type = topic in settings.topics_routed_by_type
    confidence = routing_confidence(type_probability if routed_by_type else None, topic_probability, not_request)
    if not_request >= 0.5:  # more likely no request, not likely enough to drop: a person should look (triage)
        confidence = min(confidence, 1.0 - settings.not_request_threshold)
        evidence.append("request:doubtful")
    return Decision(
        type=message_type,
        topic=topic,
        priority=priority,
        sentiment=sentiment,
        confidence=_bounded(confidence, language, scoring),
        evidence=[*evidence, *_keyword_evidence(rules)],
    )


def routing_confidence(type_probability: float | None, topic_probability: float, not_request: float) -> float:
    """How sure the least sure of the decisions that route the message is.

    Those are: that it is a request, its topic, and its type where the topic leaves the department to
    the type (``type_probability`` is None where it does not: an inquiry or a complaint about a
    delivery both go to logistics). Chosen over their product (too low: a third of the messages
    would go to triage) and their geometric mean (too high: almost none would) on folds of the
    training data.
    """
    least = min(topic_probability, 1.0 - not_request)
    return least if type_probability is None else min(least, type_probability)


def _keyword_evidence(rules: Decision) -> list[str]:
    """What the rules found, without the guesses they make when deciding alone."""
    return [e for e in rules.evidence if e not in _RULES_ONLY_GUESSES]


def _decisive_type(decisive_labels: set[str], at_risk: bool) -> MessageType | None:
    """The type a decisive keyword fixes: a complaint before anything else; automated mail unless at risk."""
    if not decisive_labels:
        return None
    if _COMPLAINT in decisive_labels:
        return MessageType.COMPLAINT
    if _NON_ACTIONABLE in decisive_labels and not at_risk:
        return MessageType.NON_ACTIONABLE
    for value, message_type in _ACTIONABLE:
        if value in decisive_labels:
            return message_type
    return None


def _not_request_probability(
    found: Evidence, prediction: Prediction, features: TextFeatures, scoring: Scoring, settings: Combination
) -> float:
    """The model's probability that the message is no customer request, with the rules' view added."""
    type_tally = found.tallies.get(Dimension.TYPE)
    type_scores = type_tally.scores if type_tally is not None else _NO_SCORES
    against = type_scores.get(_NON_ACTIONABLE, 0.0)
    topic_total = found.total(Dimension.TOPIC)
    if features.length <= scoring.no_request_max_chars and topic_total == 0:
        against += found.total(Dimension.NO_REQUEST)  # pleasantries alone, in a short message
    for_request = (  # a request names a type or topic; someone at risk, in a hurry or angry has a problem
        sum(score for label, score in type_scores.items() if label != _NON_ACTIONABLE)
        + topic_total
        + found.total(Dimension.URGENT)
        + found.total(Dimension.STATED_URGENCY)
        + found.total(Dimension.ANGER)
    )
    blended = _blend(
        prediction["request"],
        {"not_request": against, "request": for_request},
        settings.rules_weight_request,
        scoring,
    )
    return blended["not_request"]


def _blend(
    model: HeadPrediction, rule_scores: Mapping[str, float], weight: float, scoring: Scoring
) -> dict[str, float]:
    """Model probabilities plus ``weight`` times the rules' evidence shares (scaled by the amount of evidence)."""
    probabilities = model.as_dict()
    if not rule_scores:
        return probabilities
    total = sum(score for label, score in rule_scores.items() if label in probabilities)
    if total <= 0 or weight <= 0:
        return probabilities
    strength = 1.0 - math.exp(-total / scoring.evidence_scale)
    norm = 1.0 + weight * strength
    share = weight * strength
    for label, score in rule_scores.items():
        if label in probabilities:
            probabilities[label] += share * score / total
    return {label: p / norm for label, p in probabilities.items()}


def _bounded(confidence: float, language: Language, scoring: Scoring) -> float:
    if language is Language.UND:
        confidence *= scoring.undetermined_language_factor
    return round(min(1.0, max(0.0, confidence)), 3)
