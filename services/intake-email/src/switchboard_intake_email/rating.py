"""The email satisfaction link: checking a token, the page's language and words, the answer's event. Pure.

The notifier's satisfaction request by email carries five links, one per score, each
``<public URL>/v1/email/rating/<token>`` with a token signed by
:func:`switchboard_common.satisfaction.sign_rating_link` (case reference, conversation id, score,
expiry). Mail scanners fetch links to check them, so opening a link only shows a confirmation page;
the customer's POST from that page records the answer: an intake message of kind
``satisfaction_response`` in the conversation the token names, with ``satisfaction.via == "link"``.
The customer sees the thanks on the page; the answer's reply target names no address (a link
carries none), so anything sent back goes by the case's own messages.
"""

from __future__ import annotations

import hashlib
import html
from datetime import datetime
from enum import StrEnum

from switchboard_common.events.models import (
    Channel,
    CustomerIdentity,
    IntakeMessage,
    Language,
    MessageKind,
    MessageText,
    ReplyTarget,
    SatisfactionAnswer,
)
from switchboard_common.identity import customer_key, event_id
from switchboard_common.satisfaction import RatingLink, verify_rating_link
from switchboard_common.text import language_from_locale

MAX_TOKEN_CHARS = 1024


class LinkProblem(StrEnum):
    """Why a rating link is not accepted."""

    MALFORMED = "malformed"
    """Not a token this gateway signs, or altered: forged, or cut short by a mail client."""
    EXPIRED = "expired"


def check_link(secret: bytes, token: str, now: int) -> RatingLink | LinkProblem:
    """The link a token proves, or why it does not prove one (forged and expired told apart)."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        return LinkProblem.MALFORMED
    link = verify_rating_link(secret, token, now)
    if link is not None:
        return link
    # Signed by us and well-formed, but refused at ``now``: only the expiry can have refused it.
    return LinkProblem.EXPIRED if verify_rating_link(secret, token, 0) is not None else LinkProblem.MALFORMED


def token_digest(token: str) -> str:
    """What identifies a token in events and logs (the token itself is a credential: never logged)."""
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def page_language(requested: str | None, accept_language: str | None) -> Language:
    """``lang`` when it names a language of the page, else the best of Accept-Language, else English."""
    chosen = language_from_locale(requested) if requested else None
    if chosen:
        return Language(chosen)
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "")[:512].split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and quality > 0:
            ranked.append((-quality, position, tag))
    for _, _, tag in sorted(ranked):
        found = language_from_locale(tag)
        if found:
            return Language(found)
    return Language.EN


def satisfaction_message(
    link: RatingLink, token: str, *, channel_account: str, received_at: datetime, language: Language
) -> IntakeMessage:
    """The customer's answer as an intake event; the same token always gives the same event id."""
    answer = SatisfactionAnswer(case_reference=link.case_reference, score=link.score, via="link")
    text = f"Rating: {link.score}/5 (case {link.case_reference})"
    digest = token_digest(token)
    return IntakeMessage(
        event_id=event_id("email", "rating-link", digest),
        channel=Channel.EMAIL,
        channel_account=channel_account,
        kind=MessageKind.SATISFACTION_RESPONSE,
        received_at=received_at,
        sent_at=received_at,
        conversation_id=link.conversation_id,
        customer=CustomerIdentity(key=customer_key(Channel.EMAIL.value, ""), handle=""),
        reply_to=ReplyTarget(
            channel=Channel.EMAIL, account=channel_account, address="", metadata={"answered_on": "rating_page"}
        ),
        text=MessageText(original=text, plain=text, new_content=text),
        language_hint=language,
        provider_ids={"rating_token_sha256": digest, "case_reference": link.case_reference},
        raw_ref=f"email-rating://{channel_account}/{digest}",
        satisfaction=answer,
    )


# -- the page -------------------------------------------------------------------------------------

WORDS: dict[Language, dict[str, str]] = {
    Language.EN: {
        "title": "Rate our service",
        "confirm": "You are rating our handling of case {ref}: {score} out of 5.",
        "submit": "Submit my rating",
        "recorded": "Thank you! Your rating ({score} out of 5) for case {ref} has been recorded.",
        "already": "Your rating for case {ref} has already been recorded. Thank you!",
        "expired": "This rating link has expired. You can still reply to our email with a number from 1 to 5.",
        "malformed": "This rating link is not valid. Please use the link exactly as it appears in our email.",
        "limited": "Too many attempts. Please try again in a minute.",
        "unavailable": "We could not record your rating just now. Please try again in a minute.",
    },
    Language.ZH_HANS: {
        "title": "为我们的服务评分",
        "confirm": "您正在为案件 {ref} 的处理评分：{score} 分（满分 5 分）。",
        "submit": "提交评分",
        "recorded": "谢谢！您对案件 {ref} 的评分（{score} 分，满分 5 分）已记录。",
        "already": "您对案件 {ref} 的评分已经记录，谢谢！",
        "expired": "此评分链接已过期。您仍可直接回复我们的邮件，写上 1 到 5 的数字。",
        "malformed": "此评分链接无效。请使用邮件中完整的链接。",
        "limited": "尝试次数过多，请一分钟后再试。",
        "unavailable": "暂时无法记录您的评分，请一分钟后再试。",
    },
    Language.ZH_HANT: {
        "title": "為我們的服務評分",
        "confirm": "您正在為案件 {ref} 的處理評分：{score} 分（滿分 5 分）。",
        "submit": "送出評分",
        "recorded": "謝謝！您對案件 {ref} 的評分（{score} 分，滿分 5 分）已記錄。",
        "already": "您對案件 {ref} 的評分已經記錄，謝謝！",
        "expired": "此評分連結已過期。您仍可直接回覆我們的郵件，寫上 1 到 5 的數字。",
        "malformed": "此評分連結無效。請使用郵件中完整的連結。",
        "limited": "嘗試次數過多，請一分鐘後再試。",
        "unavailable": "暫時無法記錄您的評分，請一分鐘後再試。",
    },
}

_PAGE = """<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>{title}</title>
<style>
  body {{ margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", "PingFang SC", "Microsoft JhengHei",
         sans-serif; background: #f5f6f8; color: #111827; }}
  main {{ max-width: 28rem; margin: 12vh auto; background: white; padding: 2rem; border-radius: 12px;
         box-shadow: 0 1px 3px rgba(0,0,0,.1); text-align: center; }}
  h1 {{ font-size: 1.3rem; margin: 0 0 1rem; }}
  .stars {{ font-size: 2rem; color: #f59e0b; letter-spacing: .2rem; }}
  button {{ background: #2563eb; color: white; border: 0; border-radius: 8px; padding: .7rem 1.4rem;
           font: inherit; cursor: pointer; margin-top: 1rem; }}
  .problem {{ color: #b91c1c; }}
</style>
</head>
<body><main>
<h1>{title}</h1>
{body}
</main></body>
</html>
"""


def stars(score: int) -> str:
    return "★" * score + "☆" * (5 - score)


def render_page(language: Language, body: str) -> str:
    words = WORDS[language]
    return _PAGE.format(lang=language.value, title=html.escape(words["title"]), body=body)


def confirmation_page(language: Language, link: RatingLink) -> str:
    """The page a link opens: what the customer is about to record, and the button that records it."""
    words = WORDS[language]
    text = words["confirm"].format(ref=link.case_reference, score=link.score)
    return render_page(
        language,
        f'<p class="stars" aria-hidden="true">{stars(link.score)}</p>\n<p>{html.escape(text)}</p>\n'
        f'<form method="post"><input type="hidden" name="lang" value="{language.value}">'
        f'<button type="submit">{html.escape(words["submit"])}</button></form>',
    )


def message_page(language: Language, key: str, link: RatingLink | None = None, *, problem: bool = False) -> str:
    """A page that only says something: recorded, already recorded, or what is wrong."""
    text = WORDS[language][key].format(ref=link.case_reference if link else "", score=link.score if link else "")
    shown = f'<p class="stars" aria-hidden="true">{stars(link.score)}</p>\n' if link and not problem else ""
    css = ' class="problem"' if problem else ""
    return render_page(language, f"{shown}<p{css}>{html.escape(text)}</p>")
