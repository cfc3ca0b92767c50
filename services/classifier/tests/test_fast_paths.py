"""The classifier's fast paths give exactly what the straightforward computations give.

Each fast path (the model's packed-integer sums, the rulebook's keyword scan, ...) is compared with a
plain implementation written here, the way the computation is defined, on a few thousand generated
messages: mixtures of the taxonomy's own keywords, words the model knows, Chinese in both scripts,
capitals, digits, contact details and punctuation, so that the corner cases (keywords inside words,
stems, overlapping keywords, unknown features, shouting) come up many times.
"""

from __future__ import annotations

import math
import random
import re

import numpy as np
import pytest

from switchboard_classifier import model as model_module
from switchboard_classifier.benchmark import MIX
from switchboard_classifier.classifier import ClassificationInput, HybridClassifier
from switchboard_classifier.model import HeadPrediction, LinearModel, Prediction
from switchboard_classifier.rulebook import Hit, Rulebook, _groups, _is_word_char, _trie_pattern, normalise
from switchboard_classifier.taxonomy import Taxonomy
from switchboard_common.events.models import Language

_FILLERS = [
    "在吗", "我的", "订单", "訂單", "请问", "請問", "谢谢", "謝謝", "还没", "還沒", "快递", "包裹", "退款", "投诉",
    "hello", "please", "order", "refund", "online", "payment", "line", "pay", "the", "my", "not", "arrived",
    "refunded", "refunding", "can't", "don't", "won't", "it's", "ASAP", "URGENT", "NOW", "Help", "iPhone", "App",
]  # fmt: skip
_PIECES = [
    " ", " ", " ", "  ", "\n", "\t", ",", "，", ".", "。", "!", "!!", "!!!", "?", "？", "?!", "!?", "'", "’", "“", "”",
    "-", "#", "$", "¥", "￥", "@", ":", "：", "(", ")", "/", "＊", "Ｒｅｆｕｎｄ", "１２３", "²",
    "13800138000", "+1 (415) 555-0100", "415-555-0100", "jane.doe@example.com", "order #A123-4567",
    "订单号 202311241234567", "運單號 SF1234567890123", "$45.99", "NT$1,500", "¥1,299.00", "3万元", "20块",
    "等了三天", "第二次联系", "waited over 3 days",
]  # fmt: skip


def generated_texts(taxonomy: Taxonomy, model: LinearModel, count: int, seed: int = 20240601) -> list[str]:
    """``count`` messages made of keywords, model vocabulary, fillers and odd pieces, deterministically."""
    rng = random.Random(seed)
    keywords = sorted({keyword.rstrip("*") for _, _, group in _groups(taxonomy) for keyword in group.keywords()})
    vocabulary = sorted(f.split(":", 1)[-1].strip("<>") for f in model._rows if not f.startswith("shape:"))
    texts = list(MIX)
    for _ in range(count - len(texts)):
        parts = []
        for _ in range(rng.choice((1, 2, 3, 5, 8, 13, 30))):
            roll = rng.random()
            if roll < 0.35:
                word = rng.choice(keywords)
            elif roll < 0.6:
                word = rng.choice(vocabulary)
            elif roll < 0.8:
                word = rng.choice(_FILLERS)
            else:
                word = rng.choice(_PIECES)
            if rng.random() < 0.15:
                word = word.upper()
            elif rng.random() < 0.1:  # glued to what follows, or cut: keywords inside and across words
                word = word[: rng.randint(1, max(1, len(word)))]
            parts.append(word)
            parts.append(rng.choice(("", " ", " ", " ", ", ", "\n")))
        texts.append("".join(parts))
    return texts


@pytest.fixture(scope="module")
def texts(taxonomy: Taxonomy, model: LinearModel) -> list[str]:
    return generated_texts(taxonomy, model, 3000)


def reference_prediction(model: LinearModel, features: list[str]) -> Prediction:
    """The model's definition: sum the int8 rows of the known features (numpy), scale, add the bias, softmax."""
    rows = [model._rows[f] for f in features if f in model._rows]
    summed = model._weights[rows].sum(axis=0, dtype=np.int32) if rows else np.zeros(model._weights.shape[1], np.int32)
    scores = summed * model._scales * (1.0 / math.sqrt(len(features))) + model._bias if rows else model._bias
    exps = np.exp(np.clip(scores, -500.0, 500.0)).tolist()
    heads = {}
    for name, head in model.heads.items():
        part = exps[head.start : head.stop]
        total = sum(part)
        heads[name] = HeadPrediction(head.labels, tuple(e / total for e in part))
    return Prediction(heads=heads, known_features=len(rows), features=len(features))


def test_the_packed_model_sums_predict_exactly_what_the_weight_matrix_does(
    model: LinearModel, texts: list[str]
) -> None:
    featuriser = model.featuriser
    for text in texts:
        features = featuriser.features(text)
        assert model._predict(features) == reference_prediction(model, features), text
        served = model.predict_normalised(normalise(text), shouting=featuriser.is_shouting(text))
        assert served == reference_prediction(model, features), text


def test_messages_too_big_to_pack_take_the_matrix_path_with_the_same_result(
    model: LinearModel, texts: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(model_module, "_PACKED_LIMIT", 20)
    big = [text for text in texts if len(model.featuriser.features(text)) >= 20][:200]
    assert len(big) > 50
    for text in big:
        features = model.featuriser.features(text)
        assert model._predict(features) == reference_prediction(model, features), text


def test_the_feature_set_is_the_features_of_the_normalised_text(model: LinearModel, texts: list[str]) -> None:
    featuriser = model.featuriser
    for text in texts:
        shouting = featuriser.is_shouting(text)
        expected = set(featuriser.features(text))
        assert featuriser.feature_set_of_normalised(normalise(text), shouting=shouting) == expected, text


def test_the_reference_sees_a_single_changed_weight(model: LinearModel, texts: list[str]) -> None:
    """The comparison above can fail: one weight of one feature changed shows in that feature's messages."""
    features = model.featuriser.features(texts[3])
    known = next(f for f in features if f in model._rows)
    weights = model._weights.copy()
    weights[model._rows[known], 0] += 1 if weights[model._rows[known], 0] < 127 else -1
    scales, bias = model._scales.astype(np.float32), model._bias.astype(np.float32)  # as stored
    changed = LinearModel(model_module.ModelArrays(weights, scales, bias, list(model._rows), model.metadata))
    assert changed._predict(features) != reference_prediction(model, features)
    assert changed._predict(features) == reference_prediction(changed, features)


def reference_scan(rulebook: Rulebook, keywords: re.Pattern[str], text: str) -> list[Hit]:
    """The scan as defined: one trie of every keyword searched left to right, matches inside words skipped."""
    hits = []
    position = 0
    while (match := keywords.search(text, position)) is not None:
        core = match.group()
        start, stop = match.span()
        if _is_word_char(core[0]) and start > 0 and _is_word_char(text[start - 1]):
            position = start + 1
            continue
        position = stop
        open_right = _is_word_char(core[-1]) and stop < len(text) and _is_word_char(text[stop])
        for entry in rulebook._entries[core]:
            if entry.stem or not open_right:
                hits.append(Hit(entry.signal, core + ("*" if entry.stem else "")))
    if rulebook._patterns is not None:
        for match in rulebook._patterns.finditer(text):
            index = int(match.lastgroup[1:]) if match.lastgroup else -1
            if index >= 0:
                hits.append(Hit(rulebook._pattern_signals[index], f"pattern:{rulebook._pattern_signals[index].group}"))
    return hits


def test_the_keyword_scan_finds_exactly_what_one_trie_of_every_keyword_finds(
    taxonomy: Taxonomy, texts: list[str]
) -> None:
    rulebook = Rulebook(taxonomy)
    keywords = re.compile(_trie_pattern(rulebook._entries))
    found = 0
    for text in texts:
        normalised = normalise(text)
        hits = rulebook.scan(normalised)
        assert hits == reference_scan(rulebook, keywords, normalised), text
        found += len(hits)
    assert found > 3 * len(texts)


def test_a_text_seen_again_gets_the_decision_it_got_the_first_time(
    taxonomy: Taxonomy, model: LinearModel, texts: list[str]
) -> None:
    remembering = HybridClassifier(taxonomy, model)
    inputs = [ClassificationInput(text=text) for text in texts[:400]]
    inputs += [ClassificationInput(text=text, language_hint=Language.ZH_HANT) for text in texts[:100]]
    first = [remembering.classify(item) for item in inputs]
    again = [remembering.classify(item) for item in inputs]
    assert remembering._remembered.cache_info().hits >= len(inputs)
    fresh = HybridClassifier(taxonomy, model)
    fresh._remembered = fresh._decide_text  # type: ignore[assignment]  # nothing remembered
    assert again == first == [fresh.classify(item) for item in inputs]


def test_what_a_caller_does_to_a_classification_does_not_reach_the_next_one(
    taxonomy: Taxonomy, model: LinearModel
) -> None:
    classifier = HybridClassifier(taxonomy, model)
    item = ClassificationInput(text="I was charged twice, refund me now!!!")
    first = classifier.classify(item)
    expected = first.model_copy(deep=True)
    first.sentiment.score = 0.99
    first.evidence.append("changed")
    assert classifier.classify(item) == expected
