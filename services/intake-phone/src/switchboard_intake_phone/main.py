"""Entry point: ``switchboard-intake-phone``."""

from __future__ import annotations

from switchboard_common.service import serve
from switchboard_intake_phone.app import SERVICE, create_app
from switchboard_intake_phone.settings import IntakePhoneSettings


def main() -> None:
    settings = IntakePhoneSettings()
    serve(create_app(settings), service=SERVICE, http=settings.http, observability=settings.observability)


if __name__ == "__main__":
    main()
