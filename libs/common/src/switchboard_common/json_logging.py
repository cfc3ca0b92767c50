"""JSON logs with personal data masked.

Every record becomes one JSON line: time, level, logger, message, service, trace id, and any
``extra`` fields. Message text and string fields pass through :func:`switchboard_common.pii.mask_text`,
so an email address or phone number that slips into a log line is masked there.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from switchboard_common.pii import mask_text

_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys() | {"message", "asctime", "taskName"}
)


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(v) for v in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return mask_text(repr(value))


class JsonFormatter(logging.Formatter):
    """Formats records as masked JSON lines."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "service": self._service,
            "message": mask_text(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = _mask(value)
        if record.exc_info:
            entry["exception"] = mask_text(self.formatException(record.exc_info))
        return orjson.dumps(entry, default=repr).decode()


class MaskingTextFormatter(logging.Formatter):
    """Human-readable lines for local development, masked the same way."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_text(super().format(record))


def configure_logging(service: str, level: str = "INFO", json_format: bool = True) -> None:
    """Route the root logger (and uvicorn's) to stdout in the chosen format."""
    handler = logging.StreamHandler(sys.stdout)
    if json_format:
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(MaskingTextFormatter(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("aiokafka").setLevel(max(logging.getLevelName(level), logging.WARNING))
    # HTTP clients log every request URL at INFO; some provider APIs carry credentials in the URL
    # (a bot token in the path, an access_token in the query), which must never reach a log line.
    for noisy in ("httpx", "httpcore", "slack_sdk.web.async_base_client", "slack_sdk.web.base_client"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class Throttled:
    """A warning repeated on every request of an outage, logged at most once per ``interval`` seconds.

    The first occurrence is logged at once; later ones within ``interval`` of the last record are only
    counted, and the next record carries that count as ``repeated``. Metrics count every occurrence; the
    log says that it is happening, without a line per request (during a broker outage
    of one test run the web chat's 503s were 4,289 lines, 1 MB of its 1.1 MB log).
    """

    def __init__(
        self, logger: logging.Logger, interval: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._logger = logger
        self._interval = interval
        self._clock = clock
        self._last: float | None = None
        self._repeated = 0

    def warning(self, message: str, **extra: Any) -> None:
        now = self._clock()
        if self._last is not None and now - self._last < self._interval:
            self._repeated += 1
            return
        if self._repeated:
            extra["repeated"] = self._repeated
        self._last, self._repeated = now, 0
        self._logger.warning(message, extra=extra)
