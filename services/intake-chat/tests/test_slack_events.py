"""Slack Events API: request verification and normalisation (pure)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from switchboard_common.events.models import Channel, IntakeMessage
from switchboard_common.identity import conversation_key
from switchboard_devenv.chat_payloads import slack_message_event, slack_request
from switchboard_intake_chat.providers.normalised import Ignored, IgnoreReason
from switchboard_intake_chat.providers.slack import (
    Malformed,
    SlackSettings,
    UrlVerification,
    normalise_slack_payload,
    parse_slack_body,
    slack_plain_text,
    verify_slack_request,
)

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
NOW = 1_700_000_000
SETTINGS = SlackSettings(signing_secret=SecretStr(SECRET))
RECEIVED = datetime(2024, 1, 1, tzinfo=UTC)


def normalise(payload: dict) -> list:
    result = normalise_slack_payload(payload, received_at=RECEIVED, settings=SETTINGS)
    assert isinstance(result, list)
    return result


def dm(text: str = "My order A123-4567 has not arrived", **kwargs) -> dict:
    fields = {"team": "T0CUSTOMER", "channel": "D024BE91L", "user": "U2147483697", "ts": "1700000000.000100"}
    return slack_message_event(**{**fields, **kwargs, "text": text})


# -- verification ------------------------------------------------------------------------------


def test_a_request_signed_as_slack_signs_it_is_accepted():
    body, headers = slack_request(SECRET, dm(), timestamp=NOW)
    assert (
        verify_slack_request(SECRET, body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"], NOW)
        is None
    )


def test_slacks_published_example_signature_verifies():
    # The example in Slack's "Verifying requests from Slack" guide.
    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
        b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
        b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
        b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    signature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    assert verify_slack_request(SECRET, body, "1531420618", signature, 1531420618 + 10) is None


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ("body", "bad_signature"),
        ("secret", "bad_signature"),
        ("no_signature", "missing_signature"),
        ("old", "stale_timestamp"),
        ("future", "stale_timestamp"),
        ("not_a_number", "bad_timestamp"),
    ],
)
def test_a_request_not_signed_by_slack_or_replayed_is_rejected_with_a_reason(change, code):
    timestamp = {"old": NOW - 301, "future": NOW + 301}.get(change, NOW)
    body, headers = slack_request("another-secret" if change == "secret" else SECRET, dm(), timestamp=timestamp)
    signature = None if change == "no_signature" else headers["X-Slack-Signature"]
    ts = "12ab" if change == "not_a_number" else headers["X-Slack-Request-Timestamp"]
    if change == "body":
        body = body.replace(b"arrived", b"ARRIVED")
    rejection = verify_slack_request(SECRET, body, ts, signature, NOW)
    assert rejection is not None and rejection.code == code and rejection.reason


def test_the_replay_window_is_five_minutes_either_way():
    body, headers = slack_request(SECRET, dm(), timestamp=NOW - 300)
    assert (
        verify_slack_request(SECRET, body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"], NOW)
        is None
    )


# -- parsing -----------------------------------------------------------------------------------


def test_url_verification_is_answered_with_its_challenge():
    payload = {
        "token": "t",
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
        "type": "url_verification",
    }
    assert normalise_slack_payload(payload, received_at=RECEIVED, settings=SETTINGS) == UrlVerification(
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    )


def test_interactivity_and_slash_command_forms_are_parsed_and_recorded_not_published():
    interactive = parse_slack_body(
        b"payload=%7B%22type%22%3A%22block_actions%22%7D", "application/x-www-form-urlencoded"
    )
    command = parse_slack_body(b"command=%2Fsupport&text=help", "application/x-www-form-urlencoded")
    assert interactive == {"type": "block_actions"}
    assert isinstance(command, dict) and command["type"] == "slash_command"
    [pressed_nothing] = normalise(interactive)
    assert isinstance(pressed_nothing, Ignored) and pressed_nothing.reason is IgnoreReason.INCOMPLETE
    [slash] = normalise(command)
    assert isinstance(slash, Ignored) and slash.reason is IgnoreReason.NOT_CUSTOMER_CONTENT
    assert slash.kind == "slash_command"


def test_a_body_that_is_not_json_is_malformed():
    assert isinstance(parse_slack_body(b"{nope", "application/json"), Malformed)
    assert isinstance(parse_slack_body(b"[1, 2]", "application/json"), Malformed)


# -- messages ----------------------------------------------------------------------------------


def test_a_direct_message_becomes_a_message_in_a_conversation_named_by_its_thread():
    [message] = normalise(dm())
    assert isinstance(message, IntakeMessage)
    assert message.channel is Channel.SLACK
    assert message.text.plain == "My order A123-4567 has not arrived"
    assert message.customer.handle == "U2147483697"
    assert message.conversation_id == conversation_key("slack", "T0CUSTOMER", "D024BE91L", "1700000000.000100")
    assert message.reply_to.address == "D024BE91L"
    assert message.reply_to.thread == "1700000000.000100"
    assert message.reply_to.account == "T0CUSTOMER"
    assert message.sent_at == datetime.fromtimestamp(1700000000.0001, UTC)
    assert message.provider_ids["event_id"] == "Ev1700000000000100"


def test_a_reply_in_a_thread_belongs_to_the_threads_conversation_and_is_answered_there():
    [root] = normalise(dm(ts="1700000000.000100"))
    [reply] = normalise(dm(ts="1700000050.000200", thread_ts="1700000000.000100", text="any news?"))
    assert reply.conversation_id == root.conversation_id
    assert reply.reply_to.thread == "1700000000.000100"
    assert reply.event_id != root.event_id


def test_the_message_and_app_mention_events_of_one_channel_message_have_one_event_id():
    common = {"channel": "C0SUPPORT", "channel_type": "channel", "text": "<@U0SUPPORTBOT> my parcel is late"}
    [message] = normalise(dm(event_id="Ev1", **common))
    mention_fields = {k: v for k, v in common.items() if k != "channel_type"}
    [mention] = normalise(dm(event_id="Ev2", event_type="app_mention", **mention_fields))
    assert message.event_id == mention.event_id
    assert mention.text.plain == "my parcel is late"


def test_slack_markup_becomes_plain_text():
    text = "Hi <@U0SUPPORTBOT>, see <https://example.com/o/1|order 1> in <#C123|orders> &amp; ping <@U999> &lt;asap&gt;"
    assert slack_plain_text(text, {"U0SUPPORTBOT"}) == "Hi , see order 1 in #orders & ping @U999 <asap>"


def test_files_shared_in_a_message_become_attachment_metadata():
    files = [
        {
            "id": "F1",
            "name": "receipt.pdf",
            "mimetype": "application/pdf",
            "size": 20480,
            "url_private": "https://files.slack.com/F1",
        },
        {"id": "F2", "title": "screenshot", "mimetype": "image/png"},
    ]
    [message] = normalise(dm("see attached", extra={"subtype": "file_share", "files": files}))
    assert [(a.filename, a.content_type, a.size_bytes, a.url) for a in message.attachments] == [
        ("receipt.pdf", "application/pdf", 20480, "https://files.slack.com/F1"),
        ("screenshot", "image/png", None, None),
    ]


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"bot_id": "B0OTHER", "subtype": "bot_message"}, IgnoreReason.BOT),
        ({"bot_id": "B0OTHER"}, IgnoreReason.BOT),
        ({"app_id": "A0SWITCHBD", "bot_id": "B0OURS"}, IgnoreReason.OWN_MESSAGE),
        ({"user": "U0SUPPORTBOT"}, IgnoreReason.OWN_MESSAGE),
        ({"subtype": "message_changed"}, IgnoreReason.EDIT),
        ({"subtype": "message_deleted"}, IgnoreReason.DELETION),
        ({"subtype": "channel_join"}, IgnoreReason.NOT_CUSTOMER_CONTENT),
        ({"subtype": "channel_topic"}, IgnoreReason.NOT_CUSTOMER_CONTENT),
        ({"user": ""}, IgnoreReason.INCOMPLETE),
    ],
)
def test_bots_the_apps_own_messages_and_non_customer_subtypes_are_recorded_not_published(extra, reason):
    [outcome] = normalise(dm(extra=extra))
    assert isinstance(outcome, Ignored)
    assert outcome.reason is reason


def test_in_a_channel_shared_with_customers_the_companys_own_staff_are_not_customers():
    staff = dm(channel="C0SHARED", extra={"user_team": "T0CUSTOMER"})
    customer = dm(channel="C0SHARED", extra={"user_team": "T0OTHERORG"})
    for payload in (staff, customer):
        payload["is_ext_shared_channel"] = True
    [staff_outcome] = normalise(staff)
    [customer_outcome] = normalise(customer)
    assert isinstance(staff_outcome, Ignored) and staff_outcome.reason is IgnoreReason.STAFF
    assert isinstance(customer_outcome, IntakeMessage)
    assert customer_outcome.provider_ids["user_team"] == "T0OTHERORG"


def test_events_other_than_messages_are_recorded():
    payload = dm()
    payload["event"] = {"type": "reaction_added", "user": "U1", "reaction": "thumbsup"}
    [outcome] = normalise(payload)
    assert isinstance(outcome, Ignored) and outcome.kind == "event_callback/reaction_added"


def test_an_unknown_envelope_type_is_recorded_as_unknown():
    [outcome] = normalise({"type": "something_new", "team_id": "T1"})
    assert isinstance(outcome, Ignored) and outcome.reason is IgnoreReason.UNKNOWN_TYPE


# -- the corpus (Slack's schema-superset samples: every field present, values blanked) ---------


def slack_samples(corpus_dir: Path) -> list[Path]:
    return sorted((corpus_dir / "webhooks" / "slack_events_java-slack-sdk").rglob("*.json"))


def test_every_corpus_payload_is_normalised_or_recorded_without_error(corpus_dir):
    samples = slack_samples(corpus_dir)
    assert len(samples) > 90
    for path in samples:
        payload = json.loads(path.read_text())
        if "event" in payload:
            payload["type"] = "event_callback"  # blanked in the samples
        outcomes = normalise_slack_payload(payload, received_at=RECEIVED, settings=SETTINGS)
        assert isinstance(outcomes, list) and len(outcomes) == 1, path.name
        assert isinstance(outcomes[0], Ignored | IntakeMessage), path.name


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("MessagePayload.json", "message"),
        ("AppMentionPayload.json", "message"),
        ("MessageFileSharePayload.json", "message"),
        ("MessageThreadBroadcastPayload.json", "message"),
        ("MessageMePayload.json", "message"),
        ("MessageBotPayload.json", IgnoreReason.BOT),
        ("MessageChangedPayload.json", IgnoreReason.EDIT),
        ("MessageChannelJoinPayload.json", IgnoreReason.NOT_CUSTOMER_CONTENT),
        ("MessageDeletedPayload.json", IgnoreReason.DELETION),
    ],
)
def test_corpus_message_samples_with_their_ids_filled_in(corpus_dir, sample, expected):
    payload = json.loads((corpus_dir / "webhooks" / "slack_events_java-slack-sdk" / "events" / sample).read_text())
    filled = copy.deepcopy(payload)
    filled.update(type="event_callback", team_id="T0CUSTOMER", event_id="Ev1", api_app_id="A0SWITCHBD")
    filled["authorizations"] = [{"user_id": "U0SUPPORTBOT", "is_bot": True}]
    event = filled["event"]
    event.update(channel="C0SUPPORT", ts="1700000000.000100", text="Where is my order?", user="U2147483697")
    for blank in ("team", "thread_ts", "app_id"):
        event.pop(blank, None)
    if event.get("subtype") != "bot_message":
        event.pop("bot_id", None)
    for file in event.get("files", []):
        file.update(name="photo.jpg", mimetype="image/jpeg", size=1234)
    [outcome] = normalise(filled)
    if expected == "message":
        assert isinstance(outcome, IntakeMessage), outcome
        assert outcome.text.plain == "Where is my order?"
        assert outcome.conversation_id == conversation_key("slack", "T0CUSTOMER", "C0SUPPORT", "1700000000.000100")
        if sample == "MessageFileSharePayload.json":
            assert outcome.attachments and outcome.attachments[0].filename == "photo.jpg"
    else:
        assert isinstance(outcome, Ignored) and outcome.reason is expected
