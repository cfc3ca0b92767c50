"""Satisfaction requests and answers: what to offer on each channel, who can answer, what an answer is. Pure.

A request goes out after a case's "resolved" update: buttons carrying ``sb-rating:<case>:<n>`` where
the channel has buttons, a signed link per score for email, and "reply with a number" where the channel
has text only. A customer who cannot answer (no reply target, an automated sender, a withheld phone
number) gets none, and the record says why.

An answer is either explicit (a button or link: the intake set ``IntakeMessage.satisfaction``) or a
message that is nothing but a rating ("4", "★★★★", "四星"), which counts only where a request is
waiting in that conversation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

from switchboard_common.events.models import Channel, IntakeMessage, MessageKind
from switchboard_common.satisfaction import RatingLink, rating_in_text, rating_payload, sign_rating_link
from switchboard_notifier.channels import NotificationAction

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
RATING_PATH = "/v1/email/rating/"


class SurveyStyle(StrEnum):
    """How a channel lets the customer answer."""

    BUTTONS = "buttons"
    LINKS = "links"
    TEXT = "text"


STYLES: dict[Channel, SurveyStyle] = {
    Channel.WEBCHAT: SurveyStyle.BUTTONS,
    Channel.SLACK: SurveyStyle.BUTTONS,
    Channel.TELEGRAM: SurveyStyle.BUTTONS,
    Channel.LINE: SurveyStyle.BUTTONS,
    Channel.WHATSAPP: SurveyStyle.BUTTONS,
    Channel.MESSENGER: SurveyStyle.BUTTONS,
    Channel.EMAIL: SurveyStyle.LINKS,
    Channel.SMS: SurveyStyle.TEXT,
    Channel.PHONE: SurveyStyle.TEXT,
    Channel.WECHAT: SurveyStyle.TEXT,
    Channel.WECOM: SurveyStyle.TEXT,
}

TEMPLATE_KEYS = {
    SurveyStyle.BUTTONS: "survey_buttons",
    SurveyStyle.LINKS: "survey_links",
    SurveyStyle.TEXT: "survey_text",
}


class NoSurvey(StrEnum):
    """Why a resolved case's customer gets no satisfaction request."""

    AUTOMATED = "automated_sender"
    NO_SENDER = "no_sender_for_channel"
    NO_REPLY_TARGET = "no_reply_target"
    CANNOT_ANSWER = "customer_cannot_answer"
    LINKS_NOT_CONFIGURED = "rating_links_not_configured"
    ALREADY_SURVEYED = "already_surveyed"
    RESOLUTION_NOT_DELIVERED = "resolution_not_delivered"


def survey_style(channel: Channel) -> SurveyStyle:
    return STYLES[channel]


def no_survey(origin: IntakeMessage, *, has_sender: bool, links_configured: bool) -> NoSurvey | None:
    """Why the customer who opened this case cannot be asked for a rating, or None when they can."""
    target = origin.reply_to
    if origin.automated is not None:
        return NoSurvey.AUTOMATED
    if not has_sender:
        return NoSurvey.NO_SENDER
    if not target.address.strip():
        return NoSurvey.NO_REPLY_TARGET
    if target.channel in (Channel.SMS, Channel.PHONE) and not E164.match(target.address):
        return NoSurvey.CANNOT_ANSWER  # a withheld number: a voice call we cannot text back
    if survey_style(target.channel) is SurveyStyle.LINKS and not links_configured:
        return NoSurvey.LINKS_NOT_CONFIGURED
    return None


def survey_actions(
    style: SurveyStyle,
    case_reference: str,
    labels: list[str],
    *,
    conversation_id: str,
    links: tuple[bytes, str] | None,
    expires_at: datetime,
) -> tuple[NotificationAction, ...]:
    """The five choices: button values for buttons, signed links for email, none for text-only channels."""
    if style is SurveyStyle.TEXT:
        return ()
    actions = []
    for score, label in enumerate(labels, start=1):
        url = None
        if style is SurveyStyle.LINKS:
            if links is None:
                raise ValueError("email rating links need the secret and the base URL")
            secret, base_url = links
            token = sign_rating_link(
                secret, RatingLink(case_reference, conversation_id, score, int(expires_at.timestamp()))
            )
            url = f"{base_url}{RATING_PATH}{token}"
        actions.append(NotificationAction(label=label, value=rating_payload(case_reference, score), url=url))
    return tuple(actions)


@dataclass(frozen=True, slots=True)
class Answer:
    """A customer's rating, as recognised in one of their messages."""

    score: int
    via: Literal["button", "link", "text"]
    case_reference: str | None
    """The case the button or link named; None for a typed rating (it answers the latest request)."""


def recognise_answer(message: IntakeMessage) -> Answer | None:
    """The rating a message carries: explicit (a button or link answer) or typed ("4", "★★★★"); else None.

    A typed rating is only a candidate: it counts where a request is waiting in the conversation.
    """
    if message.automated is not None:
        return None
    answer = message.satisfaction
    if answer is not None:
        return Answer(answer.score, answer.via, answer.case_reference)
    if message.kind is not MessageKind.MESSAGE or message.attachments:
        return None
    score = rating_in_text(message.text.new_content)
    return Answer(score, "text", None) if score is not None else None
