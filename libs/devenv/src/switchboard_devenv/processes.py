"""Services as real processes, for end-to-end tests, fault tests, benchmarks and the local gateway."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

import httpx


class LoggedProcess:
    """A child process in a session of its own, its output appended to a log file; stopped gracefully or killed."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self, argv: list[str], env: Mapping[str, str] | None = None) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115  (closed when the process is stopped)
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

    def _close_log(self) -> None:
        if self._log is not None:
            with contextlib.suppress(OSError):
                self._log.close()
            self._log = None


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

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until ``/readyz`` answers 200; raises with the log's tail otherwise."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"{self.name} exited with {self.returncode}:\n{self.log_tail()}")
            try:
                response = httpx.get(f"{self.url}/readyz", timeout=2)
                if response.status_code == 200:
                    return
                last = response.text
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
