"""Measuring a classifier on labelled examples: ``switchboard-classifier-evaluate``.

For each label the examples carry (type, topic, priority, anger), the report gives per-class
precision, recall and F1, the macro-F1 (the mean F1 over the classes that occur in the truth or the
predictions) and the confusion matrix (rows: truth, columns: prediction). It also gives:

* out-of-scope rejection: of the examples that are no customer request (type ``non_actionable``), the
  share that no department receives by content, because they were classified non-actionable or their
  confidence is below the routing rules' ``min_confidence`` (they go to triage); and the share of real
  requests rejected that way (false rejections);
* department accuracy: where an example has type and topic, whether the routing rules send the
  classification where they would send the truth (a message sent to triage counts as not right);
* per language form (the example's ``language``, else the detected one): macro-F1 of each label and
  the complaint and anger scores, which drive priority and escalation.

The classifier is the service's own, with its configuration: taxonomy, model, routing rules.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from switchboard_classifier.classifier import ClassificationInput, Classifier, load_classifier
from switchboard_classifier.corpora import Corpus, CorpusError, default_corpus_dir, load_mapping, read_corpus
from switchboard_classifier.examples import Example, ExampleError, read_examples
from switchboard_classifier.model import ModelError
from switchboard_classifier.settings import ClassifierSettings
from switchboard_classifier.taxonomy import TaxonomyError
from switchboard_common.events.models import Channel, Classification, MessageTopic, MessageType, Priority
from switchboard_common.routing import MessageFacts, RoutingConfig, RoutingConfigError, load_routing_config, route

HEAD_LABELS: dict[str, tuple[str, ...]] = {
    "type": tuple(t.value for t in MessageType),
    "topic": tuple(t.value for t in MessageTopic),
    "priority": tuple(p.value for p in Priority),
    "anger": ("calm", "angry"),
}


@dataclass(frozen=True, slots=True)
class ClassScores:
    label: str
    precision: float
    recall: float
    f1: float
    support: int
    predicted: int


@dataclass(frozen=True, slots=True)
class HeadReport:
    """Scores of one label (type, topic, priority or anger) over the examples that carry it."""

    head: str
    labels: tuple[str, ...]
    classes: tuple[ClassScores, ...]
    macro_f1: float
    accuracy: float
    confusion: tuple[tuple[int, ...], ...]
    total: int

    def scores_of(self, label: str) -> ClassScores:
        return next(c for c in self.classes if c.label == label)


def head_report(head: str, labels: Sequence[str], pairs: Sequence[tuple[str, str]]) -> HeadReport:
    """Precision, recall, F1, macro-F1, accuracy and confusion matrix of (truth, prediction) pairs."""
    index = {label: i for i, label in enumerate(labels)}
    confusion = [[0] * len(labels) for _ in labels]
    for truth, prediction in pairs:
        confusion[index[truth]][index[prediction]] += 1
    classes = []
    for i, label in enumerate(labels):
        true_positive = confusion[i][i]
        support = sum(confusion[i])
        predicted = sum(row[i] for row in confusion)
        precision = true_positive / predicted if predicted else 0.0
        recall = true_positive / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        classes.append(ClassScores(label, precision, recall, f1, support, predicted))
    occurring = [c for c in classes if c.support or c.predicted]
    macro_f1 = sum(c.f1 for c in occurring) / len(occurring) if occurring else 0.0
    correct = sum(confusion[i][i] for i in range(len(labels)))
    return HeadReport(
        head=head,
        labels=tuple(labels),
        classes=tuple(classes),
        macro_f1=macro_f1,
        accuracy=correct / len(pairs) if pairs else 0.0,
        confusion=tuple(tuple(row) for row in confusion),
        total=len(pairs),
    )


@dataclass(frozen=True, slots=True)
class Rejection:
    """How messages that are no customer request are kept from the departments, and what it costs."""

    out_of_scope: int
    rejected: int
    as_non_actionable: int
    to_triage: int
    requests: int
    requests_rejected: int

    @property
    def rate(self) -> float:
        return self.rejected / self.out_of_scope if self.out_of_scope else 0.0

    @property
    def false_rejection_rate(self) -> float:
        return self.requests_rejected / self.requests if self.requests else 0.0


@dataclass(frozen=True, slots=True)
class Departments:
    """Whether the routing rules send each classified message where they would send its truth."""

    total: int
    right: int
    to_triage: int

    @property
    def accuracy(self) -> float:
        return self.right / self.total if self.total else 0.0


@dataclass(frozen=True, slots=True)
class LanguageScores:
    language: str
    examples: int
    macro_f1: dict[str, float]
    complaint: ClassScores | None
    anger: ClassScores | None


@dataclass(frozen=True, slots=True)
class Report:
    name: str
    classifier: str
    examples: int
    heads: dict[str, HeadReport]
    rejection: Rejection
    departments: Departments
    languages: list[LanguageScores] = field(default_factory=list)
    min_confidence: float = 0.0


def truth_of(example: Example, head: str) -> str | None:
    match head:
        case "type":
            return example.type.value if example.type else None
        case "topic":
            return example.topic.value if example.topic else None
        case "priority":
            return example.priority.value if example.priority else None
        case "anger":
            return None if example.anger is None else ("angry" if example.anger else "calm")
    raise ValueError(head)


def prediction_of(classification: Classification, head: str) -> str:
    match head:
        case "type":
            return classification.type.value
        case "topic":
            return classification.topic.value
        case "priority":
            return classification.priority.value
        case "anger":
            return "angry" if classification.sentiment.anger else "calm"
    raise ValueError(head)


def evaluate(classifier: Classifier, examples: Sequence[Example], routing: RoutingConfig, *, name: str = "") -> Report:
    """Classify every example with ``classifier`` and score the labels it carries."""
    facts = MessageFacts(channel=Channel.WEBCHAT)
    classified = [classifier.classify(ClassificationInput(text=e.text)) for e in examples]
    pairs: dict[str, list[tuple[str, str]]] = defaultdict(list)
    by_language: dict[str, dict[str, list[tuple[str, str]]]] = defaultdict(lambda: defaultdict(list))
    language_counts: Counter[str] = Counter()
    out_of_scope = rejected = as_non_actionable = to_triage = requests = requests_rejected = 0
    departments_total = departments_right = departments_triage = 0
    for example, classification in zip(examples, classified, strict=True):
        language = (example.language or classification.language).value
        language_counts[language] += 1
        for head in HEAD_LABELS:
            truth = truth_of(example, head)
            if truth is not None:
                pair = (truth, prediction_of(classification, head))
                pairs[head].append(pair)
                by_language[language][head].append(pair)
        low_confidence = classification.confidence < routing.min_confidence
        predicted_na = classification.type is MessageType.NON_ACTIONABLE
        if example.request is False:
            out_of_scope += 1
            rejected += predicted_na or low_confidence
            as_non_actionable += predicted_na
            to_triage += low_confidence and not predicted_na
        elif example.request is True:
            requests += 1
            requests_rejected += predicted_na or low_confidence
        if example.type is not None and example.topic is not None and example.type is not MessageType.NON_ACTIONABLE:
            truth_classification = classification.model_copy(
                update={
                    "type": example.type,
                    "topic": example.topic,
                    "priority": example.priority or classification.priority,
                    "confidence": 1.0,
                }
            )
            expected = route(routing, truth_classification, facts)
            actual = route(routing, classification, facts)
            departments_total += 1
            departments_right += actual.department == expected.department
            departments_triage += actual.rule == "low-confidence"
    heads = {head: head_report(head, HEAD_LABELS[head], pairs[head]) for head in HEAD_LABELS if pairs[head]}
    languages = []
    for language in sorted(by_language):
        reports = {head: head_report(head, HEAD_LABELS[head], p) for head, p in by_language[language].items() if p}
        languages.append(
            LanguageScores(
                language=language,
                examples=language_counts[language],
                macro_f1={head: report.macro_f1 for head, report in reports.items()},
                complaint=reports["type"].scores_of(MessageType.COMPLAINT.value) if "type" in reports else None,
                anger=reports["anger"].scores_of("angry") if "anger" in reports else None,
            )
        )
    return Report(
        name=name,
        classifier=classifier.name,
        examples=len(examples),
        heads=heads,
        rejection=Rejection(out_of_scope, rejected, as_non_actionable, to_triage, requests, requests_rejected),
        departments=Departments(departments_total, departments_right, departments_triage),
        languages=languages,
        min_confidence=routing.min_confidence,
    )


def as_json(report: Report) -> dict[str, Any]:
    document = asdict(report)
    document["rejection"] |= {
        "rate": report.rejection.rate,
        "false_rejection_rate": report.rejection.false_rejection_rate,
    }
    document["departments"] |= {"accuracy": report.departments.accuracy}
    return document


def render(report: Report) -> str:
    """The report as text for a terminal."""
    lines = [f"== {report.name}: {report.examples} examples, classifier {report.classifier}"]
    for head in report.heads.values():
        lines.append("")
        lines.append(f"{head.head} ({head.total} labelled): macro-F1 {head.macro_f1:.3f}, accuracy {head.accuracy:.3f}")
        lines.append(f"  {'class':<16}{'precision':>10}{'recall':>8}{'F1':>8}{'support':>9}")
        for scores in head.classes:
            if scores.support or scores.predicted:
                numbers = f"{scores.precision:>10.3f}{scores.recall:>8.3f}{scores.f1:>8.3f}{scores.support:>9}"
                lines.append(f"  {scores.label:<16}{numbers}")
        shown = [i for i, c in enumerate(head.classes) if c.support or c.predicted]
        short = [_abbreviate(head.labels[i]) for i in shown]
        lines.append("  confusion (rows: truth, columns: predicted)")
        lines.append("  " + " " * 16 + "".join(f"{s:>7}" for s in short))
        for i in shown:
            row = head.confusion[i]
            lines.append(f"  {head.labels[i]:<16}" + "".join(f"{row[j]:>7}" for j in shown))
    rejection = report.rejection
    lines.append("")
    if rejection.out_of_scope:
        lines.append(
            f"out-of-scope rejection: {rejection.rate:.3f} ({rejection.rejected}/{rejection.out_of_scope}: "
            f"{rejection.as_non_actionable} non-actionable, {rejection.to_triage} to triage below confidence "
            f"{report.min_confidence})"
        )
    if rejection.requests:
        lines.append(
            f"requests rejected: {rejection.false_rejection_rate:.3f} "
            f"({rejection.requests_rejected}/{rejection.requests} non-actionable or below confidence)"
        )
    if report.departments.total:
        departments = report.departments
        lines.append(
            f"department right first time: {departments.accuracy:.3f} ({departments.right}/{departments.total}; "
            f"{departments.to_triage} to triage)"
        )
    if report.languages:
        heads = [h for h in HEAD_LABELS if h in report.heads]
        lines.append("")
        lines.append(
            f"  {'language':<10}{'examples':>9}"
            + "".join(f"{h + ' F1':>13}" for h in heads)
            + f"{'complaint P/R/F1':>22}{'anger P/R/F1':>22}"
        )
        for language in report.languages:
            cells = "".join(f"{language.macro_f1[h]:>13.3f}" if h in language.macro_f1 else f"{'-':>13}" for h in heads)
            focus = f"{_prf(language.complaint):>22}{_prf(language.anger):>22}"
            lines.append(f"  {language.language:<10}{language.examples:>9}{cells}{focus}")
    return "\n".join(lines)


def _prf(scores: ClassScores | None) -> str:
    if scores is None or not (scores.support or scores.predicted):
        return "-"
    return f"{scores.precision:.2f}/{scores.recall:.2f}/{scores.f1:.2f}"


def _abbreviate(label: str) -> str:
    return {"non_actionable": "n/a", "after_sales": "after", "suggestion": "sugg", "complaint": "compl"}.get(
        label, label[:6]
    )


def _corpus_test_split(corpus: Corpus, corpus_dir: Path, mappings: Path) -> list[Example]:
    return read_corpus(corpus, corpus_dir, "test", load_mapping(mappings / f"{corpus.value}.yaml"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="switchboard-classifier-evaluate",
        description="Evaluate the classifier (the service's code and configuration) on labelled JSON lines.",
    )
    parser.add_argument(
        "files", nargs="*", type=Path, help='JSON lines: {"text", "type"?, "topic"?, "priority"?, "anger"?}'
    )
    parser.add_argument(
        "--corpus", action="append", default=[], choices=[c.value for c in Corpus], help="a corpus's mapped test split"
    )
    parser.add_argument("--corpus-dir", type=Path, help="third-party corpora (default: SWITCHBOARD_CORPUS_DIR)")
    parser.add_argument("--mappings", type=Path, help="mapping files (default: the classifier's training/mappings)")
    parser.add_argument("--rules-only", action="store_true", help="the taxonomy's rules alone, without the model")
    parser.add_argument("--taxonomy", type=Path, help="taxonomy file (default: CLASSIFIER_TAXONOMY_PATH or packaged)")
    parser.add_argument("--model", type=Path, help="model file (default: CLASSIFIER_MODEL_PATH or packaged)")
    parser.add_argument("--routing", type=Path, help="routing rules (default: CLASSIFIER_ROUTING_PATH or packaged)")
    parser.add_argument("--json", action="store_true", help="one JSON document per input instead of text")
    args = parser.parse_args(argv)
    if not args.files and not args.corpus:
        parser.error("give at least one FILE or --corpus")
    settings = ClassifierSettings()
    try:
        classifier = load_classifier(
            args.taxonomy or settings.taxonomy_path,
            args.model or settings.model_path,
            use_model=settings.use_model and not args.rules_only,
        )
        routing = load_routing_config(args.routing or settings.routing_path)
    except (TaxonomyError, ModelError, RoutingConfigError) as exc:
        print(f"switchboard-classifier-evaluate: {exc}", file=sys.stderr)
        return 2
    inputs: list[tuple[str, Callable[[], list[Example]]]] = [
        (str(path), partial(read_examples, path)) for path in args.files
    ]
    corpus_dir = args.corpus_dir or default_corpus_dir()
    mappings = args.mappings or Path(__file__).resolve().parents[2] / "training" / "mappings"
    for name in args.corpus:
        inputs.append((f"{name} (test split)", partial(_corpus_test_split, Corpus(name), corpus_dir, mappings)))
    for index, (name, load) in enumerate(inputs):
        try:
            examples = load()
        except (ExampleError, CorpusError) as exc:
            print(f"switchboard-classifier-evaluate: {exc}", file=sys.stderr)
            return 2
        report = evaluate(classifier, examples, routing, name=name)
        if args.json:
            sys.stdout.buffer.write(orjson.dumps(as_json(report)) + b"\n")
        else:
            print(("\n" if index else "") + render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
