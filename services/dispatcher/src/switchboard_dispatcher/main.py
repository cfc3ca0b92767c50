"""Entry point: ``switchboard-dispatcher``."""

from __future__ import annotations

import logging
import sys

from pydantic import ValidationError

from switchboard_common.json_logging import configure_logging
from switchboard_common.routing import RoutingConfigError
from switchboard_common.service import serve
from switchboard_dispatcher.app import SERVICE, create_app
from switchboard_dispatcher.settings import DispatcherSettings

log = logging.getLogger(__name__)


def main() -> None:
    """Run the dispatcher; exit with status 2 and one clear line when its configuration is unusable."""
    try:
        settings = DispatcherSettings()
    except ValidationError as exc:
        print(f"switchboard-dispatcher: invalid settings: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    configure_logging(SERVICE, settings.observability.level, settings.observability.json_format)
    try:
        app = create_app(settings)
    except (RoutingConfigError, ValidationError, OSError, ValueError) as exc:
        log.error("cannot start: the routing rules or topic plan are unusable", extra={"error": str(exc)[:2000]})
        raise SystemExit(2) from None
    serve(app, service=SERVICE, http=settings.http, observability=settings.observability)


if __name__ == "__main__":
    main()
