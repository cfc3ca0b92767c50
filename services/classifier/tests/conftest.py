"""Fixtures of the classifier's tests: the packaged taxonomy, compiled once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from switchboard_classifier.classifier import ClassificationInput, RulesClassifier
from switchboard_classifier.taxonomy import Taxonomy, load_taxonomy
from switchboard_common.events.models import Classification

Classify = Callable[..., Classification]


@pytest.fixture(scope="session")
def taxonomy() -> Taxonomy:
    return load_taxonomy()


@pytest.fixture(scope="session")
def classifier(taxonomy: Taxonomy) -> RulesClassifier:
    return RulesClassifier(taxonomy)


@pytest.fixture(scope="session")
def classify(classifier: RulesClassifier) -> Classify:
    """``classify(text, **fields of ClassificationInput)``."""

    def run(text: str, **fields: Any) -> Classification:
        return classifier.classify(ClassificationInput(text=text, **fields))

    return run
