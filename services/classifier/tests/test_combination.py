"""Rules and model together: the rules decide what must be exact, the model the rest.

Each test gives ``combine`` the rules' real evidence for a text and a model prediction made up for
the case, so that what is tested is the combination, not what the packaged model happens to say.
"""

from __future__ import annotations

import pytest

from switchboard_classifier.combination import combine
from switchboard_classifier.model import HeadPrediction, Prediction
from switchboard_classifier.rulebook import Rulebook, normalise
from switchboard_classifier.scoring import TextFeatures, decide, tally
from switchboard_classifier.taxonomy import Taxonomy
from switchboard_common.events.models import AutomatedReason, Language, MessageTopic, MessageType, Priority

LABELS = {
    "type": ("inquiry", "complaint", "suggestion", "fault"),
    "request": ("request", "not_request"),
    "topic": ("order", "logistics", "after_sales", "payment", "account", "promotion", "product", "other"),
    "priority": ("low", "normal", "urgent"),
    "anger": ("calm", "angry"),
}


def prediction(**heads: dict[str, float]) -> Prediction:
    """A model prediction: each head given as {label: probability} (the rest shared out), by default unsure
    (and calm: anger is a yes-or-no whose "unsure" would be 0.5)."""
    heads = {"anger": {"angry": 0.05}} | heads
    made = {}
    for head, labels in LABELS.items():
        given = heads.get(head, {})
        rest = (1.0 - sum(given.values())) / (len(labels) - len(given)) if len(labels) > len(given) else 0.0
        made[head] = HeadPrediction(labels, tuple(given.get(label, rest) for label in labels))
    return Prediction(heads=made, known_features=10, features=12)


SURE_REQUEST = {"request": 0.99, "not_request": 0.01}


@pytest.fixture(scope="module")
def decide_with(taxonomy: Taxonomy):
    rulebook = Rulebook(taxonomy)

    def run(text: str, model: Prediction, language: Language = Language.EN):
        normalised = normalise(text)
        found = tally(rulebook.scan(normalised))
        features = TextFeatures(length=len(normalised))
        rules = decide(found, features, taxonomy.scoring, language)
        return combine(found, rules, model, features, taxonomy.scoring, taxonomy.combination, language)

    return run


def test_the_model_decides_where_the_rules_have_no_keyword(decide_with):
    result = decide_with(
        "the thing from last week is a letdown",
        prediction(request=SURE_REQUEST, type={"complaint": 0.9}, topic={"product": 0.9}),
    )
    assert (result.type, result.topic) == (MessageType.COMPLAINT, MessageTopic.PRODUCT)
    assert "model:type:complaint=0.90" in result.evidence


@pytest.mark.parametrize(
    "text", ["我要投诉你们的快递", "我要投訴你們", "I want to file a formal complaint about the courier"]
)
def test_an_explicit_complaint_is_a_complaint_whatever_the_model_says(decide_with, text):
    result = decide_with(text, prediction(request=SURE_REQUEST, type={"inquiry": 0.97}))
    assert result.type is MessageType.COMPLAINT
    assert "type:complaint:decisive" in result.evidence


def test_an_auto_reply_is_non_actionable_even_when_the_model_sees_a_request(decide_with):
    result = decide_with(
        "Automatic reply: I am out of the office", prediction(request=SURE_REQUEST, type={"inquiry": 0.9})
    )
    assert (result.type, result.priority) == (MessageType.NON_ACTIONABLE, Priority.LOW)
    assert "type:non_actionable:decisive" in result.evidence


def test_the_models_not_a_request_makes_a_message_non_actionable(decide_with):
    result = decide_with("what's the capital of Australia", prediction(request={"not_request": 0.95}))
    assert (result.type, result.topic) == (MessageType.NON_ACTIONABLE, MessageTopic.OTHER)


def test_a_message_that_is_doubtfully_a_request_goes_to_triage_rather_than_being_dropped(decide_with, taxonomy):
    result = decide_with(
        "zzkx vrom", prediction(request={"not_request": 0.55}, type={"inquiry": 0.9}, topic={"product": 0.9})
    )
    assert result.type is MessageType.INQUIRY
    assert result.confidence <= 1.0 - taxonomy.combination.not_request_threshold < 0.45
    assert "request:doubtful" in result.evidence


def test_an_urgent_marker_makes_a_message_urgent_and_keeps_it_from_being_non_actionable(decide_with):
    result = decide_with(
        "我的信用卡被盗刷了", prediction(request={"not_request": 0.99}, priority={"low": 0.99}), Language.ZH_HANS
    )
    assert result.type is not MessageType.NON_ACTIONABLE
    assert result.priority is Priority.URGENT


def test_the_model_cannot_lower_the_priority_the_process_gives(decide_with):
    # A fault report is normal by the process; the model's sure "low" does not lower it.
    result = decide_with(
        "the blender stopped working", prediction(request=SURE_REQUEST, type={"fault": 0.9}, priority={"low": 0.99})
    )
    assert (result.type, result.priority) == (MessageType.FAULT, Priority.NORMAL)


def test_a_sure_model_may_raise_priority_an_unsure_one_may_not(decide_with):
    text = "my fridge is leaking onto the floor near the socket"
    sure = decide_with(text, prediction(request=SURE_REQUEST, type={"fault": 0.9}, priority={"urgent": 0.9}))
    unsure = decide_with(text, prediction(request=SURE_REQUEST, type={"fault": 0.9}, priority={"urgent": 0.5}))
    assert sure.priority is Priority.URGENT
    assert "priority:model:urgent=0.90" in sure.evidence
    assert unsure.priority is Priority.NORMAL


def test_anger_the_model_sees_raises_priority_and_is_reported(decide_with):
    text = "third time I write about the same order and still nothing"
    calm = decide_with(text, prediction(request=SURE_REQUEST, type={"complaint": 0.9}, anger={"angry": 0.1}))
    angry = decide_with(text, prediction(request=SURE_REQUEST, type={"complaint": 0.9}, anger={"angry": 0.9}))
    assert (calm.sentiment.anger, calm.priority) == (False, Priority.NORMAL)
    assert (angry.sentiment.anger, angry.priority) == (True, Priority.URGENT)
    assert angry.sentiment.score <= -0.5


def test_anger_words_count_even_when_the_model_sees_none(decide_with):
    result = decide_with("this is a scam, you are useless", prediction(request=SURE_REQUEST, anger={"angry": 0.01}))
    assert result.sentiment.anger


def test_stated_urgency_raises_the_priority_of_an_inquiry(decide_with):
    result = decide_with(
        "when will my invoice be ready? it is urgent", prediction(request=SURE_REQUEST, type={"inquiry": 0.9})
    )
    assert (result.type, result.priority) == (MessageType.INQUIRY, Priority.NORMAL)


def test_keywords_tip_the_balance_where_the_model_hesitates(decide_with):
    hesitant = {"order": 0.4, "logistics": 0.35}
    result = decide_with("快递还没到", prediction(request=SURE_REQUEST, topic=hesitant), Language.ZH_HANS)
    assert result.topic is MessageTopic.LOGISTICS


def test_confidence_is_that_of_the_least_sure_routing_decision(decide_with):
    result = decide_with(
        "the thing from last week", prediction(request=SURE_REQUEST, type={"inquiry": 0.9}, topic={"product": 0.3})
    )
    assert result.confidence == pytest.approx(0.3, abs=0.01)


def test_the_type_counts_in_the_confidence_only_where_the_topic_leaves_routing_to_it(decide_with):
    unsure_type = {"inquiry": 0.4, "complaint": 0.35}
    by_topic = decide_with(
        "the thing from last week", prediction(request=SURE_REQUEST, type=unsure_type, topic={"order": 0.9})
    )
    by_type = decide_with(
        "the thing from last week", prediction(request=SURE_REQUEST, type=unsure_type, topic={"other": 0.9})
    )
    assert by_topic.confidence == pytest.approx(0.9, abs=0.02)  # inquiry or complaint, orders owns it
    assert by_type.confidence == pytest.approx(0.4, abs=0.02)  # product or after-sales depends on the type


def test_an_undetermined_language_lowers_confidence(decide_with):
    model = prediction(request=SURE_REQUEST, type={"inquiry": 0.9}, topic={"product": 0.9})
    english = decide_with("zzkx vrom", model, Language.EN)
    undetermined = decide_with("zzkx vrom", model, Language.UND)
    assert undetermined.confidence < english.confidence


def test_a_message_the_intake_marked_automated_is_non_actionable_in_the_service(classify):
    result = classify("I need a refund for my broken kettle!!!", automated=AutomatedReason.BOUNCE)
    assert (result.type, result.confidence) == (MessageType.NON_ACTIONABLE, 1.0)


def test_an_empty_message_goes_to_triage_rather_than_being_dropped(classify, taxonomy):
    result = classify("   ")
    assert result.type is not MessageType.NON_ACTIONABLE
    assert result.confidence < 0.45
    assert "model:abstained:no-text" in result.evidence
