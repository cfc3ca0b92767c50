"""Channel senders: how a notification reaches the customer on each channel.

Each channel lives in its own module with a ``from_settings`` factory and, for external channels, a
pydantic-settings class of its own (its credentials and endpoints, with their own environment prefix).
"""

from switchboard_notifier.channels.base import (
    ChannelSender,
    Delivery,
    DeliveryFailed,
    DeliveryRetryable,
    Notification,
    NotificationAction,
    SenderRegistry,
)

__all__ = [
    "ChannelSender",
    "Delivery",
    "DeliveryFailed",
    "DeliveryRetryable",
    "Notification",
    "NotificationAction",
    "SenderRegistry",
]
