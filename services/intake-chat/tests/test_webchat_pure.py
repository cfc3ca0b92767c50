import asyncio
from datetime import UTC, datetime

import orjson
import pytest
from pydantic import SecretStr

from switchboard_common.events.models import AckKind, Channel, ChatOutbound, Language
from switchboard_common.rate_limit import KeyedRateLimiter
from switchboard_common.settings import KafkaSettings
from switchboard_common.topics import TopicNames
from switchboard_intake_chat.outbound import Cursor, OutboundItem, OutboundRelay
from switchboard_intake_chat.settings import WebChatSettings
from switchboard_intake_chat.webchat.normalise import normalise_webchat
from switchboard_intake_chat.webchat.protocol import ChatMessageIn, ErrorCode
from switchboard_intake_chat.webchat.routes import ChatRejected, ChatSocket, WebChat
from switchboard_intake_chat.webchat.session import new_session, verify_session

SECRET = b"test-secret"


def test_a_session_token_proves_its_conversation():
    session = new_session(SECRET, now=1_000)
    assert verify_session(SECRET, session.token, now=1_010, ttl_seconds=60) == session


def test_a_token_signed_with_another_secret_or_altered_is_refused():
    session = new_session(SECRET, now=1_000)
    assert verify_session(b"other", session.token, now=1_010, ttl_seconds=60) is None
    forged = session.token.replace(session.conversation_id, "wc_someoneelse")
    assert verify_session(SECRET, forged, now=1_010, ttl_seconds=60) is None
    assert verify_session(SECRET, "garbage", now=1_010, ttl_seconds=60) is None


def test_an_expired_token_is_refused():
    session = new_session(SECRET, now=1_000)
    assert verify_session(SECRET, session.token, now=1_000 + 61, ttl_seconds=60) is None


def test_the_rate_limiter_allows_a_burst_then_the_sustained_rate():
    limiter = KeyedRateLimiter(rate=2.0, burst=3)
    assert [limiter.acquire("s", 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire("s", 0.0) == pytest.approx(0.5)
    assert limiter.acquire("s", 0.5) == 0.0
    assert limiter.acquire("other", 0.0) == 0.0


def chat() -> WebChat:
    settings = WebChatSettings(session_secret=SecretStr("s"), max_frame_bytes=512, max_text_chars=100)
    return WebChat(settings, publisher=None, relay=None)  # type: ignore[arg-type]  (parse needs neither)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", ErrorCode.INVALID_JSON),
        ("[1, 2]", ErrorCode.INVALID_FRAME),
        ('{"type": "message", "id": "a", "text": "hi", "colour": "red"}', ErrorCode.INVALID_FRAME),
        ('{"type": "message", "id": "has space", "text": "hi"}', ErrorCode.INVALID_FRAME),
        ('{"type": "message", "id": "a"}', ErrorCode.INVALID_FRAME),
        ('{"type": "message", "id": "a", "text": "   "}', ErrorCode.EMPTY_TEXT),
        ('{"type": "message", "id": "a", "text": "' + "x" * 101 + '"}', ErrorCode.TEXT_TOO_LONG),
        ('{"type": "message", "id": "a", "text": "' + "x" * 600 + '"}', ErrorCode.FRAME_TOO_LARGE),
        ('{"type": "typing"}', ErrorCode.UNKNOWN_TYPE),
        (
            '{"type": "message", "id": "a", "text": "hi", "customer": {"email": "not-an-address"}}',
            ErrorCode.INVALID_FRAME,
        ),
    ],
)
def test_malformed_frames_are_refused_with_a_clear_code_and_reason(frame, code):
    with pytest.raises(ChatRejected) as caught:
        chat().parse(frame)
    assert caught.value.code == code
    assert caught.value.reason


def test_a_well_formed_frame_is_accepted():
    message = chat().parse('{"type": "message", "id": "c-1", "text": "hello", "language": "zh-Hant"}')
    assert isinstance(message, ChatMessageIn)
    assert message.language is Language.ZH_HANT


def test_a_chat_message_normalises_into_an_intake_event_replying_to_its_conversation():
    message = ChatMessageIn(
        id="c-1", text=" Where is\u202e my order? ", customer={"name": "Li Lei", "email": "LI@Example.com"}
    )
    event = normalise_webchat(
        message,
        conversation_id="wc_abc",
        channel_account="webchat:default",
        received_at=datetime(2026, 1, 1, tzinfo=UTC),
        max_text_chars=100,
        locale="zh-TW",
    )
    assert event.channel is Channel.WEBCHAT
    assert event.conversation_id == "wc_abc"
    assert event.reply_to.address == "wc_abc"
    assert event.text.plain == "Where is my order?"
    assert event.text.original == " Where is\u202e my order? "
    assert event.customer.handle == "li@example.com"
    assert event.customer.display_name == "Li Lei"
    assert event.language_hint is Language.ZH_HANT


def test_resending_the_same_client_message_id_gives_the_same_event_id():
    def event(text: str):
        return normalise_webchat(
            ChatMessageIn(id="c-1", text=text),
            conversation_id="wc_abc",
            channel_account="a",
            received_at=datetime.now(UTC),
            max_text_chars=100,
        )

    assert event("hello").event_id == event("hello").event_id
    other = normalise_webchat(
        ChatMessageIn(id="c-2", text="hello"),
        conversation_id="wc_abc",
        channel_account="a",
        received_at=datetime.now(UTC),
        max_text_chars=100,
    )
    assert other.event_id != event("hello").event_id


class _StuckSocket:
    """A socket whose client stopped reading: sends block until released."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.closed: int | None = None
        self.release = asyncio.Event()

    async def send_text(self, text: str) -> None:
        await self.release.wait()
        self.sent.append(text)

    async def close(self, code: int, reason: str = "") -> None:
        self.closed = code


def _outbound(n: int) -> OutboundItem:
    message = ChatOutbound(
        message_id=f"out-{n}",
        conversation_id="wc_slow",
        kind=AckKind.REPLY,
        text=f"reply {n}",
        case_reference="SB-TST-REF-001",
        sent_at=datetime.now(UTC),
    )
    return OutboundItem(Cursor(0, n), message)


async def test_a_socket_that_cannot_keep_up_is_closed_to_catch_up_instead_of_growing_without_bound():
    relay = OutboundRelay(KafkaSettings(), TopicNames(""))
    subscription = relay.subscribe("wc_slow")
    subscription.queue = asyncio.Queue(2)
    socket = _StuckSocket()
    writer = asyncio.create_task(ChatSocket(None, socket)._forward(subscription, None, None))  # type: ignore[arg-type]
    relay._dispatch(_outbound(1))
    await asyncio.sleep(0.01)  # the writer took message 1 and is stuck sending it
    for n in (2, 3, 4):  # 2 and 3 fill the inbox; 4 overflows it
        relay._dispatch(_outbound(n))
    assert subscription.overflowed.is_set()
    socket.release.set()
    await asyncio.wait_for(writer, 5)
    assert [orjson.loads(text)["message_id"] for text in socket.sent] == ["out-1"]
    assert socket.closed == 4408


async def test_a_socket_that_keeps_up_gets_every_message_in_order():
    relay = OutboundRelay(KafkaSettings(), TopicNames(""))
    subscription = relay.subscribe("wc_slow")
    socket = _StuckSocket()
    socket.release.set()
    writer = asyncio.create_task(ChatSocket(None, socket)._forward(subscription, None, None))  # type: ignore[arg-type]
    for n in range(1, 51):
        relay._dispatch(_outbound(n))
        if n % 10 == 0:
            await asyncio.sleep(0)
    for _ in range(100):
        if len(socket.sent) == 50:
            break
        await asyncio.sleep(0.01)
    writer.cancel()
    await asyncio.gather(writer, return_exceptions=True)
    assert [orjson.loads(text)["message_id"] for text in socket.sent] == [f"out-{n}" for n in range(1, 51)]
    assert socket.closed is None
