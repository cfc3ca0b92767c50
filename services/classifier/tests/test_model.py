"""The packaged model: loads at start-up, names itself in every classification, is small, needs no scikit-learn."""

from __future__ import annotations

import subprocess
import sys
from importlib import resources

import numpy as np
import pytest

from switchboard_classifier.app import create_app
from switchboard_classifier.classifier import ClassificationInput, load_classifier
from switchboard_classifier.features import FeatureSpec, Featuriser
from switchboard_classifier.model import HEADS, ModelArrays, ModelError, load_model, write_model
from switchboard_classifier.rulebook import normalise
from switchboard_classifier.settings import ClassifierSettings


def test_the_packaged_model_ships_in_the_package_and_is_small():
    packaged = resources.files("switchboard_classifier").joinpath("models", "ngram-linear.npz")
    assert packaged.is_file()
    assert len(packaged.read_bytes()) < 3_000_000


def test_the_packaged_model_has_every_head_and_a_version(model):
    assert list(model.heads) == list(HEADS)
    assert model.heads["type"].labels == ("inquiry", "complaint", "suggestion", "fault")
    assert model.heads["request"].labels == ("request", "not_request")
    assert model.label == f"{model.name}-{model.version}+{model.digest[:8]}"
    assert model.size > 1000


def test_probabilities_of_each_head_add_up_to_one(model):
    prediction = model.predict("我的快递三天了还没到")
    for head in HEADS:
        assert sum(prediction[head].probabilities) == pytest.approx(1.0)


def test_the_model_name_and_version_go_into_every_classification(classify, model):
    result = classify("Where is my parcel?")
    assert result.model == f"rules/switchboard-default-v1+model/{model.label}"


def test_the_model_path_setting_replaces_the_packaged_model(tmp_path, model, monkeypatch):
    other = tmp_path / "other.npz"
    metadata = dict(model.metadata) | {"name": "other-model", "version": "9", "digest": "f" * 64}
    arrays = ModelArrays(
        weights=model._weights, scales=model._scales.astype(np.float32), bias=model._bias.astype(np.float32),
        vocabulary=list(model._rows), metadata=metadata,
    )  # fmt: skip
    write_model(other, arrays)
    monkeypatch.setenv("CLASSIFIER_MODEL_PATH", str(other))
    classifier = load_classifier(model_path=ClassifierSettings().model_path)
    assert classifier.classify(ClassificationInput(text="hello")).model.endswith("+model/other-model-9+ffffffff")


def test_a_model_file_that_cannot_be_read_stops_the_service_at_start_up_with_its_path(tmp_path):
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a model")
    with pytest.raises(ModelError, match=r"broken\.npz"):
        create_app(ClassifierSettings(model_path=broken))


def test_a_model_of_another_format_is_rejected(tmp_path, model):
    wrong = tmp_path / "wrong.npz"
    metadata = dict(model.metadata) | {"format": "something-else/7"}
    write_model(wrong, ModelArrays(model._weights, model._scales, model._bias, list(model._rows), metadata))
    with pytest.raises(ModelError, match="unsupported model format"):
        load_model(wrong)


def test_the_rules_alone_can_be_chosen_by_setting(monkeypatch):
    monkeypatch.setenv("CLASSIFIER_USE_MODEL", "false")
    settings = ClassifierSettings()
    classifier = load_classifier(settings.taxonomy_path, settings.model_path, use_model=settings.use_model)
    assert classifier.name == "rules/switchboard-default-v1"


@pytest.fixture(scope="module")
def featuriser() -> Featuriser:
    return Featuriser(FeatureSpec())


def test_traditional_and_simplified_chinese_give_the_same_features(featuriser):
    assert set(featuriser.features("我的包裹還沒到，請幫我查詢")) == set(
        featuriser.features("我的包裹还没到，请帮我查询")
    )


def test_order_numbers_and_amounts_do_not_become_vocabulary(featuriser):
    assert set(featuriser.features("order 123456789 for $45.99")) == set(
        featuriser.features("order 987654321 for $12.50")
    )


def test_serving_sees_the_features_training_saw(featuriser):
    for text in ["I WANT MY REFUND NOW!!!", "Ｒｅｆｕｎｄ “please”", "請問 iPhone 什麼時候到貨？", "a  b\n\tc"]:
        served = featuriser.features_of_normalised(normalise(text), shouting=featuriser.is_shouting(text))
        assert set(served) == set(featuriser.features(text)), text


def test_the_service_path_does_not_import_scikit_learn():
    code = (
        "import sys\n"
        "from switchboard_classifier.app import create_app\n"
        "from switchboard_classifier.cli import main\n"
        "from switchboard_classifier.classifier import ClassificationInput, load_classifier\n"
        "load_classifier().classify(ClassificationInput(text='where is my parcel'))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'sklearn', 'scipy'}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[]"
