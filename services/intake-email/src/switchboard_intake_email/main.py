"""Entry point: ``switchboard-intake-email``."""

from __future__ import annotations

import logging

from switchboard_common.service import serve
from switchboard_intake_email.app import SERVICE, create_app
from switchboard_intake_email.settings import IntakeEmailSettings


def main() -> None:
    settings = IntakeEmailSettings()
    # aioimaplib logs every unsolicited server line at INFO; only its warnings belong in our logs.
    logging.getLogger("aioimaplib").setLevel(logging.WARNING)
    serve(create_app(settings), service=SERVICE, http=settings.http, observability=settings.observability)


if __name__ == "__main__":
    main()
