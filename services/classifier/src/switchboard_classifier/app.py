"""The classifier service: its HTTP app (health, metrics) running the consume loop."""

from __future__ import annotations

from fastapi import FastAPI
from switchboard_common.health import HealthChecks
from switchboard_common.service import ConsumerRuntime, consumer_app
from switchboard_common.topics import TopicNames

from switchboard_classifier.classifier import Classifier, RulesClassifier
from switchboard_classifier.processor import ClassifierProcessor
from switchboard_classifier.settings import SERVICE, ClassifierSettings
from switchboard_classifier.taxonomy import load_taxonomy


def build_classifier(settings: ClassifierSettings) -> Classifier:
    """The classifier the settings describe; an invalid taxonomy fails here, at start-up."""
    return RulesClassifier(load_taxonomy(settings.taxonomy_path))


def create_app(settings: ClassifierSettings | None = None, classifier: Classifier | None = None) -> FastAPI:
    settings = settings or ClassifierSettings()
    classifier = classifier or build_classifier(settings)
    health = HealthChecks()
    processor = ClassifierProcessor(classifier, TopicNames(settings.kafka.topic_prefix))
    runtime = ConsumerRuntime(
        service=SERVICE,
        kafka=settings.kafka,
        consumer=settings.consumer,
        processors=[(settings.group_id, processor)],
        health=health,
    )
    return consumer_app(title="Switchboard classifier", runtime=runtime, health=health)
