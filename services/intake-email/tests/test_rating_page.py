"""The email rating page: tokens, languages, and answers recorded through the real broker.

The links are signed here with switchboard_common's signer, as the notifier signs them; the page is
fetched and its form posted over HTTP as a browser does.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr

from switchboard_common.case_reference import case_reference
from switchboard_common.events import MESSAGE_RECEIVED
from switchboard_common.events.models import Channel, IntakePosition, Language, MessageKind, SatisfactionAnswer
from switchboard_common.satisfaction import RatingLink, sign_rating_link
from switchboard_common.settings import HttpSettings, KafkaSettings
from switchboard_common.topics import TopicNames
from switchboard_devenv.asgi import running_app
from switchboard_devenv.kafka_testing import decode_all, read_topic
from switchboard_intake_email.app import create_app
from switchboard_intake_email.rating import (
    LinkProblem,
    check_link,
    confirmation_page,
    page_language,
    satisfaction_message,
)
from switchboard_intake_email.rating_routes import ClientLimiter
from switchboard_intake_email.settings import EmailSettings, IntakeEmailSettings, RatingSettings

SECRET = "rating-link-secret-for-tests"
CASE = case_reference(IntakePosition(partition=2, offset=99))
CONVERSATION = "email_0123456789abcdef01234567"


def token(score: int = 4, *, expires_in: int = 86400, secret: str = SECRET, case: str = CASE) -> str:
    link = RatingLink(case, CONVERSATION, score, int(time.time()) + expires_in)
    return sign_rating_link(secret.encode(), link)


# -- pure ----------------------------------------------------------------------------------------


def test_a_link_is_accepted_and_forged_damaged_and_expired_ones_are_told_apart():
    now = int(time.time())
    good = token(3)
    assert check_link(SECRET.encode(), good, now) == RatingLink(CASE, CONVERSATION, 3, now + 86400)
    assert check_link(SECRET.encode(), token(3, secret="another"), now) is LinkProblem.MALFORMED
    assert check_link(SECRET.encode(), good[:-3], now) is LinkProblem.MALFORMED  # cut short by a mail client
    assert check_link(SECRET.encode(), good.replace(".", ".x", 1), now) is LinkProblem.MALFORMED
    assert check_link(SECRET.encode(), "", now) is LinkProblem.MALFORMED
    assert check_link(SECRET.encode(), "x" * 5000, now) is LinkProblem.MALFORMED
    assert check_link(SECRET.encode(), token(3, expires_in=-10), now) is LinkProblem.EXPIRED


@pytest.mark.parametrize(
    ("lang", "accept", "expected"),
    [
        (None, None, Language.EN),
        ("zh-Hant", "en", Language.ZH_HANT),
        ("zh-CN", None, Language.ZH_HANS),
        ("klingon", "zh-TW,zh;q=0.9", Language.ZH_HANT),
        (None, "fr-FR,fr;q=0.9,zh-CN;q=0.8,en;q=0.7", Language.ZH_HANS),
        (None, "en;q=0.2, zh-HK;q=0.8", Language.ZH_HANT),
        (None, "zh-CN;q=0, en", Language.EN),
        (None, "de, fr", Language.EN),
        (None, "zh;q=abc", Language.EN),
    ],
)
def test_the_page_language_comes_from_lang_then_accept_language(lang, accept, expected):
    assert page_language(lang, accept) is expected


def test_the_answer_names_the_token_conversation_and_the_same_token_the_same_event():
    link = RatingLink(CASE, CONVERSATION, 5, 1)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    one = satisfaction_message(link, "tok", channel_account="email:rating-link", received_at=now, language=Language.EN)
    two = satisfaction_message(link, "tok", channel_account="email:rating-link", received_at=now, language=Language.EN)
    other = satisfaction_message(
        link, "tok2", channel_account="email:rating-link", received_at=now, language=Language.EN
    )
    assert one.kind is MessageKind.SATISFACTION_RESPONSE and one.channel is Channel.EMAIL
    assert one.satisfaction == SatisfactionAnswer(case_reference=CASE, score=5, via="link")
    assert one.conversation_id == CONVERSATION
    assert one.event_id == two.event_id != other.event_id
    assert "eyJ0b2tlbiI" not in one.model_dump_json()  # the token is a credential: only its digest travels


def test_the_confirmation_page_escapes_what_it_shows_and_posts_back_to_itself():
    link = RatingLink('<script>alert("x")</script>', CONVERSATION, 2, 1)
    page = confirmation_page(Language.ZH_HANT, link)
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert '<form method="post">' in page and 'value="zh-Hant"' in page and "送出評分" in page


def test_a_client_gets_its_attempts_per_minute_and_then_waits_for_the_next_minute():
    now = [0.0]
    limiter = ClientLimiter(3, clock=lambda: now[0])
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b")
    now[0] = 61.0
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]


def test_a_burst_across_the_end_of_a_clock_minute_gets_no_second_allowance():
    # Counting per clock minute let 3 + 3 requests through in two seconds around hh:mm:59.
    now = [59.0]
    limiter = ClientLimiter(3, clock=lambda: now[0])
    assert [limiter.allow("a") for _ in range(3)] == [True, True, True]
    now[0] = 61.0
    assert [limiter.allow("a") for _ in range(3)] == [False, False, False]
    now[0] = 79.1  # one request back every 20 s (3 a minute), the refused ones not counted against it
    assert [limiter.allow("a") for _ in range(2)] == [True, False]


def test_the_limiter_forgets_the_clients_seen_least_recently_first():
    now = [0.0]
    limiter = ClientLimiter(1, clock=lambda: now[0], max_clients=2)
    assert limiter.allow("a") and limiter.allow("b")
    assert not limiter.allow("a")  # a is seen again: b is now the least recent
    assert limiter.allow("c")  # b forgotten
    assert limiter.allow("b")  # forgotten, so a fresh allowance; this pushes a out in turn
    assert limiter.allow("a")


# -- through the real broker ----------------------------------------------------------------------


@pytest.fixture
async def page(kafka_settings: KafkaSettings, kafka_topics: TopicNames) -> AsyncIterator[httpx.AsyncClient]:
    settings = IntakeEmailSettings(
        kafka=kafka_settings,
        http=HttpSettings(),
        email=EmailSettings(),
        rating=RatingSettings(link_secret=SecretStr(SECRET), attempts_per_minute=40),
    )
    async with (
        running_app(create_app(settings)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        for _ in range(100):
            if (await client.get("/readyz")).status_code == 200:
                break
            await asyncio.sleep(0.2)
        yield client


async def answers(kafka: KafkaSettings, names: TopicNames, expect: int) -> list:
    records = await read_topic(
        kafka, names("intake.messages.v1"), count=max(expect, 1), timeout=20 if expect else 3, settle=2.0
    )
    for record in records:
        assert record.key is not None and record.key.decode() == CONVERSATION
    return decode_all(records, MESSAGE_RECEIVED)


@pytest.mark.kafka
async def test_opening_a_link_records_nothing_and_posting_its_form_records_one_answer(
    page: httpx.AsyncClient, kafka_settings, kafka_topics
):
    link = token(4)
    shown = await page.get(f"/v1/email/rating/{link}", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert shown.status_code == 200
    assert CASE in shown.text and "提交评分" in shown.text and "★★★★☆" in shown.text
    assert shown.headers["cache-control"] == "no-store" and shown.headers["referrer-policy"] == "no-referrer"
    again = await page.get(f"/v1/email/rating/{link}")  # a mail scanner fetches it too
    assert again.status_code == 200 and "Submit my rating" in again.text
    form = re.search(r'<form method="post"><input type="hidden" name="lang" value="([^"]+)">', shown.text)
    assert form is not None and form.group(1) == "zh-Hans"

    recorded = await page.post(f"/v1/email/rating/{link}", data={"lang": form.group(1)})
    assert recorded.status_code == 200 and "已记录" in recorded.text
    repeated = await page.post(f"/v1/email/rating/{link}", data={"lang": "en"})
    assert repeated.status_code == 200 and "already been recorded" in repeated.text
    other_score = await page.post(f"/v1/email/rating/{token(1)}", data={"lang": "zh-Hant"})
    assert other_score.status_code == 200 and "已經記錄" in other_score.text
    after = await page.get(f"/v1/email/rating/{token(2)}")
    assert after.status_code == 200 and "already been recorded" in after.text and "<form" not in after.text

    [answer] = await answers(kafka_settings, kafka_topics, expect=1)
    assert answer.kind is MessageKind.SATISFACTION_RESPONSE and answer.channel is Channel.EMAIL
    assert answer.conversation_id == CONVERSATION
    assert answer.satisfaction == SatisfactionAnswer(case_reference=CASE, score=4, via="link")
    assert answer.language_hint is Language.ZH_HANS
    assert answer.text.plain == f"Rating: 4/5 (case {CASE})"


@pytest.mark.kafka
async def test_forged_damaged_and_expired_links_get_a_4xx_page_with_the_reason_and_no_event(
    page: httpx.AsyncClient, kafka_settings, kafka_topics, caplog: pytest.LogCaptureFixture
):
    forged = token(5, secret="guessed-secret")
    expired = token(5, expires_in=-60)
    damaged = token(5)[:-4]
    for method in ("GET", "POST"):
        response = await page.request(method, f"/v1/email/rating/{forged}", params={"lang": "en"})
        assert response.status_code == 400 and "not valid" in response.text
        response = await page.request(method, f"/v1/email/rating/{damaged}", params={"lang": "zh-Hant"})
        assert response.status_code == 400 and "此評分連結無效" in response.text
        response = await page.request(method, f"/v1/email/rating/{expired}", params={"lang": "en"})
        assert response.status_code == 410 and "expired" in response.text
    too_long = await page.get("/v1/email/rating/" + "A" * 2000)
    assert too_long.status_code == 422
    big_form = await page.post(f"/v1/email/rating/{token(3)}", content=b"lang=" + b"x" * 5000)
    assert big_form.status_code == 413
    assert await answers(kafka_settings, kafka_topics, expect=0) == []
    for secret_text in (forged, expired, damaged, SECRET):
        assert secret_text not in caplog.text


@pytest.mark.kafka
async def test_a_client_trying_too_many_links_is_told_to_wait(kafka_settings, kafka_topics):
    settings = IntakeEmailSettings(
        kafka=kafka_settings,
        http=HttpSettings(),
        email=EmailSettings(),
        rating=RatingSettings(link_secret=SecretStr(SECRET), attempts_per_minute=3),
    )
    async with running_app(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as client:
        statuses = [(await client.get(f"/v1/email/rating/{token(3)}")).status_code for _ in range(4)]
        limited = await client.get(f"/v1/email/rating/{token(3)}")
    assert statuses == [200, 200, 200, 429]
    assert limited.status_code == 429 and limited.headers["retry-after"] == "60"


@pytest.mark.kafka
async def test_without_the_link_secret_the_page_is_not_there(kafka_settings, monkeypatch):
    monkeypatch.delenv("SATISFACTION_LINK_SECRET", raising=False)
    settings = IntakeEmailSettings(kafka=kafka_settings, http=HttpSettings(), email=EmailSettings())
    assert settings.rating is None
    async with running_app(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as client:
        assert (await client.get(f"/v1/email/rating/{token(3)}")).status_code == 404


def test_the_link_secret_is_read_from_the_variable_shared_with_the_notifier(monkeypatch):
    monkeypatch.setenv("SATISFACTION_LINK_SECRET", "from-the-environment")
    monkeypatch.setenv("EMAIL_RATING_ACCOUNT", "email:support")
    settings = IntakeEmailSettings()
    assert settings.rating is not None
    assert settings.rating.link_secret.get_secret_value() == "from-the-environment"
    assert settings.rating.account == "email:support"
    assert "from-the-environment" not in repr(settings)
