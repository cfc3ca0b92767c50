"""Satisfaction requests and answers: the shared formats.

* A button (chat, Slack, Telegram, LINE, WhatsApp, Messenger) carries ``sb-rating:<case ref>:<score>``
  back to the intake, which publishes the message with :class:`SatisfactionAnswer` set.
* An email carries five links, each a signed token naming the case, the conversation and the score;
  the link's endpoint verifies it and publishes the answer the same way.
* A rating typed as text ("4", "４", "★★★★", "4分", "四星") is recognised by :func:`rating_in_text`;
  the notifier applies it only where a satisfaction request is waiting in the conversation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import unicodedata
from dataclasses import dataclass

import orjson

from switchboard_common.case_reference import InvalidCaseReference, normalise_case_reference
from switchboard_common.events.models import SatisfactionAnswer

PAYLOAD_PREFIX = "sb-rating"
SCORES = range(1, 6)

_CHINESE_DIGITS = {"一": 1, "二": 2, "两": 2, "兩": 2, "三": 3, "四": 4, "五": 5}
_RATING_TEXT = re.compile(
    r"""^\s*(?:
        (?P<digit>[1-5])\s*(?:/\s*5|分|星|颗星|顆星|stars?|points?|out\s+of\s+5)?
      | (?P<chinese>[一二两兩三四五])\s*(?:分|星|颗星|顆星)
      | (?P<stars>[*★⭐☆]{1,5})
    )\s*[.!。！]*\s*$""",
    re.VERBOSE | re.IGNORECASE,
)


def rating_payload(case_reference: str, score: int) -> str:
    """The value a rating button carries."""
    if score not in SCORES:
        raise ValueError("a rating is 1 to 5")
    return f"{PAYLOAD_PREFIX}:{case_reference}:{score}"


def parse_rating_payload(value: str | None) -> SatisfactionAnswer | None:
    """The answer a button value carries, or None when the value is not a (valid) rating button."""
    if not value or not value.startswith(PAYLOAD_PREFIX + ":"):
        return None
    _, _, rest = value.partition(":")
    reference, _, score = rest.rpartition(":")
    if not score.isdigit() or int(score) not in SCORES:
        return None
    try:
        canonical = normalise_case_reference(reference)
    except InvalidCaseReference:
        return None
    return SatisfactionAnswer(case_reference=canonical, score=int(score), via="button")


def rating_in_text(text: str) -> int | None:
    """The score when a message is nothing but a rating (1-5 in digits, stars or Chinese), else None."""
    normalised = unicodedata.normalize("NFKC", text or "")
    if len(normalised) > 24:
        return None
    match = _RATING_TEXT.match(normalised)
    if match is None:
        return None
    if match.group("digit"):
        return int(match.group("digit"))
    if match.group("chinese"):
        return _CHINESE_DIGITS[match.group("chinese")]
    filled = sum(ch in "*★⭐" for ch in match.group("stars"))  # "★★★☆☆" is three stars
    return filled if filled in SCORES else None


@dataclass(frozen=True, slots=True)
class RatingLink:
    """What a signed email rating link says."""

    case_reference: str
    conversation_id: str
    score: int
    expires_at: int


def _mac(secret: bytes, body: bytes) -> str:
    return base64.urlsafe_b64encode(hmac.new(secret, body, hashlib.sha256).digest()[:20]).decode().rstrip("=")


def sign_rating_link(secret: bytes, link: RatingLink) -> str:
    """A URL-safe token for one rating link (the case, the conversation, the score, an expiry)."""
    body = orjson.dumps([link.case_reference, link.conversation_id, link.score, link.expires_at])
    encoded = base64.urlsafe_b64encode(body).decode().rstrip("=")
    return f"{encoded}.{_mac(secret, body)}"


def verify_rating_link(secret: bytes, token: str, now: int) -> RatingLink | None:
    """The link a token proves, or None when it is forged, malformed or expired."""
    encoded, _, signature = token.partition(".")
    try:
        body = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        if not hmac.compare_digest(signature, _mac(secret, body)):
            return None
        reference, conversation, score, expires_at = orjson.loads(body)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        return None
    if not isinstance(score, int) or score not in SCORES or not isinstance(expires_at, int) or now > expires_at:
        return None
    return RatingLink(str(reference), str(conversation), score, expires_at)
