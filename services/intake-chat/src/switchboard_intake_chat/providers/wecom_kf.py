"""WeChat customer service through WeCom (微信客服): pulling the messages a ``kf_msg_or_event`` callback announces.

The callback carries no message, only a short-lived ``Token`` and the customer-service account
(``OpenKfId``). Messages are pulled page by page with ``cgi-bin/kf/sync_msg`` from a cursor; the
cursor advances only after Kafka acknowledged the page's messages, so a failed pull is repeated by the
next callback (WeCom retries a callback that was not answered with success). The cursor lives in
memory: after a restart the first pull starts from the oldest message WeCom still holds (three
days), and the deterministic event ids (from ``msgid``) make the repeats duplicates that the
dispatcher and the notifier suppress. Pulls for one account run one at a time.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from switchboard_common.access_tokens import WECOM_TOKEN_REJECTED, AccessToken, AccessTokenCache, errcode
from switchboard_intake_chat.providers.normalised import Normalised
from switchboard_intake_chat.providers.webhook_intake import WebhookIntake
from switchboard_intake_chat.providers.wechat import KfNotification, WeComSettings, normalise_kf_message

log = logging.getLogger(__name__)


class WeComApiError(Exception):
    """WeCom answered with an errcode (or not at all)."""

    def __init__(self, reason: str, errcode: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.errcode = errcode


class WeComKfClient:
    """The two WeCom API calls a pull needs: ``gettoken`` (cached) and ``kf/sync_msg``."""

    def __init__(self, settings: WeComSettings, http: httpx.AsyncClient) -> None:
        if settings.secret is None:
            raise ValueError("pulling kf messages needs WECOM_SECRET")
        self._settings = settings
        self._secret = settings.secret
        self._http = http
        self._base = settings.api_base_url.rstrip("/")
        self.tokens = AccessTokenCache(self._fetch_token)

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """The JSON object WeCom answered (its errcode not yet checked)."""
        try:
            response = await self._http.request(
                method, f"{self._base}{path}", timeout=self._settings.api_timeout_seconds, **kwargs
            )
        except httpx.HTTPError as exc:
            raise WeComApiError(f"{path}: {type(exc).__name__}") from None
        if response.status_code >= 400:
            raise WeComApiError(f"{path}: HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise WeComApiError(f"{path}: not JSON") from None
        if not isinstance(body, dict):
            raise WeComApiError(f"{path}: not a JSON object")
        return body

    async def _fetch_token(self) -> AccessToken:
        path = "/cgi-bin/gettoken"
        params = {"corpid": self._settings.corp_id, "corpsecret": self._secret.get_secret_value()}
        try:
            return AccessToken.from_answer(await self._call("GET", path, params=params))
        except ValueError as exc:
            raise WeComApiError(f"{path}: {exc}") from None

    async def sync_msg(self, *, cursor: str | None, token: str, open_kfid: str) -> dict[str, Any]:
        """One page of messages after ``cursor``."""
        payload: dict[str, Any] = {"token": token, "open_kfid": open_kfid, "limit": self._settings.pull_limit}
        if cursor:
            payload["cursor"] = cursor
        path = "/cgi-bin/kf/sync_msg"
        body = await self.tokens.call(
            lambda access_token: self._call("POST", path, params={"access_token": access_token}, json=payload),
            rejected=lambda body: errcode(body) in WECOM_TOKEN_REJECTED,
        )
        code = errcode(body)
        if code:
            raise WeComApiError(f"{path}: errcode {code} {str(body.get('errmsg', ''))[:120]}", code)
        return body


class KfPuller:
    """Pulls, normalises and publishes customer-service messages; one pull at a time per account.

    ``intake`` publishes each page's messages once and records the rest (system events, our servicers'
    messages); past its deadline the pull fails (the cursor stays) while the publish goes on, and the
    next pull of the same page joins it.
    """

    def __init__(
        self,
        client: WeComKfClient,
        intake: WebhookIntake,
        settings: WeComSettings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client = client
        self._intake = intake
        self._settings = settings
        self._clock = clock
        self._cursors: dict[str, str] = {}
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    def cursor(self, open_kfid: str) -> str | None:
        return self._cursors.get(open_kfid)

    async def pull(self, notification: KfNotification) -> int:
        """Pull until WeCom has no more; returns how many messages were published."""
        published = 0
        async with self._locks[notification.open_kfid]:
            cursor = self._cursors.get(notification.open_kfid)
            while True:
                page = await self._client.sync_msg(
                    cursor=cursor, token=notification.token, open_kfid=notification.open_kfid
                )
                outcomes: list[Normalised] = [
                    normalise_kf_message(
                        item,
                        self._settings.corp_id,
                        self._settings.language,
                        self._settings.max_text_chars,
                        self._clock(),
                    )
                    for item in page.get("msg_list") or []
                    if isinstance(item, dict)
                ]
                published += (await self._intake.accept(outcomes)).published
                next_cursor = page.get("next_cursor")
                if next_cursor:
                    cursor = str(next_cursor)
                    self._cursors[notification.open_kfid] = cursor
                if not page.get("has_more") or not next_cursor:
                    return published
