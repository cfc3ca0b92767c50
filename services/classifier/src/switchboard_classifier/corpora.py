"""Third-party intent corpora, read where they lie and mapped onto Switchboard's taxonomy.

The corpora stay outside the repository (``SWITCHBOARD_CORPUS_DIR``, by default ``../shared/corpus``
beside the checkout); this module reads them in place. A mapping file per corpus
(``training/mappings/<corpus>.yaml``) says, for every intent of the corpus, which of type, topic and
priority it implies, or ``request: true`` (a customer request that maps onto none of our types or
topics), or ``skip``. An intent the mapping does not cover, and that no ``default`` covers, is an
error: nothing is dropped or guessed silently.

Splits: banking77 and clinc150 have their own test splits. The Bitext sample and the HINT3 train
files have none here; their test split is chosen by a hash of the text (one in five for Bitext, three
in ten for HINT3), so that it is the same on every machine and training never sees it.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from switchboard_classifier.examples import Example
from switchboard_common.events.models import Language, MessageTopic, MessageType, Priority

CORPUS_DIR_VARIABLE = "SWITCHBOARD_CORPUS_DIR"
Split = Literal["train", "test"]


class Corpus(StrEnum):
    BANKING77 = "banking77"
    BITEXT = "bitext_customer_support"
    HINT3 = "hint3"
    CLINC150 = "clinc150"


class CorpusError(ValueError):
    """A corpus or its mapping cannot be read, or the mapping does not cover the corpus."""


class MappedLabels(BaseModel):
    """What an intent implies in Switchboard's taxonomy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: MessageType | None = None
    topic: MessageTopic | None = None
    priority: Priority | None = None
    request: bool | None = None


class IntentMapping(BaseModel):
    """A mapping file: ``intents`` (``skip`` or labels), with optional ``default`` and per-group ``defaults``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    corpus: Corpus
    intents: dict[str, MappedLabels | Literal["skip"]]
    default: MappedLabels | Literal["skip"] | None = None
    defaults: dict[str, MappedLabels | Literal["skip"]] = {}

    def labels_of(self, intent: str) -> MappedLabels | None:
        """The labels of an intent, None when it is skipped; :class:`CorpusError` when it is not covered."""
        mapped = self.intents.get(intent)
        if mapped is None and "/" in intent:
            mapped = self.defaults.get(intent.split("/", 1)[0])
        if mapped is None:
            mapped = self.default
        if mapped is None:
            raise CorpusError(f"{self.corpus.value}: intent {intent!r} is not in the mapping")
        return None if isinstance(mapped, str) else mapped


@dataclass(frozen=True, slots=True)
class CorpusRecord:
    text: str
    intent: str


def default_corpus_dir() -> Path:
    """``SWITCHBOARD_CORPUS_DIR``, or ``../shared/corpus`` beside the checkout this code runs from."""
    configured = os.environ.get(CORPUS_DIR_VARIABLE)
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[4].parent / "shared" / "corpus"


def load_mapping(path: Path) -> IntentMapping:
    try:
        return IntentMapping.model_validate(yaml.safe_load(Path(path).read_text("utf-8")))
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise CorpusError(f"invalid mapping {path}: {exc}") from exc


def corpus_available(corpus: Corpus, corpus_dir: Path) -> bool:
    return all(path.is_file() for path in _files(corpus, corpus_dir))


def read_corpus(corpus: Corpus, corpus_dir: Path, split: Split, mapping: IntentMapping) -> list[Example]:
    """The mapped examples of one split of a corpus, in the corpus's own order."""
    if mapping.corpus is not corpus:
        raise CorpusError(f"mapping is for {mapping.corpus.value}, not {corpus.value}")
    missing = [str(p) for p in _files(corpus, corpus_dir) if not p.is_file()]
    if missing:
        raise CorpusError(f"{corpus.value} not found: {', '.join(missing)}")
    examples = []
    for record in _records(corpus, corpus_dir, split):
        labels = mapping.labels_of(record.intent)
        if labels is None:
            continue
        examples.append(
            Example.labelled(
                record.text,
                type=labels.type,
                topic=labels.topic,
                priority=labels.priority,
                request=labels.request,
                language=Language.EN,
                source=f"{corpus.value}/{record.intent}",
            )
        )
    return examples


def _files(corpus: Corpus, root: Path) -> list[Path]:
    base = root / "intents"
    match corpus:
        case Corpus.BANKING77:
            return [base / "banking77" / "data" / "train.csv", base / "banking77" / "data" / "test.csv"]
        case Corpus.BITEXT:
            return [base / "bitext_customer_support" / "data" / "Bitext_Sample_Customer_Support_Training_Dataset.csv"]
        case Corpus.HINT3:
            return [base / "hint3_train" / "train" / f"{bot}_train.csv" for bot in _HINT3_BOTS]
        case Corpus.CLINC150:
            return [base / "clinc150" / "data" / "data_full.json"]


_HINT3_BOTS = ("curekart", "powerplay11", "sofmattress")


def _records(corpus: Corpus, root: Path, split: Split) -> Iterator[CorpusRecord]:
    files = _files(corpus, root)
    match corpus:
        case Corpus.BANKING77:
            with files[0 if split == "train" else 1].open(encoding="utf-8", newline="") as handle:
                for row in csv.DictReader(handle):
                    yield CorpusRecord(row["text"].strip(), row["category"])
        case Corpus.BITEXT:
            with files[0].open(encoding="utf-8", newline="") as handle:
                for row in csv.DictReader(handle):
                    text = row["instruction"].strip()
                    if _in_test_split(text, 5, 1) == (split == "test"):
                        yield CorpusRecord(text, row["intent"])
        case Corpus.HINT3:
            for bot, path in zip(_HINT3_BOTS, files, strict=True):
                with path.open(encoding="utf-8", newline="") as handle:
                    rows = csv.reader(handle)
                    next(rows, None)  # header
                    for fields in rows:
                        if len(fields) >= 2 and fields[0].strip():
                            text = fields[0].strip()
                            if _in_test_split(text, 10, 3) == (split == "test"):
                                yield CorpusRecord(text, f"{bot}/{fields[1].strip()}")
        case Corpus.CLINC150:
            document: dict[str, list[list[Any]]] = json.loads(files[0].read_text("utf-8"))
            parts = ("train", "val", "oos_train", "oos_val") if split == "train" else ("test", "oos_test")
            for part in parts:
                for text, intent in document[part]:
                    yield CorpusRecord(str(text).strip(), str(intent))


def _in_test_split(text: str, buckets: int, test_buckets: int) -> bool:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") % buckets < test_buckets
