"""The taxonomy file: the vocabulary and weights the rules classifier decides with.

The packaged default is ``config/taxonomy.yaml``; operators point ``CLASSIFIER_TAXONOMY_PATH`` at
their own copy to change it without a code change. Every label is described by rule groups; a
group holds keywords per language (simplified Chinese, traditional Chinese, English) and optional
regular expressions, all matched against normalised text (NFKC, lower case, single spaces).

Keywords with ASCII letters match whole words; a trailing ``*`` makes an English keyword a stem
(``refund*`` matches refund, refunds, refunded). Chinese keywords match anywhere. Where keywords
overlap, the longest one wins (``不急`` is not ``急``; ``not urgent`` is not ``urgent``).
"""

from __future__ import annotations

import re
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from switchboard_common.events.models import MessageTopic, MessageType

_NAMED_GROUP = re.compile(r"\(\?P[<=]")
_BACKREFERENCE = re.compile(r"\\[1-9]")


class UrgentReason(StrEnum):
    """Why a message is urgent by the customer-service process."""

    SAFETY = "safety"
    MONEY = "money"
    DATA = "data"
    BUSINESS_STOPPED = "business_stopped"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RuleGroup(_Strict):
    """Keywords and patterns that are evidence for one label, with the weight of that evidence."""

    name: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    weight: float = Field(default=1.0, gt=0.0, le=10.0)
    decisive: bool = Field(
        default=False,
        description="A keyword of this group decides the label by itself: the trained model cannot overrule it.",
    )
    zh_hans: list[str] = Field(default_factory=list, alias="zh-Hans")
    zh_hant: list[str] = Field(default_factory=list, alias="zh-Hant")
    en: list[str] = Field(default_factory=list)
    patterns: list[str] = Field(
        default_factory=list, description="Regular expressions on the normalised text, in any language."
    )

    @field_validator("zh_hans", "zh_hant", "en")
    @classmethod
    def _keywords(cls, value: list[str]) -> list[str]:
        for keyword in value:
            if not isinstance(keyword, str) or not keyword.strip(" *"):
                raise ValueError(f"empty keyword in {value!r}")
            if "*" in keyword.rstrip("*") or keyword.endswith("**"):
                raise ValueError(f"keyword {keyword!r}: '*' is only allowed once, at the end")
        return value

    @field_validator("patterns")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        for pattern in value:
            if _NAMED_GROUP.search(pattern) or _BACKREFERENCE.search(pattern):
                raise ValueError(f"pattern {pattern!r}: named groups and backreferences are not supported")
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern {pattern!r} is not a valid regular expression: {exc}") from None
            if compiled.match(""):
                raise ValueError(f"pattern {pattern!r} matches the empty string")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> RuleGroup:
        if not (self.zh_hans or self.zh_hant or self.en or self.patterns):
            raise ValueError(f"rule group {self.name!r} has no keywords and no patterns")
        return self

    def keywords(self) -> list[str]:
        return [*self.zh_hans, *self.zh_hant, *self.en]


RuleGroups = list[RuleGroup]


class SentimentRules(_Strict):
    positive: RuleGroups
    negative: RuleGroups


class Scoring(_Strict):
    """Numbers that turn evidence into decisions."""

    evidence_scale: float = Field(
        default=2.0, gt=0.0, description="Evidence weight at which confidence reaches 63% (1 - 1/e)."
    )
    anger_threshold: float = Field(default=1.0, gt=0.0, description="Anger evidence from which a customer is angry.")
    negative_anger_share: float = Field(
        default=0.25, ge=0.0, description="Anger evidence each negative word adds (capped at 0.5 in all)."
    )
    shouting_weight: float = Field(default=0.5, ge=0.0, description="Anger evidence of a message written in capitals.")
    shouting_min_letters: int = Field(default=12, ge=1)
    shouting_ratio: float = Field(default=0.8, gt=0.0, le=1.0)
    no_request_max_chars: int = Field(
        default=40, ge=1, description="Pleasantries alone make a message non-actionable only when it is this short."
    )
    undetermined_language_factor: float = Field(
        default=0.6, ge=0.0, le=1.0, description="Confidence multiplier when the language is undetermined."
    )


class Combination(_Strict):
    """How the rules and the trained model decide together (see ``combination.py``)."""

    rules_weight_type: float = Field(
        default=1.2, ge=0.0, description="Weight of the rules' type evidence against the model's probabilities."
    )
    rules_weight_topic: float = Field(
        default=1.2, ge=0.0, description="Weight of the rules' topic evidence against the model's probabilities."
    )
    rules_weight_request: float = Field(
        default=1.2, ge=0.0, description="Weight of the rules' request / no-request evidence against the model's."
    )
    not_request_threshold: float = Field(
        default=0.6,
        ge=0.5,
        le=1.0,
        description="Probability of 'not a customer request' from which a message is non-actionable; a message "
        "between 0.5 and this keeps its type with a confidence of at most 1 minus this (to triage).",
    )
    anger_threshold: float = Field(
        default=0.5,
        gt=0.0,
        le=1.0,
        description="Model probability of anger from which the customer is angry (rules also can say so).",
    )
    topics_routed_by_type: list[MessageTopic] = Field(
        default_factory=lambda: [MessageTopic.PRODUCT, MessageTopic.OTHER],
        description="Topics the routing rules leave to the type: only for these does the type's probability "
        "count in the confidence.",
    )
    priority_threshold: float = Field(
        default=0.6,
        gt=0.0,
        le=1.0,
        description="Model probability from which its priority may raise the process priority.",
    )


class Taxonomy(_Strict):
    """The whole taxonomy file."""

    version: Literal[1] = 1
    name: str = Field(min_length=1, description="Reported in every classification as the model name.")
    types: dict[MessageType, RuleGroups]
    topics: dict[MessageTopic, RuleGroups]
    urgent: dict[UrgentReason, RuleGroups]
    stated_urgency: RuleGroups
    no_rush: RuleGroups = Field(default_factory=list)
    anger: RuleGroups
    sentiment: SentimentRules
    no_request: RuleGroups = Field(default_factory=list)
    scoring: Scoring = Field(default_factory=Scoring)
    combination: Combination = Field(default_factory=Combination)

    @model_validator(mode="after")
    def _complete(self) -> Taxonomy:
        missing_types = set(MessageType) - set(self.types)
        if missing_types:
            raise ValueError(f"types without rules: {sorted(t.value for t in missing_types)}")
        if MessageTopic.OTHER in self.topics:
            raise ValueError("topic 'other' is what remains when no topic matched: it takes no rules")
        missing_topics = set(MessageTopic) - set(self.topics) - {MessageTopic.OTHER}
        if missing_topics:
            raise ValueError(f"topics without rules: {sorted(t.value for t in missing_topics)}")
        missing_reasons = set(UrgentReason) - set(self.urgent)
        if missing_reasons:
            raise ValueError(f"urgent reasons without rules: {sorted(r.value for r in missing_reasons)}")
        return self


class TaxonomyError(ValueError):
    """The taxonomy file cannot be read or is invalid; the message says where and why."""


def load_taxonomy(path: Path | None = None) -> Taxonomy:
    """Read and validate a taxonomy file; without a path, the taxonomy shipped with the classifier."""
    where = str(path) if path is not None else "(packaged taxonomy.yaml)"
    try:
        if path is None:
            text = resources.files("switchboard_classifier.config").joinpath("taxonomy.yaml").read_text("utf-8")
        else:
            text = Path(path).read_text("utf-8")
        document = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise TaxonomyError(f"cannot read taxonomy {where}: {exc}") from exc
    if not isinstance(document, dict):
        raise TaxonomyError(f"invalid taxonomy {where}: expected a mapping at the top level")
    try:
        return Taxonomy.model_validate(document)
    except ValidationError as exc:
        raise TaxonomyError(f"invalid taxonomy {where}: {_summarise(exc)}") from None


def _summarise(exc: ValidationError, limit: int = 5) -> str:
    parts = []
    for error in exc.errors()[:limit]:
        location = ".".join(str(p) for p in error["loc"]) or "(top level)"
        parts.append(f"{location}: {error['msg']}")
    if exc.error_count() > limit:
        parts.append(f"and {exc.error_count() - limit} more")
    return "; ".join(parts)
