"""The classifier's settings, from the environment (prefix ``CLASSIFIER_``) and an optional ``.env``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from switchboard_common.settings import ConsumerServiceSettings

SERVICE = "classifier"


class ClassifierSettings(ConsumerServiceSettings):
    """Everything the classifier service and the ``switchboard-classify`` command line are configured with."""

    model_config = SettingsConfigDict(env_prefix="CLASSIFIER_", extra="ignore", env_file=".env")

    taxonomy_path: Path | None = Field(
        default=None, description="Taxonomy file (YAML); the packaged taxonomy when not set."
    )
    model_path: Path | None = Field(
        default=None, description="Trained model file (.npz); the model packaged with the classifier when not set."
    )
    use_model: bool = Field(
        default=True, description="Decide with the trained model beside the rules; false: the rules alone."
    )
    routing_path: Path | None = Field(
        default=None,
        description="Routing rules (YAML) the command line shows departments with; the packaged rules when not set.",
    )

    @property
    def group_id(self) -> str:
        """The consumer group of the classifier under this gateway's topic prefix."""
        return f"{self.kafka.topic_prefix}switchboard-classifier"
