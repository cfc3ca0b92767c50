"""Entry point: ``switchboard-intake-email``."""

from __future__ import annotations

from switchboard_common.service import serve
from switchboard_intake_email.app import SERVICE, create_app
from switchboard_intake_email.settings import IntakeEmailSettings


def main() -> None:
    settings = IntakeEmailSettings()
    serve(create_app(settings), service=SERVICE, http=settings.http, observability=settings.observability)


if __name__ == "__main__":
    main()
