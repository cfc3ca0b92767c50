"""Loading a channel's settings: a channel whose credentials are absent is off, not an error.

Each external channel (a provider's webhook in intake-chat or intake-phone, a sender in the notifier)
has a pydantic-settings class of its own whose credentials are required fields. :func:`optional_settings`
turns "they are not set" into "the channel is off" (None: its routes answer 404, its sender is not
registered) and leaves every other problem an error. It is the one way every service decides whether a
channel is on; a settings field holding a channel uses it as its default factory, e.g.
``Field(default_factory=partial(optional_settings, LineSettings, "line"))``.
"""

from __future__ import annotations

import logging
from typing import TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings

log = logging.getLogger(__name__)

S = TypeVar("S", bound=BaseSettings)


def optional_settings(cls: type[S], channel: str) -> S | None:
    """``cls()`` from the environment, or None when required settings are missing.

    Only *missing* required settings turn the channel off; an invalid value (a malformed number, a
    negative limit) still fails at start-up with pydantic's message. When some but not all required
    settings are present, the channel stays off and a warning names the missing variables.
    """
    try:
        return cls()
    except ValidationError as exc:
        errors = exc.errors()
        if any(error["type"] != "missing" for error in errors):
            raise
        required = [name for name, info in cls.model_fields.items() if info.is_required()]
        missing = [str(error["loc"][0]) for error in errors if error["loc"]]
        if len(missing) < len(required):
            log.warning(
                "channel is off: some of its settings are missing",
                extra={"channel": channel, "missing": [env_name(cls, name) for name in missing]},
            )
        else:
            log.info("channel is off (not configured)", extra={"channel": channel})
        return None


def env_name(cls: type[BaseSettings], field: str) -> str:
    """The environment variable a settings field is read from (its alias, else prefix + name)."""
    info = cls.model_fields.get(field)
    alias = info.validation_alias if info is not None else None
    if isinstance(alias, str):
        return alias.upper()
    prefix = str(cls.model_config.get("env_prefix", ""))
    return f"{prefix}{field}".upper()
