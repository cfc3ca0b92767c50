"""The taxonomy file: validated on load, with clear errors; the packaged one is consistent."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from switchboard_classifier.classifier import ClassificationInput, RulesClassifier
from switchboard_classifier.rulebook import Rulebook
from switchboard_classifier.taxonomy import Taxonomy, TaxonomyError, load_taxonomy
from switchboard_common.events.models import MessageTopic, MessageType
from switchboard_common.hanzi import SIMPLIFIED_ONLY, TRADITIONAL_ONLY

PACKAGED = Path(__file__).resolve().parents[1] / "src" / "switchboard_classifier" / "config" / "taxonomy.yaml"


def packaged_document() -> dict:
    return yaml.safe_load(PACKAGED.read_text("utf-8"))


def write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "taxonomy.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), "utf-8")
    return path


def test_the_packaged_taxonomy_loads():
    taxonomy = load_taxonomy()
    assert set(taxonomy.types) == set(MessageType)
    assert set(taxonomy.topics) == set(MessageTopic) - {MessageTopic.OTHER}


def test_a_file_that_is_not_yaml_is_rejected_with_its_path(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("types: [unclosed\n", "utf-8")
    with pytest.raises(TaxonomyError, match=re.escape(str(path))):
        load_taxonomy(path)


def test_a_missing_file_is_rejected_with_its_path(tmp_path):
    with pytest.raises(TaxonomyError, match=r"cannot read taxonomy .*missing\.yaml"):
        load_taxonomy(tmp_path / "missing.yaml")


def test_a_file_without_a_mapping_is_rejected(tmp_path):
    with pytest.raises(TaxonomyError, match="expected a mapping"):
        load_taxonomy(write(tmp_path, ["a", "list"]))


def test_a_type_without_rules_is_rejected(tmp_path):
    document = packaged_document()
    del document["types"]["suggestion"]
    with pytest.raises(TaxonomyError, match=r"types without rules: \['suggestion'\]"):
        load_taxonomy(write(tmp_path, document))


def test_an_unknown_topic_is_rejected(tmp_path):
    document = packaged_document()
    document["topics"]["weather"] = document["topics"]["order"]
    with pytest.raises(TaxonomyError, match=r"topics\.weather"):
        load_taxonomy(write(tmp_path, document))


def test_rules_for_the_topic_other_are_rejected(tmp_path):
    document = packaged_document()
    document["topics"]["other"] = [{"name": "misc", "en": ["misc"]}]
    with pytest.raises(TaxonomyError, match="topic 'other'"):
        load_taxonomy(write(tmp_path, document))


def test_an_invalid_regular_expression_is_rejected_with_the_pattern(tmp_path):
    document = packaged_document()
    document["anger"].append({"name": "bad", "patterns": ["(unclosed"]})
    with pytest.raises(TaxonomyError, match=r"pattern '\(unclosed' is not a valid regular expression"):
        load_taxonomy(write(tmp_path, document))


def test_a_misspelt_field_is_rejected(tmp_path):
    document = packaged_document()
    document["anger"].append({"name": "typo", "keywords": ["grr"]})
    with pytest.raises(TaxonomyError, match=r"anger\.\d+\.keywords"):
        load_taxonomy(write(tmp_path, document))


def test_a_negative_weight_is_rejected(tmp_path):
    document = packaged_document()
    document["anger"][0]["weight"] = -1
    with pytest.raises(TaxonomyError, match="weight"):
        load_taxonomy(write(tmp_path, document))


def test_an_operator_taxonomy_changes_the_classification_without_code(tmp_path):
    document = packaged_document()
    document["topics"]["product"].append({"name": "espresso", "en": ["portafilter*"], "weight": 3.0})
    custom = RulesClassifier(load_taxonomy(write(tmp_path, document)))
    packaged = RulesClassifier(load_taxonomy())
    text = "Which portafilter fits my machine?"
    assert custom.classify(ClassificationInput(text=text)).topic is MessageTopic.PRODUCT
    assert packaged.classify(ClassificationInput(text=text)).topic is MessageTopic.OTHER


def keywords(taxonomy: Taxonomy, language: str) -> list[str]:
    groups = [g for gs in taxonomy.types.values() for g in gs]
    groups += [g for gs in taxonomy.topics.values() for g in gs]
    groups += [g for gs in taxonomy.urgent.values() for g in gs]
    groups += [*taxonomy.stated_urgency, *taxonomy.no_rush, *taxonomy.anger, *taxonomy.no_request]
    groups += [*taxonomy.sentiment.positive, *taxonomy.sentiment.negative]
    return [k for g in groups for k in getattr(g, language)]


def test_packaged_traditional_keywords_use_no_simplified_only_characters(taxonomy):
    offending = [k for k in keywords(taxonomy, "zh_hant") if set(k) & SIMPLIFIED_ONLY]
    assert offending == []


def test_packaged_simplified_keywords_use_no_traditional_only_characters(taxonomy):
    offending = [k for k in keywords(taxonomy, "zh_hans") if set(k) & TRADITIONAL_ONLY]
    assert offending == []


def test_every_label_has_vocabulary_in_all_three_languages(taxonomy):
    for label, groups in [*taxonomy.types.items(), *taxonomy.topics.items(), *taxonomy.urgent.items()]:
        for language in ("zh_hans", "zh_hant", "en"):
            assert any(getattr(g, language) for g in groups), f"{label} has no {language} keywords"


def test_the_rulebook_compiles_the_packaged_taxonomy_into_one_keyword_scan(taxonomy):
    rulebook = Rulebook(taxonomy)
    assert {"refund", "parcel", "password"} <= rulebook.english_words


def test_the_service_refuses_to_start_with_an_invalid_taxonomy(tmp_path):
    from switchboard_classifier.app import create_app
    from switchboard_classifier.settings import ClassifierSettings

    broken = tmp_path / "taxonomy.yaml"
    broken.write_text("version: 1\nname: broken\n", "utf-8")
    with pytest.raises(TaxonomyError, match="types: Field required"):
        create_app(ClassifierSettings(taxonomy_path=broken))
