"""The container images (deploy/docker/Dockerfile): one target per service the chart deploys.

The fast tests read the Dockerfile. ``test_the_classifier_image_builds_and_serves_its_health_endpoints``
really builds an image without a Docker daemon (buildah, vfs storage, chroot isolation), runs it and
asks its health endpoints; it takes minutes, so it runs only when asked:

    SWITCHBOARD_IMAGE_BUILD=1 uv run pytest tests/deploy/test_container_image.py -m image_build

It needs the Debian packages buildah and debootstrap. This machine reaches no container registry, so
the test stands a base image in for python:3.11-slim-bookworm: Debian bookworm's own Python 3.11 from
debootstrap, kept in the build cache between runs (~/.cache/switchboard/oci).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "deploy" / "docker" / "Dockerfile"
SERVICES = ("intake-chat", "intake-email", "intake-phone", "classifier", "dispatcher", "notifier")


def stages() -> dict[str, list[str]]:
    """The Dockerfile's stages by name: their instructions, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text("utf-8"))
    result: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"FROM\s+(\S+)\s+AS\s+(\S+)", line, re.IGNORECASE)
        if match:
            current = result.setdefault(match.group(2), [f"FROM {match.group(1)}"])
        elif current is not None:
            current.append(line)
    return result


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_a_target_that_runs_its_entry_point(service):
    target = stages()[service]
    assert target[0] == "FROM runtime"
    assert f"COPY --from=build-{service} /opt/venv /opt/venv" in target
    assert target[-1] == f'CMD ["switchboard-{service}"]'


@pytest.mark.parametrize("service", SERVICES)
def test_each_build_stage_installs_exactly_its_package_from_the_lock_file(service):
    runs = [line for line in stages()[f"build-{service}"] if line.startswith("RUN")]
    assert len(runs) == 2
    assert runs[0].endswith(f"uv sync --frozen --no-dev --no-install-workspace --package switchboard-{service}")
    assert runs[1].endswith(f"uv sync --frozen --no-dev --no-editable --package switchboard-{service}")


@pytest.mark.parametrize("service", SERVICES)
def test_the_entry_point_is_the_service_packages_console_script(service):
    pyproject = REPO / "services" / service / "pyproject.toml"
    if not pyproject.exists():
        pytest.skip(f"services/{service} is not on this branch yet")
    scripts = tomllib.loads(pyproject.read_text("utf-8"))["project"]["scripts"]
    module = service.replace("-", "_")
    assert scripts[f"switchboard-{service}"] == f"switchboard_{module}.main:main"


def test_the_runtime_stage_is_non_root_without_build_tools():
    runtime = stages()["runtime"]
    assert "USER 10001:10001" in runtime
    assert "EXPOSE 8080" in runtime
    assert any(line.startswith("HEALTHCHECK") and "/healthz" in line for line in runtime)
    assert not any("uv " in line or "pip install" in line for line in runtime), "uv and pip stay in the builder"


def test_the_build_context_is_only_the_workspace():
    ignore = (REPO / ".dockerignore").read_text("utf-8").splitlines()
    assert ignore[ignore.index("*") + 1 :][:4] == ["!pyproject.toml", "!uv.lock", "!libs/", "!services/"]
    assert "**/.venv/" in ignore


# -- a real build (opt-in) ---------------------------------------------------------------------------

OCI_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "switchboard" / "oci"
BASE_IMAGE = "localhost/switchboard-build-base/python:3.11-bookworm"
BASE_PACKAGES = (
    "python3-minimal,python3.11,python3.11-venv,python3-distutils,python3-lib2to3,python3-pip-whl,"
    "python3-setuptools-whl,ca-certificates"
)
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def buildah(*args: str, timeout: float = 1800) -> str:
    command = ["buildah", "--root", str(OCI_CACHE / "storage"), "--runroot", str(OCI_CACHE / "run"),
               "--storage-driver", "vfs", *args]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(args[:2])} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result.stdout


def ensure_base_image(workdir: Path) -> None:
    """Debian bookworm with its Python 3.11, in place of python:3.11-slim-bookworm (built once, cached)."""
    if subprocess.run(
        ["buildah", "--root", str(OCI_CACHE / "storage"), "--runroot", str(OCI_CACHE / "run"),
         "--storage-driver", "vfs", "inspect", "--type", "image", BASE_IMAGE],
        capture_output=True,
    ).returncode == 0:  # fmt: skip
        return
    rootfs = workdir / "rootfs"
    subprocess.run(
        ["debootstrap", "--variant=minbase", f"--include={BASE_PACKAGES}", "bookworm", str(rootfs),
         "http://deb.debian.org/debian"],
        check=True, capture_output=True, timeout=1800,
    )  # fmt: skip
    for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for item in (rootfs / cache).glob("*"):
            if item.is_file():
                item.unlink()
    # The stand-in trusts what this machine trusts, so pip and uv reach PyPI the way the host does.
    shutil.copy(HOST_CA_BUNDLE, rootfs / "etc/ssl/certs/ca-certificates.crt")
    archive = workdir / "rootfs.tar"
    subprocess.run(["tar", "-C", str(rootfs), "-cf", str(archive), "."], check=True, timeout=600)
    container = buildah("from", "scratch").strip()
    buildah("add", container, str(archive), "/")
    buildah(
        "config",
        "--env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "--env", "LANG=C.UTF-8",
        "--env", f"PIP_CERT={HOST_CA_BUNDLE}",
        "--env", f"SSL_CERT_FILE={HOST_CA_BUNDLE}",
        "--cmd", "python3",
        container,
    )  # fmt: skip
    buildah("commit", "--rm", container, BASE_IMAGE)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 (a loopback URL built here)
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


@pytest.fixture(scope="module")
def classifier_image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if os.environ.get("SWITCHBOARD_IMAGE_BUILD") != "1":
        pytest.skip("builds a container image for minutes: set SWITCHBOARD_IMAGE_BUILD=1 to run it")
    missing = [tool for tool in ("buildah", "debootstrap") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"SWITCHBOARD_IMAGE_BUILD=1 needs {', '.join(missing)}: apt-get install buildah debootstrap")
    OCI_CACHE.mkdir(parents=True, exist_ok=True)
    ensure_base_image(tmp_path_factory.mktemp("base"))
    tag = "localhost/switchboard/classifier:test"
    buildah(
        "bud", "--isolation", "chroot", "--format", "docker", "--pull-never",
        "--build-arg", f"PYTHON_IMAGE={BASE_IMAGE}",
        "-f", str(DOCKERFILE), "--target", "classifier", "-t", tag, str(REPO),
    )  # fmt: skip
    yield tag
    buildah("rmi", tag)


@pytest.mark.image_build
@pytest.mark.slow
def test_the_classifier_image_builds_and_serves_its_health_endpoints(classifier_image):
    image = json.loads(buildah("inspect", "--type", "image", classifier_image))
    config = image["Docker"]["config"]
    assert config["User"] == "10001:10001"
    assert config["Cmd"] == ["switchboard-classifier"]
    assert "8080/tcp" in config["ExposedPorts"]
    assert config["Healthcheck"]["Test"][0] == "CMD"

    container = buildah("from", "--pull-never", classifier_image).strip()
    try:
        probe = buildah("run", "--isolation", "chroot", container, "--", "sh", "-c",
                        "id -u; command -v uv pip gcc || true; switchboard-topics show | head -1")  # fmt: skip
        lines = probe.splitlines()
        assert lines[0] == "10001"
        assert lines[1].startswith("intake.messages.v1"), "no uv, pip or compiler on the PATH; the ops CLI is there"

        port = free_port()
        server = subprocess.Popen(
            ["buildah", "--root", str(OCI_CACHE / "storage"), "--runroot", str(OCI_CACHE / "run"),
             "--storage-driver", "vfs", "run", "--isolation", "chroot",
             "--env", "HTTP_HOST=127.0.0.1", "--env", f"HTTP_PORT={port}",
             "--env", "KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9", container, "--", "switchboard-classifier"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while http_status(f"http://127.0.0.1:{port}/healthz") != 200:
                assert server.poll() is None, server.stdout.read().decode() if server.stdout else ""
                assert time.monotonic() < deadline, "the image's server did not come up"
                time.sleep(0.5)
            assert http_status(f"http://127.0.0.1:{port}/readyz") == 503, "no Kafka, so not ready"
            assert http_status(f"http://127.0.0.1:{port}/metrics") == 200
        finally:
            server.terminate()
            server.wait(timeout=60)
    finally:
        buildah("rm", container)
