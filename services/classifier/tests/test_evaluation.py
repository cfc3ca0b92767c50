"""The evaluation: per-class scores, macro-F1, confusion, rejection and departments, checked against hand counts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from switchboard_classifier.classifier import ClassificationInput
from switchboard_classifier.evaluation import evaluate, head_report, render
from switchboard_classifier.examples import ExampleError, read_examples
from switchboard_common.events.models import Classification, Language, MessageTopic, MessageType, Priority, Sentiment
from switchboard_common.routing import load_routing_config

SCRIPT = Path(sys.executable).parent / "switchboard-classifier-evaluate"

# text: (truth as a JSON line, what the stand-in classifier answers: type, topic, confidence, angry)
CASES = {
    "a": ({"type": "inquiry", "topic": "order", "anger": False, "language": "en"}, ("inquiry", "order", 0.9, False)),
    "b": (
        {"type": "inquiry", "topic": "logistics", "anger": True, "language": "en"},
        ("complaint", "logistics", 0.9, False),
    ),
    "c": ({"type": "complaint", "topic": "other", "anger": True, "language": "en"}, ("complaint", "other", 0.9, True)),
    "d": ({"type": "non_actionable", "language": "zh-Hans"}, ("non_actionable", "other", 0.9, False)),
    "e": ({"type": "non_actionable", "language": "zh-Hans"}, ("inquiry", "other", 0.3, False)),
    "f": ({"type": "fault", "topic": "product", "language": "zh-Hans"}, ("inquiry", "product", 0.3, False)),
}


class CannedClassifier:
    """Answers each text of CASES as written there."""

    name = "canned"

    def classify(self, item: ClassificationInput) -> Classification:
        type_, topic, confidence, angry = CASES[item.text][1]
        return Classification(
            language=Language.EN,
            type=MessageType(type_),
            topic=MessageTopic(topic),
            priority=Priority.LOW,
            sentiment=Sentiment(score=-0.6 if angry else 0.0, anger=angry),
            masked_text=item.text,
            confidence=confidence,
            model=self.name,
        )


@pytest.fixture
def labelled_file(tmp_path) -> Path:
    path = tmp_path / "labelled.jsonl"
    path.write_text("".join(json.dumps({"text": text} | truth) + "\n" for text, (truth, _) in CASES.items()), "utf-8")
    return path


@pytest.fixture
def report(labelled_file):
    return evaluate(CannedClassifier(), read_examples(labelled_file), load_routing_config(), name="hand-counted")


def test_per_class_precision_recall_and_f1_are_counted_as_by_hand(report):
    types = report.heads["type"]
    inquiry = types.scores_of("inquiry")  # predicted for a, e, f; right for a; true for a, b
    assert (inquiry.precision, inquiry.recall, inquiry.f1) == pytest.approx((1 / 3, 1 / 2, 0.4))
    complaint = types.scores_of("complaint")  # predicted for b, c; right for c
    assert (complaint.precision, complaint.recall, complaint.f1) == pytest.approx((1 / 2, 1.0, 2 / 3))
    fault = types.scores_of("fault")
    assert (fault.precision, fault.recall, fault.f1, fault.support) == (0.0, 0.0, 0.0, 1)
    na = types.scores_of("non_actionable")
    assert (na.precision, na.recall, na.f1) == pytest.approx((1.0, 1 / 2, 2 / 3))


def test_macro_f1_averages_the_classes_that_occur_and_accuracy_counts_right_answers(report):
    types = report.heads["type"]
    assert types.macro_f1 == pytest.approx((0.4 + 2 / 3 + 0.0 + 2 / 3) / 4)  # suggestion never occurs
    assert types.accuracy == pytest.approx(3 / 6)
    assert types.total == 6


def test_the_confusion_matrix_has_truth_in_rows_and_predictions_in_columns(report):
    types = report.heads["type"]
    row = dict(zip(types.labels, types.confusion[types.labels.index("inquiry")], strict=True))
    assert (row["inquiry"], row["complaint"]) == (1, 1)
    na_row = dict(zip(types.labels, types.confusion[types.labels.index("non_actionable")], strict=True))
    assert (na_row["non_actionable"], na_row["inquiry"]) == (1, 1)
    assert sum(map(sum, types.confusion)) == 6


def test_only_labelled_examples_count_for_a_label_and_non_actionable_implies_topic_other_and_low(report):
    assert report.heads["anger"].total == 3
    assert report.heads["topic"].total == 6
    assert report.heads["priority"].total == 2


def test_out_of_scope_rejection_counts_non_actionable_and_below_confidence(report):
    rejection = report.rejection
    assert (rejection.out_of_scope, rejection.rejected, rejection.as_non_actionable, rejection.to_triage) == (
        2,
        2,
        1,
        1,
    )
    assert rejection.rate == 1.0
    assert (rejection.requests, rejection.requests_rejected) == (4, 1)
    assert rejection.false_rejection_rate == 0.25


def test_departments_compare_where_the_rules_send_the_prediction_and_the_truth(report):
    # a orders=orders, b logistics=logistics (topic first), c after_sales=after_sales, f tech_support vs triage
    assert (report.departments.total, report.departments.right, report.departments.to_triage) == (4, 3, 1)
    assert report.departments.accuracy == 0.75


def test_complaints_and_anger_are_scored_per_language(report):
    english = next(scores for scores in report.languages if scores.language == "en")
    assert english.examples == 3
    assert (english.complaint.precision, english.complaint.recall) == pytest.approx((1 / 2, 1.0))
    assert (english.anger.precision, english.anger.recall) == pytest.approx((1.0, 1 / 2))
    chinese = next(scores for scores in report.languages if scores.language == "zh-Hans")
    assert chinese.anger is None


def test_the_text_report_shows_every_part(report):
    text = render(report)
    for part in ("macro-F1 0.433", "confusion (rows: truth", "out-of-scope rejection: 1.000", "department right first"):
        assert part in text


def test_a_head_with_no_pairs_scores_zero_without_failing():
    empty = head_report("type", ("inquiry", "complaint"), [])
    assert (empty.macro_f1, empty.accuracy, empty.total) == (0.0, 0.0, 0)


def test_a_misspelt_label_is_an_error_naming_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "hi", "type": "inquiry"}\n{"text": "hi", "typ": "inquiry"}\n', "utf-8")
    with pytest.raises(ExampleError, match=r"bad\.jsonl:2: typ"):
        read_examples(path)


def run_evaluate(*args: str) -> subprocess.CompletedProcess[str]:
    assert SCRIPT.exists(), f"{SCRIPT} is not installed (uv sync --all-packages)"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CLASSIFIER_")}
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, env=environment, timeout=300, check=False
    )


def test_the_command_prints_json_for_a_file_with_the_services_classifier(labelled_file, tmp_path):
    path = tmp_path / "real.jsonl"
    lines = [
        {"text": "我的快递三天了还没到", "type": "inquiry", "topic": "logistics"},
        {"text": "I want to return these shoes for a refund", "topic": "after_sales"},
    ]
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), "utf-8")
    result = run_evaluate(str(path), "--json")
    assert result.returncode == 0, result.stderr
    (document,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert document["examples"] == 2
    assert "+model/" in document["classifier"]
    assert document["heads"]["topic"]["total"] == 2
    assert set(document["heads"]) == {"type", "topic"}


def test_the_command_compares_with_the_rules_alone(tmp_path):
    path = tmp_path / "one.jsonl"
    path.write_text('{"text": "where is my parcel", "topic": "logistics"}\n', "utf-8")
    result = run_evaluate(str(path), "--rules-only")
    assert result.returncode == 0, result.stderr
    assert "classifier rules/switchboard-default-v1\n" in result.stdout


def test_the_command_stops_with_the_reason_on_a_bad_file(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text("{not json\n", "utf-8")
    result = run_evaluate(str(path))
    assert result.returncode == 2
    assert "bad.jsonl:1: not valid JSON" in result.stderr
