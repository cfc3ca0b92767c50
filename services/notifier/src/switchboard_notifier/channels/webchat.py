"""Web chat: the notification becomes a chat.outbound.v1 record; intake-chat delivers it to the socket.

Publishing it in the same Kafka transaction as the ack record and the input offsets makes a web-chat
acknowledgement exactly-once, across notifier restarts too.
"""

from __future__ import annotations

from datetime import UTC, datetime

from switchboard_common.events import CHAT_OUTBOUND, encode_event
from switchboard_common.events.models import Channel, ChatAction, ChatOutbound
from switchboard_common.topics import CHAT_OUTBOUND as CHAT_OUTBOUND_TOPIC
from switchboard_common.topics import TopicNames
from switchboard_notifier.channels.base import Delivery, Notification
from switchboard_notifier.settings import NotifierSettings


def from_settings(settings: NotifierSettings) -> WebChatSender:
    """Web chat needs no credentials: it is always on."""
    return WebChatSender(TopicNames(settings.kafka.topic_prefix))


class WebChatSender:
    """Sends to web-chat conversations through chat.outbound.v1."""

    channels = frozenset({Channel.WEBCHAT})
    immediate = True
    """``deliver`` only builds a record, without I/O (see ``ChannelSender``)."""

    def __init__(self, names: TopicNames, source: str = "switchboard/notifier") -> None:
        self._topic = names(CHAT_OUTBOUND_TOPIC)
        self._source = source

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def deliver(self, notification: Notification) -> Delivery:
        message = notification.message
        outbound = ChatOutbound(
            message_id=notification.notification_id,
            conversation_id=message.reply_to.address,
            in_reply_to=message.event_id,
            kind=notification.kind,
            text=notification.text,
            case_reference=notification.case_reference,
            department=notification.department,
            language=notification.language,
            sent_at=datetime.now(UTC),
            actions=[ChatAction(label=action.label, value=action.value) for action in notification.actions],
        )
        record = encode_event(
            CHAT_OUTBOUND,
            topic=self._topic,
            event_id=outbound.message_id,
            source=self._source,
            key=outbound.conversation_id,
            data=outbound,
        )
        return Delivery(records=[record], provider_id=outbound.message_id)
