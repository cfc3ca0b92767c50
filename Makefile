# Switchboard: common tasks. Every target bootstraps what it needs (uv, the workspace, Kafka's jars).
SHELL := /bin/bash
export PATH := $(HOME)/.local/bin:$(PATH)
UV := uv run --frozen

.PHONY: help bootstrap run test test-fast lint format typecheck schemas topics kafka helm test-chart test-image train evaluate bench bench-classifier clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

bootstrap:  ## install uv, the Python workspace (from uv.lock) and the Kafka jars
	@scripts/bootstrap

run: bootstrap  ## run the whole gateway locally (Kafka included); open the printed web-chat URL
	$(UV) switchboard-dev

test: bootstrap  ## run the whole test suite (unit, integration and end-to-end, against a real Kafka broker)
	$(UV) pytest

test-fast: bootstrap  ## only the tests that need no broker
	$(UV) pytest -m "not kafka"

lint: bootstrap  ## ruff (lint and format check) and mypy
	$(UV) ruff check .
	$(UV) ruff format --check .
	$(UV) mypy libs/common/src libs/devenv/src services/*/src

format: bootstrap  ## format the code
	$(UV) ruff format .
	$(UV) ruff check --fix .

schemas: bootstrap  ## regenerate the committed JSON Schemas from the event models
	$(UV) switchboard-schemas generate

topics: bootstrap  ## create or update the topics of the plan on KAFKA_BOOTSTRAP_SERVERS
	$(UV) switchboard-topics ensure

kafka: bootstrap  ## run a development Kafka broker alone, in the foreground
	$(UV) switchboard-kafka run --dir .cache/kafka

helm:  ## build the pinned helm (go install via the Go module proxy) into ~/.cache/switchboard/tools
	@scripts/install-helm >/dev/null

test-chart: bootstrap helm  ## lint, render and validate the Helm chart, and its behaviour tests (no broker)
	$(UV) pytest tests/deploy -m "not kafka and not image_build"

test-image: bootstrap  ## build the classifier image with buildah (no Docker daemon), run it, ask its health (minutes)
	SWITCHBOARD_IMAGE_BUILD=1 $(UV) pytest tests/deploy/test_container_image.py -m image_build

train: bootstrap  ## retrain the classifier's model into its package (corpora from SWITCHBOARD_CORPUS_DIR if present)
	$(UV) switchboard-classifier-train

evaluate: bootstrap  ## the classifier's quality on its evaluation split, rules + model and rules alone
	$(UV) switchboard-classifier-evaluate services/classifier/training/data/eval/*.jsonl
	$(UV) switchboard-classifier-evaluate --rules-only services/classifier/training/data/eval/*.jsonl

bench-classifier: bootstrap  ## the classifier's speed: hot path per core, then end to end through a local broker
	$(UV) switchboard-classifier-bench
	$(UV) switchboard-classifier-bench --e2e

clean:  ## remove caches and the local gateway's data
	rm -rf .cache .pytest_cache .mypy_cache .ruff_cache
