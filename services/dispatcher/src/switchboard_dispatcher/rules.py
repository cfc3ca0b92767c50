"""The routing rules in force, and their reload when the rules file changes.

Operators change routing without code changes: the dispatcher checks the file every few seconds
(and at once on SIGHUP) and switches to the new rules between two batches. A file that does not
load (YAML or validation error, or a department without a topic) is rejected with one clear log
line and a metric, and the previous rules stay in force until the file is fixed.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path

from switchboard_common.routing import RoutingConfig, RoutingConfigError, load_routing_config
from switchboard_dispatcher.metrics import RULES_RELOADS, RULES_VALID

log = logging.getLogger(__name__)


class ReloadOutcome(StrEnum):
    UNCHANGED = "unchanged"
    APPLIED = "applied"
    REJECTED = "rejected"


class RoutingRules:
    """The rules loaded from ``path`` (the packaged rules when None), checked against the known departments.

    Construction fails with :class:`RoutingConfigError` when the rules cannot be used: the service
    must not start without valid rules.
    """

    def __init__(
        self,
        path: Path | None,
        *,
        known_departments: set[str],
        poll_interval_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._known = set(known_departments)
        self._interval = poll_interval_s
        self._clock = clock
        self.current: RoutingConfig = load_routing_config(path, known_departments=self._known)
        try:
            self._digest = _digest(self._read())
        except OSError as exc:
            raise RoutingConfigError(f"cannot read routing rules {path}: {exc}") from exc
        self._rejected: str | None = None
        self._next_check = clock() + poll_interval_s
        self._check_requested = False
        RULES_VALID.set(1)

    def request_check(self) -> None:
        """Check the file at the next :meth:`poll` (the SIGHUP handler)."""
        self._check_requested = True

    def poll(self) -> ReloadOutcome:
        """Check the file if a check is due or was requested; cheap to call on every loop iteration."""
        if self.path is None or not (self._check_requested or self._clock() >= self._next_check):
            return ReloadOutcome.UNCHANGED
        self._check_requested = False
        self._next_check = self._clock() + self._interval
        return self.check()

    def check(self) -> ReloadOutcome:
        """Reload the file if its contents changed; reject it (keeping the rules in force) if invalid."""
        if self.path is None:
            return ReloadOutcome.UNCHANGED
        try:
            content = self._read()
        except OSError as exc:
            return self._reject(f"missing:{exc.errno}", f"cannot read routing rules {self.path}: {exc}")
        digest = _digest(content)
        if digest == self._digest:
            if self._rejected is not None:  # the file went back to the rules in force
                self._rejected = None
                RULES_VALID.set(1)
            return ReloadOutcome.UNCHANGED
        if digest == self._rejected:
            return ReloadOutcome.REJECTED
        try:
            config = load_routing_config(self.path, known_departments=self._known)
        except RoutingConfigError as exc:
            return self._reject(digest, str(exc))
        self.current = config
        self._digest = digest
        self._rejected = None
        RULES_RELOADS.labels(ReloadOutcome.APPLIED.value).inc()
        RULES_VALID.set(1)
        log.info(
            "routing rules reloaded",
            extra={"path": str(self.path), "rules": len(config.rules), "digest": digest[:12]},
        )
        return ReloadOutcome.APPLIED

    def _reject(self, marker: str, reason: str) -> ReloadOutcome:
        if marker != self._rejected:  # one log line and one count per bad version of the file
            self._rejected = marker
            RULES_RELOADS.labels(ReloadOutcome.REJECTED.value).inc()
            log.error(
                "routing rules rejected; the previous rules stay in force",
                extra={"path": str(self.path), "reason": reason[:2000], "digest_in_force": self._digest[:12]},
            )
        RULES_VALID.set(0)
        return ReloadOutcome.REJECTED

    def _read(self) -> bytes:
        return self.path.read_bytes() if self.path is not None else b""


def _digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()
