"""Sanity of the English vocabulary on third-party customer requests (skipped where the corpus is absent)."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from switchboard_classifier.classifier import ClassificationInput
from switchboard_common.events.models import Channel
from switchboard_common.routing import MessageFacts, load_routing_config, route

# Bitext intents whose requests have one clear topic in Switchboard's taxonomy.
TOPIC_OF_INTENT = {
    "delivery_period": "logistics",
    "track_order": "order",
    "cancel_order": "order",
    "change_order": "order",
    "create_account": "account",
    "delete_account": "account",
    "edit_account": "account",
    "recover_password": "account",
    "check_invoice": "payment",
    "check_payment_methods": "payment",
    "payment_issue": "payment",
    "get_refund": "after_sales",
    "track_refund": "after_sales",
    "check_refund_policy": "after_sales",
    "newsletter_subscription": "promotion",
}


@pytest.fixture(scope="module")
def bitext_rows(corpus_dir: Path) -> list[dict[str, str]]:
    path = (
        corpus_dir
        / "intents"
        / "bitext_customer_support"
        / "data"
        / "Bitext_Sample_Customer_Support_Training_Dataset.csv"
    )
    if not path.is_file():
        pytest.skip(f"{path} not found: skipping the Bitext checks")
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_most_bitext_requests_get_the_topic_of_their_intent(classifier, bitext_rows):
    correct, total = Counter(), Counter()
    for row in bitext_rows:
        expected = TOPIC_OF_INTENT.get(row["intent"])
        if expected is None:
            continue
        total[row["intent"]] += 1
        correct[row["intent"]] += (
            classifier.classify(ClassificationInput(text=row["instruction"])).topic.value == expected
        )
    overall = sum(correct.values()) / sum(total.values())
    weakest = min(total, key=lambda intent: correct[intent] / total[intent])
    assert overall >= 0.85, f"topic accuracy {overall:.2f}"
    assert correct[weakest] / total[weakest] >= 0.6, f"{weakest}: {correct[weakest]}/{total[weakest]}"


def test_bitext_complaints_are_complaints(classifier, bitext_rows):
    complaints = [r["instruction"] for r in bitext_rows if r["intent"] == "complaint"]
    recognised = sum(classifier.classify(ClassificationInput(text=t)).type.value == "complaint" for t in complaints)
    assert recognised / len(complaints) >= 0.85


def test_wrong_topics_come_with_lower_confidence_than_right_ones(classifier, bitext_rows):
    right, wrong = [], []
    for row in bitext_rows:
        expected = TOPIC_OF_INTENT.get(row["intent"])
        if expected is not None:
            result = classifier.classify(ClassificationInput(text=row["instruction"]))
            (right if result.topic.value == expected else wrong).append(result.confidence)
    assert sum(wrong) / len(wrong) < sum(right) / len(right) - 0.2


def test_requests_outside_customer_service_rarely_reach_a_department(classifier, corpus_dir):
    import json

    path = corpus_dir / "intents" / "clinc150" / "data" / "data_full.json"
    if not path.is_file():
        pytest.skip(f"{path} not found: skipping the out-of-scope check")
    out_of_scope = [text for text, _ in json.loads(path.read_text("utf-8"))["oos_test"]]
    routing = load_routing_config()
    departments = [
        route(
            routing, classifier.classify(ClassificationInput(text=t)), MessageFacts(channel=Channel.WEBCHAT)
        ).department
        for t in out_of_scope
    ]
    reached = sum(department not in (None, routing.fallback_department) for department in departments)
    assert reached / len(out_of_scope) <= 0.35
