"""``switchboard-classify``: classify JSON lines from standard input, with the service's code and configuration.

The classifier is the service's: the taxonomy's rules and the trained model (``CLASSIFIER_MODEL_PATH``
or the packaged one; ``--rules-only`` for the rules alone).

Each input line is ``{"text": ..., "channel": ..., "subject"?: ..., "language_hint"?: ..., "id"?: ...}``;
each output line has the classification and the department the routing rules would send it to. A line
that cannot be read produces ``{"line": n, "error": ...}`` and the tool goes on; the exit status is 1
when any line failed, 2 when the configuration is invalid.

    echo '{"text": "我的快递还没到", "channel": "webchat"}' | switchboard-classify
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from switchboard_classifier.classifier import ClassificationInput, Classifier, load_classifier
from switchboard_classifier.model import ModelError
from switchboard_classifier.settings import ClassifierSettings
from switchboard_classifier.taxonomy import TaxonomyError
from switchboard_common.events.envelope import dumps
from switchboard_common.events.models import Channel, Language
from switchboard_common.routing import (
    MessageFacts,
    RoutingConfig,
    RoutingConfigError,
    escalation_reasons,
    load_routing_config,
    route,
)


class ClassifyRequest(BaseModel):
    """One input line."""

    model_config = ConfigDict(extra="forbid")

    text: str
    channel: Channel
    subject: str | None = None
    language_hint: Language | None = None
    id: str | int | None = None


def classify_line(classifier: Classifier, routing: RoutingConfig, raw: bytes) -> dict[str, Any]:
    """The output for one input line (without its line number); raises ValueError for a malformed line."""
    try:
        request = ClassifyRequest.model_validate(orjson.loads(raw))
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'line'}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"not a classify request: {problems}") from None
    classification = classifier.classify(
        ClassificationInput(
            text=request.text, subject=request.subject, channel=request.channel, language_hint=request.language_hint
        )
    )
    decision = route(routing, classification, MessageFacts(channel=request.channel))
    output: dict[str, Any] = {} if request.id is None else {"id": request.id}
    output |= {
        "language": classification.language,
        "type": classification.type,
        "topic": classification.topic,
        "priority": classification.priority,
        "department": decision.department,
        "route_rule": decision.rule,
        "escalation": escalation_reasons(routing, classification, earlier_complaints_in_conversation=0),
        "confidence": classification.confidence,
        "sentiment": classification.sentiment,
        "entities": classification.entities,
        "masked_subject": classification.masked_subject,
        "masked_text": classification.masked_text,
        "evidence": classification.evidence,
        "model": classification.model,
    }
    return output


def run(classifier: Classifier, routing: RoutingConfig, lines: BinaryIO, out: BinaryIO) -> int:
    """Classify every line of ``lines`` onto ``out``; the number of lines that failed."""
    failed = 0
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            result = {"line": number} | classify_line(classifier, routing, raw)
        except ValueError as exc:
            failed += 1
            result = {"line": number, "error": str(exc)}
        out.write(dumps(result) + b"\n")
        out.flush()
    return failed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="switchboard-classify",
        description="Classify JSON lines from standard input, one JSON line out per line in.",
    )
    parser.add_argument("--taxonomy", type=Path, help="taxonomy file (default: CLASSIFIER_TAXONOMY_PATH or packaged)")
    parser.add_argument("--model", type=Path, help="model file (default: CLASSIFIER_MODEL_PATH or packaged)")
    parser.add_argument("--rules-only", action="store_true", help="the taxonomy's rules alone, without the model")
    parser.add_argument("--routing", type=Path, help="routing rules (default: CLASSIFIER_ROUTING_PATH or packaged)")
    args = parser.parse_args(argv)
    settings = ClassifierSettings()
    if args.taxonomy is not None:
        settings.taxonomy_path = args.taxonomy
    if args.routing is not None:
        settings.routing_path = args.routing
    if args.model is not None:
        settings.model_path = args.model
    try:
        classifier = load_classifier(
            settings.taxonomy_path, settings.model_path, use_model=settings.use_model and not args.rules_only
        )
        routing = load_routing_config(settings.routing_path)
    except (TaxonomyError, ModelError, RoutingConfigError) as exc:
        print(f"switchboard-classify: {exc}", file=sys.stderr)
        return 2
    failed = run(classifier, routing, sys.stdin.buffer, sys.stdout.buffer)
    if failed:
        print(f"switchboard-classify: {failed} line(s) could not be classified", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
