"""Entry point: ``switchboard-notifier``."""

from __future__ import annotations

from switchboard_common.service import serve
from switchboard_notifier.app import SERVICE, create_app
from switchboard_notifier.settings import NotifierSettings


def main() -> None:
    settings = NotifierSettings()
    serve(create_app(settings), service=SERVICE, http=settings.http, observability=settings.observability)


if __name__ == "__main__":
    main()
