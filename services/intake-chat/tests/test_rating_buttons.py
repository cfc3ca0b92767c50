"""Rating buttons pressed on every chat channel become satisfaction answers in the customer's conversation (pure).

For each channel the press is compared with a customer message on the same channel: the answer
must carry the same conversation id (that is how the notifier finds the outstanding survey), and a
button whose value is not a rating keeps the channel's previous behaviour.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from switchboard_common.case_reference import case_reference
from switchboard_common.events.models import (
    Channel,
    IntakeMessage,
    IntakePosition,
    MessageKind,
    SatisfactionAnswer,
)
from switchboard_common.satisfaction import rating_payload
from switchboard_devenv.chat_payloads import (
    messenger_postback,
    messenger_quick_reply,
    messenger_text,
    slack_block_actions,
    slack_message_event,
    telegram_callback_query_update,
    telegram_text_update,
    whatsapp_interactive_reply,
    whatsapp_text,
)
from switchboard_devenv.line_standin import postback_event, text_event
from switchboard_intake_chat.providers.line import LineSettings, normalise_event
from switchboard_intake_chat.providers.meta import normalise_meta_payload
from switchboard_intake_chat.providers.normalised import Ignored, IgnoreReason
from switchboard_intake_chat.providers.slack import SlackSettings, normalise_slack_payload
from switchboard_intake_chat.providers.telegram import normalise_telegram_update
from switchboard_intake_chat.ratings import rating_answer
from switchboard_intake_chat.settings import WebChatSettings
from switchboard_intake_chat.webchat.normalise import normalise_webchat, normalise_webchat_action
from switchboard_intake_chat.webchat.protocol import ChatActionIn, ChatMessageIn, ErrorCode
from switchboard_intake_chat.webchat.routes import ChatRejected, WebChat

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
CASE = case_reference(IntakePosition(partition=3, offset=1234))
OTHER_CASE = case_reference(IntakePosition(partition=0, offset=7))
SLACK = SlackSettings(signing_secret=SecretStr("s"))
LINE = LineSettings(channel_secret=SecretStr("line-secret"))


def is_answer(outcome: object, score: int, case: str = CASE) -> IntakeMessage:
    assert isinstance(outcome, IntakeMessage), outcome
    assert outcome.kind is MessageKind.SATISFACTION_RESPONSE
    assert outcome.satisfaction == SatisfactionAnswer(case_reference=case, score=score, via="button")
    assert outcome.text.plain == f"Rating: {score}/5 (case {case})"
    assert outcome.provider_ids["rating_payload"] == rating_payload(case, score)
    return outcome


# -- the one conversion ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "4",
        "sb-rating",
        f"sb-rating:{CASE}",
        f"sb-rating:{CASE}:0",
        f"sb-rating:{CASE}:6",
        f"sb-rating:{CASE}:four",
        f"sb-rating:{CASE[:-1]}X:4",  # the check symbol catches a changed reference
        "sb-rating:SB-NOT-A-REF:4",
        f"other:{CASE}:4",
        "action=buyItem&itemId=123123&color=red",
    ],
)
def test_a_value_that_is_not_a_rating_button_is_no_answer(value):
    press = normalise_webchat(
        ChatMessageIn(id="m1", text="x"),
        conversation_id="wc_1",
        channel_account="webchat:default",
        received_at=NOW,
        max_text_chars=100,
    )
    assert rating_answer(press, value) is None


def test_a_reference_typed_in_lower_case_is_answered_under_its_canonical_form():
    press = normalise_webchat(
        ChatMessageIn(id="m1", text="★★"),
        conversation_id="wc_1",
        channel_account="webchat:default",
        received_at=NOW,
        max_text_chars=100,
    )
    answer = rating_answer(press, f"sb-rating:{CASE.lower()}:2")
    assert answer is not None and answer.satisfaction is not None
    assert answer.satisfaction.case_reference == CASE
    assert answer.provider_ids["button_label"] == "★★"
    assert answer.event_id == press.event_id and answer.conversation_id == press.conversation_id


# -- web chat ----------------------------------------------------------------------------------


def test_a_web_chat_action_is_an_answer_in_the_session_conversation_with_its_own_event_id():
    kwargs = {"conversation_id": "wc_abc", "channel_account": "webchat:default", "received_at": NOW}
    answer = is_answer(
        normalise_webchat_action(ChatActionIn(id="a1", value=rating_payload(CASE, 5)), **kwargs, locale="zh-TW"), 5
    )
    message = normalise_webchat(ChatMessageIn(id="a1", text="hello"), **kwargs, max_text_chars=100)
    assert answer.conversation_id == message.conversation_id == "wc_abc"
    assert answer.reply_to == message.reply_to
    assert answer.event_id != message.event_id  # an action id and a message id never collide
    again = normalise_webchat_action(ChatActionIn(id="a1", value=rating_payload(CASE, 5)), **kwargs)
    assert again is not None and again.event_id == answer.event_id
    assert normalise_webchat_action(ChatActionIn(id="a2", value="sb-rating:nope:5"), **kwargs) is None


# -- Slack -------------------------------------------------------------------------------------


def test_a_slack_rating_button_in_the_customer_thread_answers_in_that_thread_conversation():
    customer = normalise_slack_payload(
        slack_message_event(team="T1", channel="D1", user="U7", text="refund?", ts="1700000000.000100", thread_ts=None),
        received_at=NOW,
        settings=SLACK,
    )
    [message] = customer
    assert isinstance(message, IntakeMessage)
    payload = slack_block_actions(
        team="T1",
        channel="D1",
        user="U7",
        value=rating_payload(CASE, 4),
        message_ts="1700000999.000200",  # the survey, posted into the thread
        thread_ts="1700000000.000100",
        label="★★★★",
        action_ts="1700001000.123456",
    )
    [outcome] = normalise_slack_payload(payload, received_at=NOW, settings=SLACK)
    answer = is_answer(outcome, 4)
    assert answer.channel is Channel.SLACK and answer.channel_account == message.channel_account
    assert answer.conversation_id == message.conversation_id
    assert answer.customer.key == message.customer.key
    assert (answer.reply_to.address, answer.reply_to.thread) == ("D1", "1700000000.000100")
    assert answer.provider_ids["button_label"] == "★★★★"
    pressed_again = normalise_slack_payload(payload, received_at=NOW, settings=SLACK)[0]
    assert isinstance(pressed_again, IntakeMessage) and pressed_again.event_id == answer.event_id


def test_slack_buttons_that_are_not_ratings_and_other_interactions_are_recorded():
    payload = slack_block_actions(
        team="T1", channel="D1", user="U7", value="approve_request", message_ts="1.2", thread_ts="1.1"
    )
    [outcome] = normalise_slack_payload(payload, received_at=NOW, settings=SLACK)
    assert isinstance(outcome, Ignored) and outcome.reason is IgnoreReason.NOT_CUSTOMER_CONTENT
    [view] = normalise_slack_payload({"type": "view_submission", "team": {"id": "T1"}}, received_at=NOW, settings=SLACK)
    assert isinstance(view, Ignored) and view.reason is IgnoreReason.NOT_CUSTOMER_CONTENT


def test_a_slack_rating_from_a_modal_has_no_conversation_and_is_recorded_as_incomplete():
    payload = slack_block_actions(
        team="T1", channel="D1", user="U7", value=rating_payload(CASE, 3), message_ts="1.2", thread_ts="1.1"
    )
    payload["container"] = {"type": "view", "view_id": "V1"}
    del payload["channel"], payload["message"]
    [outcome] = normalise_slack_payload(payload, received_at=NOW, settings=SLACK)
    assert isinstance(outcome, Ignored) and outcome.reason is IgnoreReason.INCOMPLETE


def test_the_corpus_block_actions_payload_is_recorded_not_published(corpus_dir: Path):
    path = (
        corpus_dir / "webhooks/slack_events_java-slack-sdk/app-backend/interactive-components/BlockActionPayload.json"
    )
    if not path.exists():
        pytest.skip(f"{path} is not in the corpus")
    sample = json.loads(path.read_text())
    outcomes = normalise_slack_payload(sample, received_at=NOW, settings=SLACK)
    assert outcomes and all(isinstance(o, Ignored) for o in outcomes)
    # The same payload with the real shape's values filled in and a rating button pressed is an answer.
    pressed = copy.deepcopy(sample)
    pressed["team"]["id"] = pressed["user"]["team_id"] = "T1"
    pressed["user"]["id"] = "U7"
    pressed["channel"]["id"] = pressed["container"]["channel_id"] = "C1"
    pressed["container"].update(type="message", message_ts="1700000999.000200", thread_ts="1700000000.000100")
    pressed["message"].update(ts="1700000999.000200", thread_ts="1700000000.000100")
    pressed["actions"][0].update(value=rating_payload(CASE, 2), action_ts="1700001000.5", type="button")
    [answer] = normalise_slack_payload(pressed, received_at=NOW, settings=SLACK)
    customer = normalise_slack_payload(
        slack_message_event(
            team="T1", channel="C1", user="U7", text="hi", ts="1700000001.0", thread_ts="1700000000.000100"
        ),
        received_at=NOW,
        settings=SLACK,
    )[0]
    assert is_answer(answer, 2).conversation_id == customer.conversation_id


# -- Telegram ----------------------------------------------------------------------------------


def telegram(update: dict):
    return normalise_telegram_update(update, account="supportbot", received_at=NOW, max_text_chars=4000)


def test_a_telegram_inline_button_press_answers_in_the_chat_conversation():
    message = telegram(telegram_text_update(update_id=1, chat_id=777, message_id=5, text="where is my parcel"))
    update = telegram_callback_query_update(
        update_id=2, query_id="4382bfdwdsb323b2d9", chat_id=777, message_id=9, data=rating_payload(CASE, 5)
    )
    answer = is_answer(telegram(update), 5)
    assert answer.conversation_id == message.conversation_id
    assert answer.customer.key == message.customer.key
    assert answer.reply_to.address == "777" and answer.reply_to.thread == "9"
    assert answer.provider_ids["callback_query_id"] == "4382bfdwdsb323b2d9"
    assert telegram(update).event_id == answer.event_id  # a redelivered update is the same event


def test_a_telegram_button_that_is_not_a_rating_is_still_recorded_and_not_published():
    update = telegram_callback_query_update(update_id=2, query_id="q", chat_id=777, message_id=9, data="menu:main")
    outcome = telegram(update)
    assert isinstance(outcome, Ignored) and outcome.reason is IgnoreReason.NOT_CUSTOMER_CONTENT
    assert outcome.kind == "callback_query"
    inline = telegram_callback_query_update(
        update_id=3, query_id="q2", chat_id=1, message_id=1, data=rating_payload(CASE, 1)
    )
    del inline["callback_query"]["message"]  # a button of an inline-mode message: no chat to answer in
    inline["callback_query"]["inline_message_id"] = "AAAA"
    incomplete = telegram(inline)
    assert isinstance(incomplete, Ignored) and incomplete.reason is IgnoreReason.INCOMPLETE


def test_corpus_telegram_objects_pressing_a_rating_button(corpus_dir: Path):
    path = corpus_dir / "webhooks" / "telegram_bot_api_aiogram" / "dataset_objects.json"
    if not path.exists():
        pytest.skip(f"{path} is not in the corpus")
    objects = json.loads(path.read_text())
    customer = telegram({"update_id": 1, "message": objects["MESSAGE"]})
    update = {
        "update_id": 2,
        "callback_query": {
            "id": "1234567890",
            "from": objects["USER"],
            "message": objects["MESSAGE"],
            "chat_instance": "-42",
            "data": rating_payload(CASE, 3),
        },
    }
    answer = is_answer(telegram(update), 3)
    assert answer.conversation_id == customer.conversation_id
    assert answer.customer.display_name == "FirstName LastName"


# -- LINE --------------------------------------------------------------------------------------


def test_a_line_postback_rating_answers_in_the_user_conversation_with_its_reply_token():
    message = normalise_event("Ubot", text_event("包裹還沒到", user_id="Ucustomer"), LINE, NOW)
    event = postback_event(rating_payload(CASE, 4), user_id="Ucustomer", reply_token="rt-9", webhook_event_id="01PB")
    answer = is_answer(normalise_event("Ubot", event, LINE, NOW), 4)
    assert isinstance(message, IntakeMessage)
    assert answer.conversation_id == message.conversation_id
    assert answer.reply_to.address == "Ucustomer" and answer.reply_to.metadata["reply_token"] == "rt-9"
    assert answer.provider_ids["webhook_event_id"] == "01PB"
    assert normalise_event("Ubot", event, LINE, NOW).event_id == answer.event_id


def test_line_postbacks_that_are_not_ratings_are_recorded_as_before(corpus_dir: Path):
    path = corpus_dir / "webhooks" / "line_messaging_api" / "webhook_v3.json"
    if not path.exists():
        pytest.skip(f"{path} is not in the corpus")
    postbacks = [e for e in json.loads(path.read_text())["events"] if e.get("type") == "postback"]
    assert postbacks, "the corpus has LINE postback events"
    for event in postbacks:
        outcome = normalise_event("Ubot", event, LINE, NOW)
        assert isinstance(outcome, Ignored) and outcome.reason is IgnoreReason.PLATFORM_NOTICE
        rated = {**event, "postback": {**event["postback"], "data": rating_payload(CASE, 1)}}
        is_answer(normalise_event("Ubot", rated, LINE, NOW), 1)


def test_a_line_rating_in_standby_mode_is_left_to_the_active_module():
    event = {**postback_event(rating_payload(CASE, 4), user_id="U1"), "mode": "standby"}
    outcome = normalise_event("Ubot", event, LINE, NOW)
    assert isinstance(outcome, Ignored) and outcome.reason is IgnoreReason.STANDBY


# -- WhatsApp ----------------------------------------------------------------------------------


def meta(payload: dict) -> list:
    return normalise_meta_payload(payload, expected_object=None, received_at=NOW, max_text_chars=4000)


@pytest.mark.parametrize("kind", ["button_reply", "list_reply"])
def test_a_whatsapp_interactive_rating_answers_in_the_number_conversation(kind):
    [message] = meta(whatsapp_text(phone_number_id="1122", wa_id="8613800138000", text="hi", message_id="wamid.1"))
    payload = whatsapp_interactive_reply(
        phone_number_id="1122",
        wa_id="8613800138000",
        reply_id=rating_payload(CASE, 2),
        title="★★",
        message_id="wamid.2",
        kind=kind,
    )
    [outcome] = meta(payload)
    answer = is_answer(outcome, 2)
    assert answer.conversation_id == message.conversation_id
    assert answer.reply_to.address == "8613800138000" and answer.reply_to.account == "1122"
    assert answer.provider_ids["reply_kind"] == kind


def test_corpus_whatsapp_button_replies_stay_messages_unless_they_carry_a_rating(corpus_dir: Path):
    folder = corpus_dir / "webhooks" / "whatsapp_cloud_api_pywa" / "updates"
    if not folder.is_dir():
        pytest.skip(f"{folder} is not in the corpus")
    samples = [
        *json.loads((folder / "callback_button.json").read_text()).values(),
        *json.loads((folder / "callback_selection.json").read_text()).values(),
    ]
    for sample in samples:
        [as_is] = meta(sample)
        assert isinstance(as_is, IntakeMessage) and as_is.kind is MessageKind.MESSAGE
        assert as_is.provider_ids["reply_id"] == "callback_data"
        rated = copy.deepcopy(sample)
        message = rated["entry"][0]["changes"][0]["value"]["messages"][0]
        if message["type"] == "button":  # a template's quick-reply button: its payload
            message["button"]["payload"] = rating_payload(OTHER_CASE, 5)
        else:
            kind = message["interactive"]["type"]
            message["interactive"][kind]["id"] = rating_payload(OTHER_CASE, 5)
        [answer] = meta(rated)
        assert is_answer(answer, 5, OTHER_CASE).conversation_id == as_is.conversation_id


# -- Messenger ---------------------------------------------------------------------------------


def test_messenger_quick_replies_and_postbacks_with_a_rating_answer_in_the_page_conversation():
    [message] = meta(messenger_text(page_id="P1", psid="S1", text="hello", mid="m_1"))
    [quick] = meta(
        messenger_quick_reply(page_id="P1", psid="S1", mid="m_2", text="★★★", payload=rating_payload(CASE, 3))
    )
    [postback] = meta(messenger_postback(page_id="P1", psid="S1", title="", payload=rating_payload(CASE, 1)))
    for answer, score in ((quick, 3), (postback, 1)):
        assert is_answer(answer, score).conversation_id == message.conversation_id
        assert answer.reply_to.address == "S1" and answer.reply_to.account == "P1"
    assert quick.provider_ids["reply_kind"] == "quick_reply" and postback.provider_ids["reply_kind"] == "postback"


def test_messenger_postbacks_and_quick_replies_that_are_not_ratings_behave_as_before():
    [untitled] = meta(messenger_postback(page_id="P1", psid="S1", title="", payload="GET_STARTED"))
    assert isinstance(untitled, Ignored) and untitled.reason is IgnoreReason.NOT_CUSTOMER_CONTENT
    [titled] = meta(messenger_postback(page_id="P1", psid="S1", title="Get started", payload="GET_STARTED"))
    assert isinstance(titled, IntakeMessage) and titled.kind is MessageKind.MESSAGE
    assert titled.text.plain == "Get started"
    [quick] = meta(messenger_quick_reply(page_id="P1", psid="S1", mid="m_3", text="Orders", payload="MENU_ORDERS"))
    assert isinstance(quick, IntakeMessage) and quick.kind is MessageKind.MESSAGE and quick.satisfaction is None


# -- the web chat's action frames --------------------------------------------------------------


def webchat() -> WebChat:
    settings = WebChatSettings(session_secret=SecretStr("s"), max_frame_bytes=512, max_text_chars=100)
    return WebChat(settings, publisher=None, relay=None)  # type: ignore[arg-type]  (parse needs neither)


def test_an_action_frame_parses_to_the_pressed_value():
    frame = webchat().parse(json.dumps({"type": "action", "id": "act-1", "value": rating_payload(CASE, 4)}))
    assert frame == ChatActionIn(id="act-1", value=rating_payload(CASE, 4))


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "action", "id": "act-1"},
        {"type": "action", "id": "act 1", "value": "x"},
        {"type": "action", "id": "act-1", "value": ""},
        {"type": "action", "id": "act-1", "value": "x" * 201},
        {"type": "action", "id": "act-1", "value": "x", "text": "extra"},
        {"type": "action", "id": "act-1", "value": 4},
    ],
)
def test_malformed_action_frames_are_rejected_with_a_reason(frame):
    with pytest.raises(ChatRejected) as rejected:
        webchat().parse(json.dumps(frame))
    assert rejected.value.code == ErrorCode.INVALID_FRAME and rejected.value.status == 422
    assert rejected.value.reason
