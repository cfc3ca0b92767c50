"""Entry point: ``switchboard-intake-chat``."""

from __future__ import annotations

from switchboard_common.service import serve
from switchboard_intake_chat.app import SERVICE, create_app
from switchboard_intake_chat.settings import IntakeChatSettings


def main() -> None:
    settings = IntakeChatSettings()
    serve(
        create_app(settings),
        service=SERVICE,
        http=settings.http,
        observability=settings.observability,
        ws_max_bytes=settings.webchat.max_frame_bytes * 4,
    )


if __name__ == "__main__":
    main()
