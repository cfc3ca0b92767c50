"""Routing rules: the department that owns a classified message, escalation, and deadlines.

Pure logic over a rules file (``config/routing.yaml`` by default). The dispatcher applies it to the
stream; the classifier's command line applies it to show the department a text would reach.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from switchboard_common.events.models import (
    Channel,
    Classification,
    EscalationReason,
    Language,
    MessageKind,
    MessageTopic,
    MessageType,
    Priority,
)

HINT = "$hint"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str | int | float) -> timedelta:
    """``"2h"``, ``"30m"``, ``"45s"``, ``"2d"`` or a number of seconds."""
    if isinstance(text, int | float):
        return timedelta(seconds=float(text))
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 10m, 2h, 2d)")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def _as_duration(value: object) -> object:
    if isinstance(value, int | float) or (isinstance(value, str) and _DURATION.match(value)):
        return parse_duration(value)
    return value


Duration = Annotated[timedelta, BeforeValidator(_as_duration)]
"""A duration in a settings or rules field: ``30s``, ``10m``, ``2h``, ``2d``, seconds, or ISO 8601 (``PT24H``)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RuleCondition(_Strict):
    """Every key given must match; a key matches when the message's value is in its list."""

    topic: list[MessageTopic] | None = None
    type: list[MessageType] | None = None
    priority: list[Priority] | None = None
    language: list[Language] | None = None
    channel: list[Channel] | None = None
    kind: list[MessageKind] | None = None
    hint: list[str] | None = None


class RoutingRule(_Strict):
    name: str
    when: RuleCondition
    department: str


class EscalationPolicy(_Strict):
    department: str = "supervisors"
    complaint_amount_over: Decimal | None = Decimal(500)
    repeated_complaints: int | None = Field(default=2, ge=2)
    priorities: list[Priority] = Field(default_factory=lambda: [Priority.URGENT])
    anger: bool = True


class IncidentPolicy(_Strict):
    threshold: int = Field(default=20, ge=2)
    window: Duration = timedelta(minutes=10)


class RoutingConfig(_Strict):
    """The whole rules file."""

    version: Literal[1] = 1
    min_confidence: float = Field(default=0.45, ge=0.0, le=1.0)
    fallback_department: str = "triage"
    rules: list[RoutingRule]
    escalation: EscalationPolicy = Field(default_factory=EscalationPolicy)
    deadlines: dict[Priority, Duration]
    incidents: IncidentPolicy = Field(default_factory=IncidentPolicy)

    @model_validator(mode="after")
    def _complete(self) -> RoutingConfig:
        missing = set(Priority) - set(self.deadlines)
        if missing:
            raise ValueError(f"deadlines missing for priorities: {sorted(p.value for p in missing)}")
        names = [r.name for r in self.rules]
        if len(set(names)) != len(names):
            raise ValueError("rule names must be unique")
        return self

    def departments(self) -> set[str]:
        """Every department the rules can route to (hint rules contribute their hint values)."""
        found = {self.fallback_department, self.escalation.department}
        for rule in self.rules:
            if rule.department == HINT:
                found.update(rule.when.hint or ())
            else:
                found.add(rule.department)
        return found


class RoutingConfigError(ValueError):
    """The rules file is invalid, or names departments the topic plan does not have."""


def load_routing_config(path: Path | None = None, *, known_departments: set[str] | None = None) -> RoutingConfig:
    """Read and validate a rules file; without a path, the rules shipped with the library."""
    try:
        if path is None:
            text = resources.files("switchboard_common.config").joinpath("routing.yaml").read_text("utf-8")
        else:
            text = Path(path).read_text("utf-8")
        config = RoutingConfig.model_validate(yaml.safe_load(text))
    except (OSError, yaml.YAMLError, ValueError) as exc:
        raise RoutingConfigError(f"invalid routing rules {path or '(packaged)'}: {exc}") from exc
    if known_departments is not None:
        unknown = config.departments() - known_departments
        if unknown:
            raise RoutingConfigError(f"routing rules name departments without a topic: {sorted(unknown)}")
    return config


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """Where a message goes. ``department`` is None for messages that are recorded, not routed."""

    department: str | None
    rule: str


@dataclass(frozen=True, slots=True)
class MessageFacts:
    """What routing looks at, beyond the classification."""

    channel: Channel
    kind: MessageKind = MessageKind.MESSAGE
    hint: str | None = None
    automated: bool = False


def route(config: RoutingConfig, classification: Classification, facts: MessageFacts) -> RouteDecision:
    """The first matching rule's department; the fallback below the confidence threshold."""
    if facts.automated or classification.type is MessageType.NON_ACTIONABLE:
        return RouteDecision(department=None, rule="non-actionable")
    if facts.kind is MessageKind.SATISFACTION_RESPONSE:
        return RouteDecision(department=None, rule="satisfaction-response")
    values: dict[str, object] = {
        "topic": classification.topic,
        "type": classification.type,
        "priority": classification.priority,
        "language": classification.language,
        "channel": facts.channel,
        "kind": facts.kind,
        "hint": facts.hint,
    }
    confident = classification.confidence >= config.min_confidence
    for rule in config.rules:
        if _matches(rule.when, values):
            if rule.department == HINT:
                return RouteDecision(department=facts.hint, rule=rule.name)
            if confident:
                return RouteDecision(department=rule.department, rule=rule.name)
            # Not confident enough for a content rule: only the customer's own choice may still route.
    if classification.confidence < config.min_confidence:
        return RouteDecision(department=config.fallback_department, rule="low-confidence")
    return RouteDecision(department=config.fallback_department, rule="no-rule-matched")


def _matches(condition: RuleCondition, values: dict[str, object]) -> bool:
    for key in ("topic", "type", "priority", "language", "channel", "kind", "hint"):
        allowed = getattr(condition, key)
        if allowed is not None and values[key] not in allowed:
            return False
    return True


def escalation_reasons(
    config: RoutingConfig, classification: Classification, *, earlier_complaints_in_conversation: int
) -> list[EscalationReason]:
    """Why a message must also reach the supervisors (empty when it need not)."""
    policy = config.escalation
    reasons: list[EscalationReason] = []
    is_complaint = classification.type is MessageType.COMPLAINT
    threshold = policy.complaint_amount_over
    if is_complaint and threshold is not None and any(m.amount > threshold for m in classification.entities.amounts):
        reasons.append(EscalationReason.HIGH_VALUE_COMPLAINT)
    if (
        is_complaint
        and policy.repeated_complaints is not None
        and earlier_complaints_in_conversation + 1 >= policy.repeated_complaints
    ):
        reasons.append(EscalationReason.REPEATED_COMPLAINT)
    if classification.priority in policy.priorities:
        reasons.append(EscalationReason.URGENT_PRIORITY)
    if policy.anger and classification.sentiment.anger:
        reasons.append(EscalationReason.ANGER)
    return reasons


def resolution_deadline(config: RoutingConfig, priority: Priority, received_at: datetime) -> datetime:
    return received_at + config.deadlines[priority]
