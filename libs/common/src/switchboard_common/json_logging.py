"""JSON logs with personal data masked.

Every record becomes one JSON line: time, level, logger, message, service, trace id, and any
``extra`` fields. Message text and string fields pass through :func:`switchboard_common.pii.mask_text`,
so an email address or phone number that slips into a log line is masked there.
"""

from __future__ import annotations

import logging
import sys
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
