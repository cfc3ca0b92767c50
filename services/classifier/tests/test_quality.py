"""Quality floors: the service's classifier on data training never saw, well below what it measures.

The floors catch a broken model or combination (a wrong label order, a feature mismatch between
training and serving, a model that lost a language form); they are not the figures to quote. The
measured figures are in the README ("Classifier quality"), with the commands that produce them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from switchboard_classifier.corpora import Corpus, corpus_available, load_mapping, read_corpus
from switchboard_classifier.evaluation import Report, evaluate
from switchboard_classifier.examples import read_example_files
from switchboard_classifier.training import default_training_dir
from switchboard_common.routing import load_routing_config

EVALUATION_SPLIT = sorted((default_training_dir() / "data" / "eval").glob("*.jsonl"))
LANGUAGES = ("en", "zh-Hans", "zh-Hant")


@pytest.fixture(scope="module")
def own(classifier, rules_classifier) -> tuple[Report, Report]:
    """The service's classifier and the rules alone on the project's evaluation split."""
    assert len(EVALUATION_SPLIT) == 3, EVALUATION_SPLIT
    examples = read_example_files(EVALUATION_SPLIT)
    routing = load_routing_config()
    return evaluate(classifier, examples, routing), evaluate(rules_classifier, examples, routing)


def by_language(report: Report, language: str):
    return next(scores for scores in report.languages if scores.language == language)


def test_the_evaluation_split_has_every_language_form_type_topic_and_priority():
    examples = read_example_files(EVALUATION_SPLIT)
    assert {e.language.value for e in examples if e.language} == set(LANGUAGES)
    for language in LANGUAGES:
        mine = [e for e in examples if e.language and e.language.value == language]
        assert len(mine) >= 60, language
        assert len({e.type for e in mine}) == 5, language
        assert len({e.priority for e in mine}) == 3, language
        assert len({e.topic for e in mine}) >= 7, language
        assert any(e.anger for e in mine), language


@pytest.mark.parametrize("language", LANGUAGES)
def test_type_topic_and_priority_are_recognised_in_every_language_form(own, language):
    scores = by_language(own[0], language)
    assert scores.macro_f1["type"] >= 0.65
    assert scores.macro_f1["topic"] >= 0.65
    assert scores.macro_f1["priority"] >= 0.65


@pytest.mark.parametrize("language", LANGUAGES)
def test_complaints_and_anger_are_detected_in_every_language_form(own, language):
    scores = by_language(own[0], language)
    assert scores.complaint is not None and scores.complaint.f1 >= 0.45
    assert scores.anger is not None and scores.anger.f1 >= 0.5


def test_most_messages_reach_the_right_department_first_and_more_than_with_the_rules_alone(own):
    hybrid, rules = own
    assert hybrid.departments.accuracy >= 0.62
    assert hybrid.departments.accuracy > rules.departments.accuracy


def test_messages_that_are_no_request_are_mostly_kept_from_the_departments(own):
    hybrid, _ = own
    assert hybrid.rejection.rate >= 0.7
    assert hybrid.rejection.false_rejection_rate <= 0.3


def corpus_reports(corpus: Corpus, corpus_dir: Path, classifier, rules_classifier) -> tuple[Report, Report]:
    if not corpus_available(corpus, corpus_dir):
        pytest.skip(f"{corpus.value} not under {corpus_dir}")
    mapping = load_mapping(default_training_dir() / "mappings" / f"{corpus.value}.yaml")
    examples = read_corpus(corpus, corpus_dir, "test", mapping)
    routing = load_routing_config()
    return evaluate(classifier, examples, routing), evaluate(rules_classifier, examples, routing)


@pytest.mark.parametrize(
    ("corpus", "floor"),
    [(Corpus.BANKING77, 0.75), (Corpus.BITEXT, 0.85), (Corpus.HINT3, 0.5), (Corpus.CLINC150, 0.65)],
)
def test_the_corpora_test_splits_reach_the_right_department_better_than_the_rules_alone(
    corpus, floor, corpus_dir, classifier, rules_classifier
):
    hybrid, rules = corpus_reports(corpus, corpus_dir, classifier, rules_classifier)
    assert hybrid.departments.accuracy >= floor
    assert hybrid.departments.accuracy > rules.departments.accuracy


def test_clinc150_out_of_scope_queries_are_rejected(corpus_dir, classifier, rules_classifier):
    hybrid, _ = corpus_reports(Corpus.CLINC150, corpus_dir, classifier, rules_classifier)
    assert hybrid.rejection.rate >= 0.75
    assert hybrid.rejection.false_rejection_rate <= 0.2


def test_bitext_complaints_are_complaints(corpus_dir, classifier, rules_classifier):
    hybrid, _ = corpus_reports(Corpus.BITEXT, corpus_dir, classifier, rules_classifier)
    assert hybrid.heads["type"].scores_of("complaint").f1 >= 0.85
