"""Services as real processes, for end-to-end tests, fault tests, benchmarks and the local gateway."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

import httpx

from switchboard_common.settings import KafkaSettings

_handed_out: set[int] = set()
_handed_out_lock = threading.Lock()


def free_port() -> int:
    """A loopback port nothing listens on now, and never one this process has handed out before.

    The kernel may give the same ephemeral port to two ``bind(0)`` calls in a row once the first
    socket is closed; two services of one test then race for it and one of them dies at start-up.
    """
    with _handed_out_lock:
        while True:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind(("127.0.0.1", 0))
                port = int(sock.getsockname()[1])
            if port not in _handed_out:
                _handed_out.add(port)
                return port


BIND_CONFLICT = "address already in use"
"""What uvicorn logs when its port was taken between :func:`free_port` and its own ``bind``."""


class LoggedProcess:
    """A child process in a session of its own, its output appended to a log file; stopped gracefully or killed."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._started_at_byte = 0

    def start(self, argv: list[str], env: Mapping[str, str] | None = None) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115  (closed when the process is stopped)
        self._started_at_byte = self._log.tell()
        self._process = subprocess.Popen(
            argv, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._process.poll() if self._process else None

    def stop(self, timeout: float) -> int | None:
        """SIGTERM (a graceful shutdown), then SIGKILL after ``timeout``; the exit code."""
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        self._close_log()
        return process.returncode if process else None

    def kill(self) -> None:
        """SIGKILL: the crash a fault test wants."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(10)
        self._close_log()

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text("utf-8", "replace").splitlines()[-lines:])
        except OSError:
            return ""

    def output_of_this_run(self) -> str:
        """What the process wrote to the log since its last ``start`` (the log file is appended to)."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(self._started_at_byte)
                return log.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def _close_log(self) -> None:
        if self._log is not None:
            with contextlib.suppress(OSError):
                self._log.close()
            self._log = None


def service_env(kafka: KafkaSettings, instance_id: str, **extra: str) -> dict[str, str]:
    """What a service started by a test needs to run against ``kafka``: the broker, the topic prefix,
    an instance id, and a short group session (6 s), so a killed member's partitions move on soon."""
    return {
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": kafka.topic_prefix,
        "CONSUMER_INSTANCE_ID": instance_id,
        "CONSUMER_SESSION_TIMEOUT_MS": "6000",
        "CONSUMER_HEARTBEAT_INTERVAL_MS": "1000",
        **extra,
    }


class ServiceProcess:
    """One service (``python -m <module>``) with its own environment and log file."""

    def __init__(
        self,
        name: str,
        module: str,
        *,
        port: int,
        env: Mapping[str, str],
        log_dir: Path,
    ) -> None:
        self.name = name
        self.module = module
        self.port = port
        self.env = dict(env)
        self.log_path = log_dir / f"{name}.log"
        self._process = LoggedProcess(self.log_path)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process.running

    def start(self) -> ServiceProcess:
        env = {**os.environ, **self.env, "HTTP_HOST": "127.0.0.1", "HTTP_PORT": str(self.port)}
        self._process.start([sys.executable, "-m", self.module], env)
        return self

    def wait_ready(self, timeout: float = 60.0, *, port_retries: int = 3) -> None:
        """Until this process's ``/readyz`` answers 200; raises with the log's tail otherwise.

        Only an answer carrying this child's pid counts: another process that took the port first
        is not mistaken for this service. If the port was taken before the service could bind it,
        the service is started again on a new port (``port`` and ``url`` change), up to
        ``port_retries`` times.
        """
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if not self.running:
                if port_retries > 0 and BIND_CONFLICT in self._process.output_of_this_run().lower():
                    port_retries -= 1
                    self.port = free_port()
                    self.start()
                    continue
                raise RuntimeError(f"{self.name} exited with {self.returncode}:\n{self.log_tail()}")
            try:
                response = httpx.get(f"{self.url}/readyz", timeout=2)
                answered_by = _pid_in(response)
                if response.status_code == 200 and answered_by == self.pid:
                    return
                last = response.text if answered_by in (None, self.pid) else f"port {self.port} is pid {answered_by}'s"
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} not ready after {timeout:.0f}s ({last}):\n{self.log_tail()}")

    @property
    def returncode(self) -> int | None:
        return self._process.returncode

    def log_tail(self, lines: int = 40) -> str:
        return self._process.tail(lines)

    def stop(self, timeout: float = 25.0) -> int | None:
        """SIGTERM (graceful drain), then SIGKILL after ``timeout``."""
        return self._process.stop(timeout)

    def kill(self) -> None:
        """SIGKILL: the crash a fault test wants."""
        self._process.kill()


def _pid_in(response: httpx.Response) -> int | None:
    """The ``pid`` a service's ``/readyz`` reports, None when the answer is not one of ours."""
    try:
        body = response.json()
    except ValueError:
        return None
    pid = body.get("pid") if isinstance(body, dict) else None
    return pid if isinstance(pid, int) else None
