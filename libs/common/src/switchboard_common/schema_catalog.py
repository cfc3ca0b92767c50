"""The published schema of every topic: JSON Schemas generated from the models, checked into the repo.

    switchboard-schemas generate    rewrite schemas/json/*.json and schemas/topics/*.yaml from the models
    switchboard-schemas check       exit 1 when the committed files differ from what the models generate

Layout under ``switchboard_common/schemas/``:

* ``topics/<family>.yaml``: topic name, version, CloudEvents type, record key, description;
* ``json/<ce_type>.json``: the JSON Schema (draft 2020-12) of the event data;
* ``examples/<ce_type>/*.json``: example payloads, validated by the test suite.
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
import yaml

from switchboard_common.events import ALL_SPECS, EventSpec

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def schema_root() -> Path:
    """The ``schemas`` folder inside the installed package."""
    return Path(str(resources.files("switchboard_common").joinpath("schemas")))


def family_name(spec: EventSpec[Any]) -> str:
    """A file-safe name for a topic family (``dept.{department}.v1`` becomes ``dept.department.v1``)."""
    return spec.topic.replace("{", "").replace("}", "")


def version_of(spec: EventSpec[Any]) -> int:
    return int(spec.ce_type.rsplit(".v", 1)[1])


def json_schema(spec: EventSpec[Any]) -> dict[str, Any]:
    schema = spec.model.model_json_schema(mode="serialization")
    return {
        "$schema": SCHEMA_DIALECT,
        "$id": f"urn:switchboard:schema:{spec.ce_type}",
        "description": spec.description,
        **schema,
        "title": spec.ce_type,
    }


def topic_document(spec: EventSpec[Any]) -> dict[str, Any]:
    return {
        "topic": spec.topic,
        "version": version_of(spec),
        "ce_type": spec.ce_type,
        "description": spec.description,
        "envelope": "CloudEvents 1.0, Kafka binary content mode: ce_* headers, JSON value",
        "key": spec.key,
        "schema": f"../json/{spec.ce_type}.json",
        "examples": f"../examples/{spec.ce_type}/",
        "compatibility": "fields are only added within a major version; consumers ignore unknown fields",
    }


def render(spec: EventSpec[Any]) -> dict[str, bytes]:
    """File contents (relative path to bytes) generated for one event family."""
    schema = orjson.dumps(json_schema(spec), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    topic = yaml.safe_dump(topic_document(spec), sort_keys=False, allow_unicode=True).encode()
    return {f"json/{spec.ce_type}.json": schema, f"topics/{family_name(spec)}.yaml": topic}


def generate(root: Path) -> list[str]:
    written = []
    for spec in ALL_SPECS:
        for relative, content in render(spec).items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists() or path.read_bytes() != content:
                path.write_bytes(content)
                written.append(relative)
    return written


def drift(root: Path) -> list[str]:
    """Files whose committed content differs from what the models generate."""
    differing = []
    for spec in ALL_SPECS:
        for relative, content in render(spec).items():
            path = root / relative
            if not path.exists() or path.read_bytes() != content:
                differing.append(relative)
    return differing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="switchboard-schemas")
    parser.add_argument("command", choices=["generate", "check"])
    parser.add_argument("--root", type=Path, default=None, help="schemas folder (default: the package's)")
    args = parser.parse_args(argv)
    root = args.root or schema_root()
    if args.command == "generate":
        for relative in generate(root):
            print(f"wrote {relative}")
        return 0
    stale = drift(root)
    for relative in stale:
        print(f"out of date: {relative} (run: switchboard-schemas generate)", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
