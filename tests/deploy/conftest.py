"""Fixtures for the deployment tests: the pinned helm binary and a renderer of the Switchboard chart.

helm is built by ``scripts/install-helm`` (which ``.ci/run`` calls). Without it the chart tests fail in
CI (``CI`` set) with the command to run, and skip elsewhere with the same hint.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "k8s" / "switchboard"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
INSTALL_HELM = REPO / "scripts" / "install-helm"

# The Kubernetes versions the chart is rendered for and validated against: the oldest the chart
# supports (Chart.yaml kubeVersion) and the newest kubernetes-validate ships schemas for.
KUBE_VERSIONS = ("1.29.0", "1.37.0")
DEFAULT_KUBE_VERSION = KUBE_VERSIONS[-1]
RELEASE = "sb"
NAMESPACE = "switchboard"


def _helm_path() -> Path | None:
    explicit = os.environ.get("HELM")
    if explicit:
        return Path(explicit)
    answer = subprocess.run([str(INSTALL_HELM), "--path"], capture_output=True, text=True, check=True)
    path = Path(answer.stdout.strip())
    return path if path.is_file() else None


@pytest.fixture(scope="session")
def helm() -> Path:
    """The pinned helm binary."""
    path = _helm_path()
    if path is None or not os.access(path, os.X_OK):
        hint = "build it with scripts/install-helm (Go module proxy; a few minutes the first time)"
        if os.environ.get("CI"):
            pytest.fail(f"helm is missing although CI should have installed it: {hint}", pytrace=False)
        pytest.skip(f"helm is not installed here: {hint}")
    return path


class HelmFailed(AssertionError):
    """helm exited with an error; ``message`` is its standard error."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


_RENDERS: dict[tuple[tuple[str, ...], str, str], str | HelmFailed] = {}


@dataclass(frozen=True)
class Manifests:
    """The documents of one render, with lookups by kind and name."""

    documents: list[dict[str, Any]]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [d for d in self.documents if d["kind"] == kind]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        found = [d for d in self.of_kind(kind) if d["metadata"]["name"] == name]
        assert found, f"no {kind} {name}; rendered: {sorted(self.names(kind))}"
        return found[0]

    def names(self, kind: str) -> set[str]:
        return {d["metadata"]["name"] for d in self.of_kind(kind)}

    def of_component(self, kind: str, component: str) -> dict[str, Any]:
        """The one resource of a kind that belongs to a service (by its component label)."""
        found = [
            d for d in self.of_kind(kind) if d["metadata"]["labels"].get("app.kubernetes.io/component") == component
        ]
        assert len(found) == 1, f"{len(found)} {kind} of {component}"
        return found[0]

    def deployment(self, service: str) -> dict[str, Any]:
        return self.of_component("Deployment", service)

    def container(self, service: str) -> dict[str, Any]:
        containers: list[dict[str, Any]] = self.deployment(service)["spec"]["template"]["spec"]["containers"]
        return containers[0]

    def env(self, service: str) -> dict[str, dict[str, Any]]:
        """The service container's environment by variable name."""
        return {entry["name"]: entry for entry in self.container(service)["env"]}

    def pod_specs(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every pod spec: Deployments', Jobs' and bare Pods'."""
        for document in self.documents:
            if document["kind"] in ("Deployment", "Job"):
                yield document["metadata"]["name"], document["spec"]["template"]["spec"]
            elif document["kind"] == "Pod":
                yield document["metadata"]["name"], document["spec"]

    def components(self) -> set[str]:
        return {
            d["metadata"]["labels"].get("app.kubernetes.io/component", "")
            for d in self.documents
            if "labels" in d["metadata"]
        }


@dataclass(frozen=True)
class Chart:
    """Renders and lints the chart with the pinned helm."""

    helm: Path
    workdir: Path
    fullname: str = f"{RELEASE}-switchboard"
    namespace: str = NAMESPACE

    def _values_args(self, files: Iterable[Path | str], values: dict[str, Any] | None) -> list[str]:
        args: list[str] = []
        for file in files:
            path = Path(file)
            args += ["-f", str(path if path.is_absolute() else CHART / path)]
        if values is not None:
            extra = self.workdir / f"values-{uuid.uuid4().hex[:8]}.yaml"
            extra.write_text(yaml.safe_dump(values), "utf-8")
            args += ["-f", str(extra)]
        return args

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.helm), *args], capture_output=True, text=True, timeout=120)

    def template_text(
        self,
        *files: Path | str,
        values: dict[str, Any] | None = None,
        kube_version: str = DEFAULT_KUBE_VERSION,
    ) -> str:
        """The rendered manifests; raises HelmFailed with helm's message when rendering fails.

        Renders are remembered for the session: many tests read the same ci values file.
        """
        key = (tuple(str(f) for f in files), yaml.safe_dump(values), kube_version)
        if key not in _RENDERS:
            _RENDERS[key] = self._render(files, values, kube_version)
        result = _RENDERS[key]
        if isinstance(result, HelmFailed):
            raise HelmFailed(result.message)
        return result

    def _render(
        self, files: tuple[Path | str, ...], values: dict[str, Any] | None, kube_version: str
    ) -> str | HelmFailed:
        result = self.run(
            "template",
            RELEASE,
            str(CHART),
            "--namespace",
            NAMESPACE,
            "--kube-version",
            kube_version,
            *self._values_args(files, values),
        )
        if result.returncode != 0:
            return HelmFailed(result.stderr)
        return result.stdout

    def template(
        self,
        *files: Path | str,
        values: dict[str, Any] | None = None,
        kube_version: str = DEFAULT_KUBE_VERSION,
    ) -> Manifests:
        text = self.template_text(*files, values=values, kube_version=kube_version)
        return Manifests([d for d in yaml.safe_load_all(text) if d])

    def template_error(self, *files: Path | str, values: dict[str, Any] | None = None) -> str:
        """helm's error message for a render that must fail."""
        try:
            self.template_text(*files, values=values)
        except HelmFailed as failure:
            return failure.message
        raise AssertionError(f"the chart rendered although it should have refused: {values}")

    def lint(self, *files: Path | str) -> subprocess.CompletedProcess[str]:
        return self.run(
            "lint", "--strict", str(CHART), "--kube-version", DEFAULT_KUBE_VERSION, *self._values_args(files, None)
        )


@pytest.fixture
def chart(helm: Path, tmp_path: Path) -> Chart:
    return Chart(helm, tmp_path)
