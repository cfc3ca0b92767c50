"""Training the n-gram model: ``switchboard-classifier-train`` (``make train``).

Reads the training configuration (``training/config.yaml``), the project's own labelled examples
(``training/data/train/*.jsonl``; the evaluation split under ``training/data/eval`` is never read
here) and, where present, the third-party corpora through their mappings; fits one L2-regularised
logistic regression per head (scikit-learn, a training-only dependency); quantises the weights to
int8; and writes the model file that the classifier package ships.

Reproducible: examples are taken in a fixed order (each corpus intent's sample chosen by a hash of
the text), the vocabulary is sorted, the solver is deterministic and runs on one thread, and the
file is written with fixed timestamps. The same inputs give the same file, byte for byte.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from switchboard_classifier.corpora import (
    Corpus,
    CorpusError,
    corpus_available,
    default_corpus_dir,
    load_mapping,
    read_corpus,
)
from switchboard_classifier.examples import Example, ExampleError, read_examples
from switchboard_classifier.features import FeatureSpec, Featuriser
from switchboard_classifier.model import FORMAT, HEADS, PACKAGED_MODEL, ModelArrays, content_digest, write_model
from switchboard_common.events.models import MessageTopic, MessageType, Priority

HEAD_LABELS: dict[str, tuple[str, ...]] = {
    "type": tuple(
        t.value for t in (MessageType.INQUIRY, MessageType.COMPLAINT, MessageType.SUGGESTION, MessageType.FAULT)
    ),
    "request": ("request", "not_request"),
    "topic": tuple(t.value for t in MessageTopic),
    "priority": tuple(p.value for p in (Priority.LOW, Priority.NORMAL, Priority.URGENT)),
    "anger": ("calm", "angry"),
}
_ABSENT_LABEL_BIAS = -20.0
"""Bias of a label no training example had: the model never predicts it."""


class CorpusSampling(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    weight: float = Field(default=1.0, gt=0.0)
    per_intent: int = Field(default=50, ge=1, description="At most this many examples of each intent.")
    intents: dict[str, int] = Field(default_factory=dict, description="Other limits for named intents.")


class OwnData(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    files: list[Path]
    weight: float = Field(default=1.0, gt=0.0)


class TrainingConfig(BaseModel):
    """``training/config.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9._-]*$")
    version: str = Field(min_length=1, pattern=r"^[0-9A-Za-z][0-9A-Za-z._-]*$")
    features: dict[str, Any]
    min_count: int = Field(default=2, ge=1)
    prune_below: int = Field(default=1, ge=0, le=127)
    regularisation: float = Field(default=4.0, gt=0.0)
    max_iterations: int = Field(default=2000, ge=10)
    own_data: OwnData
    corpora: dict[Corpus, CorpusSampling] = Field(default_factory=dict)


class TrainingError(RuntimeError):
    """Training cannot run: its configuration or data is missing or invalid."""


@dataclass(slots=True)
class TrainingSet:
    """The examples to learn from, each with its weight, and where they came from."""

    examples: list[Example] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    sources: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)

    def add(self, examples: Sequence[Example], weight: float, source: str) -> None:
        self.examples.extend(examples)
        self.weights.extend([weight] * len(examples))
        self.sources[source] += len(examples)


def load_config(path: Path) -> TrainingConfig:
    try:
        return TrainingConfig.model_validate(yaml.safe_load(Path(path).read_text("utf-8")))
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise TrainingError(f"invalid training configuration {path}: {exc}") from exc


def collect(config: TrainingConfig, training_dir: Path, corpus_dir: Path | None) -> TrainingSet:
    """The project's own training examples, then each configured corpus that is present."""
    found = TrainingSet()
    for relative in config.own_data.files:
        try:
            own = read_examples(training_dir / relative)
        except ExampleError as exc:
            raise TrainingError(str(exc)) from exc
        found.add(own, config.own_data.weight, f"own:{relative.stem}")
    for corpus, sampling in config.corpora.items():
        if corpus_dir is None:
            found.notes.append(f"{corpus.value}: not used (corpora disabled)")
            continue
        if not corpus_available(corpus, corpus_dir):
            found.notes.append(f"{corpus.value}: not found under {corpus_dir}, trained without it")
            continue
        try:
            mapping = load_mapping(training_dir / "mappings" / f"{corpus.value}.yaml")
            examples = read_corpus(corpus, corpus_dir, "train", mapping)
        except CorpusError as exc:
            raise TrainingError(str(exc)) from exc
        found.add(_sample(examples, sampling), sampling.weight, corpus.value)
    return found


def _sample(examples: Sequence[Example], sampling: CorpusSampling) -> list[Example]:
    """At most ``per_intent`` examples of each intent, chosen by a hash of the text, in a fixed order."""
    by_intent: dict[str, list[Example]] = defaultdict(list)
    for example in examples:
        by_intent[example.source].append(example)
    chosen: list[Example] = []
    for source in sorted(by_intent):
        intent = source.split("/", 1)[1]
        limit = sampling.intents.get(intent, sampling.per_intent)
        unique = {e.text: e for e in by_intent[source]}  # a corpus may repeat a text
        ranked = sorted(unique.values(), key=lambda e: hashlib.sha256(e.text.encode("utf-8")).digest())
        chosen.extend(ranked[:limit])
    return chosen


def head_label(example: Example, head: str) -> str | None:
    """The label an example gives a head, None when it says nothing about it."""
    match head:
        case "type":
            return example.type.value if example.type and example.type is not MessageType.NON_ACTIONABLE else None
        case "request":
            return None if example.request is None else ("request" if example.request else "not_request")
        case "topic":
            return example.topic.value if example.topic else None
        case "priority":
            return example.priority.value if example.priority else None
        case "anger":
            return None if example.anger is None else ("angry" if example.anger else "calm")
    raise ValueError(f"unknown head {head!r}")


@dataclass(frozen=True, slots=True)
class TrainingResult:
    arrays: ModelArrays
    summary: dict[str, Any]


def train(config: TrainingConfig, training: TrainingSet) -> TrainingResult:
    """Fit every head on the examples that have its label; quantise; the model's arrays and a summary."""
    from scipy import sparse  # training-only dependencies, imported here and nowhere on the serving path
    from sklearn import __version__ as sklearn_version
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    if not training.examples:
        raise TrainingError("no training examples")
    spec = FeatureSpec.from_dict(config.features)
    featuriser = Featuriser(spec)
    featurised = [featuriser.features(example.text) for example in training.examples]
    document_frequency: Counter[str] = Counter(f for features in featurised for f in features)
    vocabulary = sorted(f for f, count in document_frequency.items() if count >= config.min_count)
    column_of = {feature: index for index, feature in enumerate(vocabulary)}

    rows: list[int] = []
    columns: list[int] = []
    values: list[float] = []
    for row, features in enumerate(featurised):
        value = 1.0 / np.sqrt(len(features))  # as LinearModel.predict scales, over all features, known or not
        for feature in features:
            column = column_of.get(feature)
            if column is not None:
                rows.append(row)
                columns.append(column)
                values.append(value)
    matrix = sparse.csr_matrix(
        (np.asarray(values), (np.asarray(rows), np.asarray(columns))),
        shape=(len(featurised), len(vocabulary)),
        dtype=np.float64,
    )
    sample_weights = np.asarray(training.weights, dtype=np.float64)

    weight_blocks: list[npt.NDArray[np.float64]] = []
    bias_blocks: list[npt.NDArray[np.float64]] = []
    label_counts: dict[str, dict[str, int]] = {}
    with threadpool_limits(limits=1):
        for head in HEADS:
            labels = HEAD_LABELS[head]
            picked = [i for i, e in enumerate(training.examples) if head_label(e, head) is not None]
            targets = [head_label(training.examples[i], head) for i in picked]
            counts = Counter(targets)
            label_counts[head] = {label: counts.get(label, 0) for label in labels}
            weights = np.zeros((len(vocabulary), len(labels)))
            bias = np.full(len(labels), _ABSENT_LABEL_BIAS)
            present = [label for label in labels if counts.get(label)]
            if len(present) == 1:
                bias[labels.index(present[0])] = 0.0
            elif len(present) > 1:
                model = LogisticRegression(
                    C=config.regularisation, max_iter=config.max_iterations, class_weight="balanced"
                )
                model.fit(matrix[picked], np.asarray(targets), sample_weight=sample_weights[picked])
                classes = [str(c) for c in model.classes_]
                coef = np.asarray(model.coef_, dtype=np.float64)
                intercept = np.asarray(model.intercept_, dtype=np.float64)
                if len(classes) == 2:  # one logit for classes[1]: split it as -z/2, +z/2 over the two columns
                    coef = np.vstack([-coef[0] / 2, coef[0] / 2])
                    intercept = np.asarray([-intercept[0] / 2, intercept[0] / 2])
                for index, label in enumerate(classes):
                    weights[:, labels.index(label)] = coef[index]
                    bias[labels.index(label)] = intercept[index]
            weight_blocks.append(weights)
            bias_blocks.append(bias)

    all_weights = np.hstack(weight_blocks)
    largest = np.abs(all_weights).max(axis=0)
    scales = np.where(largest > 0, largest / 127.0, 1.0).astype(np.float32)
    quantised = np.clip(np.rint(all_weights / scales), -127, 127).astype(np.int8)
    keep = np.abs(quantised.astype(np.int16)).max(axis=1) >= max(config.prune_below, 1)
    kept_vocabulary = [feature for feature, kept in zip(vocabulary, keep, strict=True) if kept]
    data_digest = hashlib.sha256()
    for example, weight in zip(training.examples, training.weights, strict=True):
        labels_line = "|".join(str(head_label(example, head)) for head in HEADS)
        data_digest.update(f"{weight}\t{labels_line}\t{example.text}\n".encode())
    metadata: dict[str, Any] = {
        "format": FORMAT,
        "name": config.name,
        "version": config.version,
        "heads": {head: list(HEAD_LABELS[head]) for head in HEADS},
        "features": spec.to_dict(),
        "training": {
            "examples": dict(sorted(training.sources.items())),
            "labels": label_counts,
            "notes": training.notes,
            "vocabulary": {"seen": len(document_frequency), "trained": len(vocabulary), "kept": len(kept_vocabulary)},
            "data_sha256": data_digest.hexdigest(),
            "regularisation": config.regularisation,
            "min_count": config.min_count,
            "prune_below": config.prune_below,
            "scikit_learn": sklearn_version,
        },
    }
    arrays = ModelArrays(
        weights=np.ascontiguousarray(quantised[keep]),
        scales=scales,
        bias=np.concatenate(bias_blocks).astype(np.float32),
        vocabulary=kept_vocabulary,
        metadata=metadata,
    )
    metadata["digest"] = content_digest(arrays.weights, arrays.scales, arrays.bias, arrays.vocabulary, metadata)
    return TrainingResult(arrays=arrays, summary=metadata["training"] | {"digest": metadata["digest"]})


def packaged_model_path() -> Path:
    """Where the classifier package keeps its model (in the source tree when installed for development)."""
    return Path(__file__).resolve().parent / "models" / PACKAGED_MODEL


def default_training_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "training"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="switchboard-classifier-train",
        description="Train the classifier's n-gram model and write it into the package (or --output).",
    )
    parser.add_argument("--training-dir", type=Path, default=default_training_dir(), help="config, data, mappings")
    parser.add_argument("--config", type=Path, help="training configuration (default: TRAINING_DIR/config.yaml)")
    parser.add_argument("--corpus-dir", type=Path, help="third-party corpora (default: SWITCHBOARD_CORPUS_DIR)")
    parser.add_argument("--no-corpora", action="store_true", help="train on the project's own data only")
    parser.add_argument("--output", type=Path, default=packaged_model_path(), help="model file to write")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        config = load_config(args.config or args.training_dir / "config.yaml")
        corpus_dir = None if args.no_corpora else (args.corpus_dir or default_corpus_dir())
        training = collect(config, args.training_dir, corpus_dir)
        result = train(config, training)
    except TrainingError as exc:
        print(f"switchboard-classifier-train: {exc}", file=sys.stderr)
        return 2
    write_model(args.output, result.arrays)
    summary = result.summary
    for source, count in summary["examples"].items():
        print(f"  {source:<28} {count:>6} examples")
    for note in summary["notes"]:
        print(f"  note: {note}")
    vocabulary = summary["vocabulary"]
    print(
        f"features: {vocabulary['seen']:,} seen, {vocabulary['trained']:,} trained, {vocabulary['kept']:,} kept; "
        f"wrote {args.output} ({args.output.stat().st_size / 1e6:.2f} MB), model {config.name}-{config.version}"
        f"+{summary['digest'][:8]} in {time.perf_counter() - started:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
