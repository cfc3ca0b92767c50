"""A pressed rating button as the satisfaction answer it is. Pure; shared by every chat channel.

The notifier's satisfaction request offers buttons whose value is ``sb-rating:<case>:<score>``
(:func:`switchboard_common.satisfaction.rating_payload`) on every channel that has buttons: the web
chat's actions, Slack block buttons, Telegram inline keyboards, LINE postbacks, WhatsApp interactive
replies, Messenger quick replies and postbacks. Each channel's normaliser builds the press as it
builds a customer message there (the same conversation id, customer and reply target) and hands it,
with the button's value, to :func:`rating_answer`: the one place a press becomes a message of kind
``satisfaction_response``. A value that is not a rating leaves the channel's own behaviour alone.
"""

from __future__ import annotations

from switchboard_common.events.models import IntakeMessage, MessageKind, MessageText, SatisfactionAnswer
from switchboard_common.satisfaction import parse_rating_payload


def rating_text(answer: SatisfactionAnswer) -> str:
    """What the answer says, for people reading the intake topic: ``Rating: 4/5 (case SB-...)``."""
    return f"Rating: {answer.score}/5 (case {answer.case_reference})"


def rating_answer(press: IntakeMessage, value: str | None) -> IntakeMessage | None:
    """``press`` as the customer's satisfaction answer when ``value`` is a rating button's value, else None.

    The conversation, customer, reply target and event id stay those of the press; the text becomes a
    readable rendering of the rating (what the button's label said is kept in ``provider_ids``).
    """
    cleaned = value.strip() if value else None
    answer = parse_rating_payload(cleaned)
    if answer is None or cleaned is None:
        return None
    text = rating_text(answer)
    provider_ids = {**press.provider_ids, "rating_payload": cleaned}
    if press.text.plain and press.text.plain != text:
        provider_ids["button_label"] = press.text.plain[:200]
    return press.model_copy(
        update={
            "kind": MessageKind.SATISFACTION_RESPONSE,
            "satisfaction": answer,
            "text": MessageText(original=text, plain=text, new_content=text),
            "attachments": [],
            "provider_ids": provider_ids,
        }
    )
