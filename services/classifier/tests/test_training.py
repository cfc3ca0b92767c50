"""Training: reproducible to the byte, works without the third-party corpora, reads corpora through their mappings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from switchboard_classifier.corpora import Corpus, CorpusError, IntentMapping, read_corpus
from switchboard_classifier.model import load_model
from switchboard_classifier.training import main as train_main

TINY_EXAMPLES = [
    ("Where is my parcel? The tracking has not moved", "inquiry", "logistics", "low", False),
    ("my package still has not arrived, where is it", "inquiry", "logistics", "low", False),
    ("I want a refund for the broken kettle", "complaint", "after_sales", "normal", False),
    ("Please refund me, the kettle arrived broken", "complaint", "after_sales", "normal", False),
    ("This is a scam, give me my money back now!!!", "complaint", "payment", "urgent", True),
    ("You thieves charged my card twice!!!", "complaint", "payment", "urgent", True),
    ("It would be nice to have a dark mode in the app", "suggestion", "product", "low", False),
    ("Please add a dark mode to the app", "suggestion", "product", "low", False),
    ("The app crashes when I open the cart", "fault", "product", "normal", False),
    ("the app keeps crashing on start", "fault", "product", "normal", False),
    ("快递到哪了", "inquiry", "logistics", "low", False),
    ("包裹還沒到", "inquiry", "logistics", "low", False),
    ("Thanks, bye", "non_actionable", "other", "low", False),
    ("what's the weather tomorrow", "non_actionable", "other", "low", False),
]


def write_training_dir(root: Path, examples=TINY_EXAMPLES, corpora: dict | None = None) -> Path:
    (root / "data").mkdir(parents=True)
    with (root / "data" / "tiny.jsonl").open("w", encoding="utf-8") as handle:
        for text, type_, topic, priority, anger in examples:
            line = {"text": text, "type": type_, "topic": topic, "priority": priority, "anger": anger}
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")
    config = {
        "name": "tiny-test",
        "version": "0.1",
        "features": {
            "han": [1, 2],
            "words": [1, 2],
            "chars": [3, 4],
            "traditional_to_simplified": True,
            "shouting_min_letters": 12,
            "shouting_ratio": 0.8,
            "lengths": [4, 10, 25, 60, 150, 400],
        },
        "min_count": 1,
        "prune_below": 1,
        "regularisation": 4.0,
        "max_iterations": 500,
        "own_data": {"files": ["data/tiny.jsonl"], "weight": 1.0},
        "corpora": corpora or {},
    }
    (root / "config.yaml").write_text(yaml.safe_dump(config), "utf-8")
    return root


def train(training_dir: Path, output: Path, *extra: str) -> int:
    return train_main(["--training-dir", str(training_dir), "--output", str(output), *extra])


def test_training_twice_on_the_same_inputs_writes_the_same_file(tmp_path):
    training_dir = write_training_dir(tmp_path / "training")
    first, second = tmp_path / "first.npz", tmp_path / "second.npz"
    assert train(training_dir, first, "--no-corpora") == 0
    assert train(training_dir, second, "--no-corpora") == 0
    assert first.read_bytes() == second.read_bytes()


def test_a_changed_example_changes_the_model_and_its_version(tmp_path):
    first = tmp_path / "first.npz"
    changed = tmp_path / "changed.npz"
    assert train(write_training_dir(tmp_path / "a"), first, "--no-corpora") == 0
    examples = [*TINY_EXAMPLES[:-1], ("what's the weather on Sunday", "non_actionable", "other", "low", False)]
    assert train(write_training_dir(tmp_path / "b", examples), changed, "--no-corpora") == 0
    assert first.read_bytes() != changed.read_bytes()
    assert load_model(first).label != load_model(changed).label


def test_the_trained_model_learns_its_examples(tmp_path):
    output = tmp_path / "model.npz"
    assert train(write_training_dir(tmp_path / "training"), output, "--no-corpora") == 0
    model = load_model(output)
    assert model.label.startswith("tiny-test-0.1+")
    assert model.predict("where is my parcel")["topic"].best()[0] == "logistics"
    assert model.predict("the app keeps crashing")["type"].best()[0] == "fault"
    assert model.predict("what's the weather")["request"].best()[0] == "not_request"
    assert model.predict("You thieves!!! give me my money back")["anger"].best()[0] == "angry"


def test_without_the_corpora_training_uses_the_projects_data_and_says_so(tmp_path, capsys):
    corpora = {"banking77": {"weight": 1.0, "per_intent": 5}}
    training_dir = write_training_dir(tmp_path / "training", corpora=corpora)
    output = tmp_path / "model.npz"
    assert train(training_dir, output, "--corpus-dir", str(tmp_path / "nowhere")) == 0
    assert "banking77: not found" in capsys.readouterr().out
    notes = load_model(output).metadata["training"]["notes"]
    assert any("banking77: not found" in note for note in notes)


def write_banking77(root: Path, rows: list[tuple[str, str]]) -> Path:
    data = root / "intents" / "banking77" / "data"
    data.mkdir(parents=True)
    for name in ("train.csv", "test.csv"):
        with (data / name).open("w", encoding="utf-8") as handle:
            handle.write("text,category\n")
            for text, category in rows:
                handle.write(f'"{text}",{category}\n')
    return root


def test_a_corpus_is_read_through_its_mapping_and_skipped_intents_are_left_out(tmp_path):
    corpus_dir = write_banking77(
        tmp_path / "corpus",
        [("My card got stolen", "lost_or_stolen_card"), ("what is the exchange rate", "exchange_rate")],
    )
    mapping = IntentMapping.model_validate(
        {
            "corpus": "banking77",
            "intents": {"lost_or_stolen_card": {"topic": "payment", "priority": "urgent"}, "exchange_rate": "skip"},
        }
    )
    (example,) = read_corpus(Corpus.BANKING77, corpus_dir, "test", mapping)
    assert (example.text, example.topic.value, example.priority.value) == ("My card got stolen", "payment", "urgent")
    assert example.type is None
    assert example.source == "banking77/lost_or_stolen_card"


def test_an_intent_the_mapping_does_not_cover_is_an_error(tmp_path):
    corpus_dir = write_banking77(tmp_path / "corpus", [("My card got stolen", "lost_or_stolen_card")])
    mapping = IntentMapping.model_validate({"corpus": "banking77", "intents": {}})
    with pytest.raises(CorpusError, match="lost_or_stolen_card"):
        read_corpus(Corpus.BANKING77, corpus_dir, "test", mapping)


def test_a_corpus_training_uses_is_sampled_per_intent(tmp_path):
    rows = [(f"my card number {i} was stolen", "lost_or_stolen_card") for i in range(10)]
    corpus_dir = write_banking77(tmp_path / "corpus", rows)
    training_dir = write_training_dir(tmp_path / "training", corpora={"banking77": {"weight": 1.0, "per_intent": 3}})
    (training_dir / "mappings").mkdir()
    (training_dir / "mappings" / "banking77.yaml").write_text(
        "corpus: banking77\nintents:\n  lost_or_stolen_card: {topic: payment, priority: urgent}\n", "utf-8"
    )
    output = tmp_path / "model.npz"
    assert train(training_dir, output, "--corpus-dir", str(corpus_dir)) == 0
    assert load_model(output).metadata["training"]["examples"]["banking77"] == 3


def test_every_intent_of_the_shared_corpora_is_mapped(corpus_dir):
    from switchboard_classifier.corpora import corpus_available, load_mapping
    from switchboard_classifier.training import default_training_dir

    for corpus in Corpus:
        if not corpus_available(corpus, corpus_dir):
            pytest.skip(f"{corpus.value} not under {corpus_dir}")
        mapping = load_mapping(default_training_dir() / "mappings" / f"{corpus.value}.yaml")
        for split in ("train", "test"):
            assert read_corpus(corpus, corpus_dir, split, mapping), f"{corpus.value} {split} is empty"
