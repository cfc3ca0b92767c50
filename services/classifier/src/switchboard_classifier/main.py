"""Entry point of the classifier service (``switchboard-classifier``)."""

from __future__ import annotations

from switchboard_classifier.app import create_app
from switchboard_classifier.settings import SERVICE, ClassifierSettings
from switchboard_common.service import serve


def main() -> None:
    settings = ClassifierSettings()
    serve(create_app(settings), service=SERVICE, http=settings.http, observability=settings.observability)


if __name__ == "__main__":
    main()
