"""The rating page: ``GET`` and ``POST /v1/email/rating/{token}`` (404 when no link secret is set).

GET verifies the token and shows a confirmation form (mail scanners and link previews fetch links:
fetching records nothing). POST records the answer (see :mod:`.rating`) and answers only once Kafka
stored it (503 page otherwise; the same token always gives the same event id). A token already
recorded by this replica, or another score for a case already answered here, says so and publishes
nothing; an answer that reaches another replica too is published again with the same event id, and
the notifier takes the first answer per case anyway. Forged, damaged and expired tokens get a 4xx
page with the reason and no event. Each client address may make ``EMAIL_RATING_ATTEMPTS_PER_MINUTE``
requests a minute; a POST body is at most 2 KiB. The token is a credential: it is never logged.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import HTMLResponse
from prometheus_client import Counter

from switchboard_common.events.models import Language
from switchboard_common.intake import REJECTED, IntakePublisher, read_body_limited
from switchboard_common.producer import KafkaUnavailable
from switchboard_common.rate_limit import KeyedRateLimiter
from switchboard_common.satisfaction import RatingLink
from switchboard_intake_email.rating import (
    MAX_TOKEN_CHARS,
    LinkProblem,
    check_link,
    confirmation_page,
    message_page,
    page_language,
    satisfaction_message,
    token_digest,
)
from switchboard_intake_email.settings import RatingSettings

log = logging.getLogger(__name__)

CHANNEL = "email"
MAX_FORM_BYTES = 2048
TOKEN_PATH = Path(max_length=MAX_TOKEN_CHARS, description="The signed token of the email's rating link.")
RATINGS = Counter(
    "switchboard_email_rating_requests_total",
    "Rating page requests by method and outcome (shown, recorded, already_recorded, expired, malformed, ...).",
    ["method", "outcome"],
)
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'",
}


class ClientLimiter:
    """``per_minute`` requests per client address: a burst of ``per_minute``, then one more every
    ``60 / per_minute`` seconds (:class:`~switchboard_common.rate_limit.KeyedRateLimiter`). Unlike counts
    per clock minute, a burst that straddles a minute's end gets no second allowance. Bounded memory:
    the addresses seen least recently are forgotten first."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic, max_clients: int = 50_000):
        self._buckets = KeyedRateLimiter(per_minute / 60.0, per_minute, max_keys=max_clients)
        self._clock = clock

    def allow(self, client: str) -> bool:
        return self._buckets.acquire(client, self._clock()) == 0.0


class RecordedAnswers:
    """The cases whose answer this replica recorded, with the score (least recently recorded forgotten first)."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._cases: OrderedDict[str, RatingLink] = OrderedDict()

    def get(self, case_reference: str) -> RatingLink | None:
        return self._cases.get(case_reference)

    def add(self, link: RatingLink) -> None:
        self._cases[link.case_reference] = link
        self._cases.move_to_end(link.case_reference)
        while len(self._cases) > self._capacity:
            self._cases.popitem(last=False)


def rating_router(
    settings: RatingSettings, publisher: IntakePublisher, clock: Callable[[], float] = time.time
) -> APIRouter:
    secret = settings.link_secret.get_secret_value().encode()
    limiter = ClientLimiter(settings.attempts_per_minute)
    recorded = RecordedAnswers(settings.remember_answers)
    router = APIRouter(tags=["email"])

    def page(body: str, status: int = 200, method: str = "GET", outcome: str = "shown") -> HTMLResponse:
        RATINGS.labels(method, outcome).inc()
        if status >= 400:
            REJECTED.labels(CHANNEL, f"rating_{outcome}").inc()
        headers = dict(HEADERS)
        if status in (429, 503):
            headers["Retry-After"] = "60" if status == 429 else "5"
        return HTMLResponse(body, status_code=status, headers=headers)

    def checked(
        request: Request, token: str, language: Language, method: str
    ) -> tuple[RatingLink | None, HTMLResponse | None]:
        client = request.client.host if request.client else "unknown"
        if not limiter.allow(client):
            return None, page(message_page(language, "limited", problem=True), 429, method, "rate_limited")
        result = check_link(secret, token, int(clock()))
        if isinstance(result, LinkProblem):
            log.info(
                "rating link refused",
                extra={"reason": result.value, "method": method, "token_sha256": token_digest(token)[:12]},
            )
            status = 410 if result is LinkProblem.EXPIRED else 400
            return None, page(message_page(language, result.value, problem=True), status, method, result.value)
        return result, None

    responses: dict[int | str, dict[str, str]] = {
        400: {"description": "forged or damaged link"},
        410: {"description": "expired link"},
        413: {"description": "form too large"},
        429: {"description": "too many requests from this client"},
        503: {"description": "not stored; retry (POST)"},
    }

    @router.get(
        "/v1/email/rating/{token}",
        response_class=HTMLResponse,
        summary="A satisfaction rating link: shows a confirmation form (records nothing)",
        responses=responses,
    )
    async def show(
        request: Request,
        token: Annotated[str, TOKEN_PATH],
        lang: Annotated[str | None, Query(max_length=35)] = None,
        accept_language: Annotated[str | None, Header()] = None,
    ) -> HTMLResponse:
        language = page_language(lang, accept_language)
        link, refused = checked(request, token, language, "GET")
        if refused is not None:
            return refused
        assert link is not None
        if recorded.get(link.case_reference) is not None:
            return page(message_page(language, "already", link), outcome="already_recorded")
        return page(confirmation_page(language, link))

    @router.post(
        "/v1/email/rating/{token}",
        response_class=HTMLResponse,
        summary="Record the rating a link names (answered once Kafka stored it)",
        responses=responses,
    )
    async def record(
        request: Request,
        token: Annotated[str, TOKEN_PATH],
        lang: Annotated[str | None, Query(max_length=35)] = None,
        accept_language: Annotated[str | None, Header()] = None,
    ) -> HTMLResponse:
        body = await read_body_limited(request, MAX_FORM_BYTES)
        form = parse_qs(body.decode("utf-8", "replace"), max_num_fields=10)
        language = page_language((form.get("lang") or [lang or ""])[0] or None, accept_language)
        link, refused = checked(request, token, language, "POST")
        if refused is not None:
            return refused
        assert link is not None
        earlier = recorded.get(link.case_reference)
        if earlier is not None:
            return page(message_page(language, "already", earlier), method="POST", outcome="already_recorded")
        message = satisfaction_message(
            link, token, channel_account=settings.account, received_at=datetime.now(UTC), language=language
        )
        try:
            await publisher.publish([message])
        except KafkaUnavailable:
            return page(message_page(language, "unavailable", problem=True), 503, "POST", "unavailable")
        recorded.add(link)
        log.info(
            "satisfaction answer recorded from a rating link",
            extra={"case_reference": link.case_reference, "score": link.score, "event_id": message.event_id},
        )
        return page(message_page(language, "recorded", link), method="POST", outcome="recorded")

    return router
