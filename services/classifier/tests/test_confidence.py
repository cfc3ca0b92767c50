"""Confidence reflects the evidence: little or conflicting evidence is low, and routes to triage."""

from __future__ import annotations

import pytest

from switchboard_classifier.classifier import ClassificationInput
from switchboard_common.events.models import Channel
from switchboard_common.routing import MessageFacts, load_routing_config, route


@pytest.fixture(scope="module")
def min_confidence() -> float:
    return load_routing_config().min_confidence


@pytest.mark.parametrize("text", ["", "   ", "asdkjh qwkejh zzzz", "?????", "xjq 4471 plm"])
def test_gibberish_and_empty_messages_have_low_confidence(classify, min_confidence, text):
    assert classify(text).confidence < min_confidence


def test_a_message_in_an_unsupported_language_has_low_confidence(classify, min_confidence):
    assert classify("注文した商品がまだ届きません").confidence < min_confidence


def test_clear_evidence_gives_confidence_above_the_routing_threshold(classify, min_confidence):
    for text in ("快递三天了还没到，物流信息一直没有更新", "I want to return these shoes for a refund"):
        assert classify(text).confidence >= min_confidence, text


def test_more_keyword_evidence_gives_the_rules_more_confidence(rules_classifier):
    def classify(text):
        return rules_classifier.classify(ClassificationInput(text=text))

    little = classify("refund")
    more = classify("The shoes arrived damaged, I want to return them and get a refund")
    assert 0 < little.confidence < more.confidence


def test_a_message_that_could_be_about_several_things_has_less_confidence_than_a_clear_one(classify):
    clear = classify("I want to return these shoes for a refund")
    unclear = classify("hi, about my thing from last week")
    assert unclear.confidence < clear.confidence


def test_conflicting_evidence_lowers_confidence(classify):
    clear = classify("I want to return these shoes for a refund")
    conflicting = classify("I want a refund, and my coupon did not work, and my password reset failed")
    assert conflicting.confidence < clear.confidence


def test_confidence_stays_within_bounds(classify):
    loaded = "投诉 投诉 退款 退货 换货 售后 保修 " * 20 + "complaint refund return warranty " * 20
    assert 0.0 <= classify(loaded).confidence <= 1.0


def test_low_confidence_routes_to_triage_and_clear_messages_to_their_department(classify):
    facts = MessageFacts(channel=Channel.WEBCHAT)
    config = load_routing_config()
    assert route(config, classify("xjq 4471 plm"), facts).department == "triage"
    assert route(config, classify("快递三天了还没到，物流信息一直没有更新"), facts).department == "logistics"


def test_every_decision_names_its_evidence(classify):
    result = classify("快递三天了还没到")
    assert result.evidence[0].startswith("language:zh-Hans")
    assert "topic:logistics:delivery:快递" in result.evidence
    assert result.model.startswith("rules/switchboard-default-v1+model/switchboard-ngram-")
    assert any(e.startswith("model:topic:logistics=") for e in result.evidence)
