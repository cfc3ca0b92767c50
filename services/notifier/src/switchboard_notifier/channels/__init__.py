"""Channel senders: how a notification reaches the customer on each channel."""

from switchboard_notifier.channels.base import (
    ChannelSender,
    Delivery,
    DeliveryFailed,
    DeliveryRetryable,
    Notification,
    SenderRegistry,
)

__all__ = ["ChannelSender", "Delivery", "DeliveryFailed", "DeliveryRetryable", "Notification", "SenderRegistry"]
