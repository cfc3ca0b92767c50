"""The gateway's services, as the local runner and the cross-service tests start them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ServiceModule:
    name: str
    module: str
    public: bool = False
    """Whether people (customers, providers) talk to it, as opposed to health and metrics only."""


SERVICES: tuple[ServiceModule, ...] = (
    ServiceModule("intake-chat", "switchboard_intake_chat.main", public=True),
    ServiceModule("intake-phone", "switchboard_intake_phone.main", public=True),
    ServiceModule("intake-email", "switchboard_intake_email.main", public=True),
    ServiceModule("classifier", "switchboard_classifier.main"),
    ServiceModule("dispatcher", "switchboard_dispatcher.main"),
    ServiceModule("notifier", "switchboard_notifier.main"),
)
