"""The classifier service: its HTTP app (health, metrics) running the consume loop."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from switchboard_classifier.classifier import Classifier, load_classifier
from switchboard_classifier.processor import ClassifierProcessor
from switchboard_classifier.settings import SERVICE, ClassifierSettings
from switchboard_common.health import HealthChecks
from switchboard_common.service import ConsumerRuntime, consumer_app
from switchboard_common.topics import TopicNames

log = logging.getLogger(__name__)


def create_app(settings: ClassifierSettings | None = None, classifier: Classifier | None = None) -> FastAPI:
    """The service app; the classifier is built from the settings (an invalid taxonomy or model fails here)."""
    settings = settings or ClassifierSettings()
    classifier = classifier or load_classifier(
        settings.taxonomy_path, settings.model_path, use_model=settings.use_model
    )
    log.info("classifier loaded", extra={"classifier": classifier.name})
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
