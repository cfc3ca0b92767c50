"""The published schemas: generated from the models, committed, and illustrated by valid examples."""

from pathlib import Path

import jsonschema
import orjson
import pytest
import yaml

from switchboard_common.events import ALL_SPECS
from switchboard_common.schema_catalog import drift, family_name, render, schema_root

ROOT = schema_root()
SPECS = {spec.ce_type: spec for spec in ALL_SPECS}


def examples() -> list[tuple[str, Path]]:
    return sorted((path.parent.name, path) for path in (ROOT / "examples").glob("*/*.json"))


def test_the_committed_schemas_match_what_the_models_generate():
    assert drift(ROOT) == [], "run: uv run switchboard-schemas generate"


def test_drift_is_detected_when_a_committed_schema_differs(tmp_path):
    for spec in ALL_SPECS:
        for relative, content in render(spec).items():
            (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / relative).write_bytes(content)
    target = tmp_path / "json" / "switchboard.message.received.v1.json"
    document = orjson.loads(target.read_bytes())
    document["properties"].pop("channel")
    target.write_bytes(orjson.dumps(document))
    assert drift(tmp_path) == ["json/switchboard.message.received.v1.json"]


def test_every_event_family_has_a_topic_document_and_at_least_one_example():
    with_examples = {ce_type for ce_type, _ in examples()}
    for spec in ALL_SPECS:
        assert (ROOT / "topics" / f"{family_name(spec)}.yaml").exists()
        assert spec.ce_type in with_examples, f"no example for {spec.ce_type}"


def test_topic_documents_name_their_version_key_and_schema():
    for spec in ALL_SPECS:
        document = yaml.safe_load((ROOT / "topics" / f"{family_name(spec)}.yaml").read_text())
        assert document["topic"] == spec.topic
        assert document["version"] == int(spec.topic.rsplit(".v", 1)[1])
        assert (ROOT / "topics" / document["schema"]).resolve().exists()


@pytest.mark.parametrize(("ce_type", "path"), examples(), ids=lambda value: getattr(value, "stem", value))
def test_each_example_is_valid_against_the_committed_schema_and_the_model(ce_type, path):
    schema = orjson.loads((ROOT / "json" / f"{ce_type}.json").read_bytes())
    payload = orjson.loads(path.read_bytes())
    jsonschema.Draft202012Validator(schema).validate(payload)
    SPECS[ce_type].model.model_validate(payload)


def test_the_schema_rejects_a_payload_without_a_required_field():
    schema = orjson.loads((ROOT / "json" / "switchboard.message.received.v1.json").read_bytes())
    payload = orjson.loads(next(p for t, p in examples() if t == "switchboard.message.received.v1").read_bytes())
    del payload["conversation_id"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate(payload)
