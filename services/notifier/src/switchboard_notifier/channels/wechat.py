"""WeChat acknowledgements: Official Account customer-service messages and WeCom customer service.

Official Account: ``cgi-bin/message/custom/send`` with an access token from ``cgi-bin/token`` (AppID
and AppSecret). WeCom: ``cgi-bin/kf/send_msg`` to the customer (``external_userid``) of a
customer-service account (``open_kfid`` from the reply metadata), or, for WeCom app messages,
``cgi-bin/message/send`` with ``WECOM_AGENT_ID``; the access token from ``cgi-bin/gettoken`` (CorpID
and the customer-service secret). Tokens are cached until shortly before they expire; a token the API
rejects (invalid or expired) is replaced once and the send retried.

Outcomes: -1 (system busy), quota and rate limits (45009, 45011), HTTP 5xx and network errors are
retryable; 45015 (the customer's 48-hour customer-service window is closed), 40003 (invalid openid),
43004 (the customer unfollowed) and the other errcodes are final failures, recorded on notify.acks.v1.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from switchboard_common.access_tokens import (
    WECHAT_TOKEN_REJECTED,
    WECOM_TOKEN_REJECTED,
    AccessToken,
    AccessTokenCache,
    errcode,
)
from switchboard_common.channel_settings import optional_settings
from switchboard_common.events.models import Channel
from switchboard_notifier.channels.base import Delivery, DeliveryFailed, DeliveryRetryable, Notification
from switchboard_notifier.channels.http_delivery import ProviderApi
from switchboard_notifier.channels.provider_answer import ProviderAnswer
from switchboard_notifier.settings import NotifierSettings


class WeChatChannelSettings(BaseSettings):
    """The Official Account that answers (environment prefix ``WECHAT_``)."""

    model_config = SettingsConfigDict(env_prefix="WECHAT_", extra="ignore", env_file=".env")

    app_id: str
    app_secret: SecretStr
    api_base_url: str = Field(default="https://api.weixin.qq.com", description="Tests point it at a stand-in.")
    timeout_seconds: float = Field(default=5.0, gt=0)


class WeComChannelSettings(BaseSettings):
    """The WeCom corporation that answers (environment prefix ``WECOM_``)."""

    model_config = SettingsConfigDict(env_prefix="WECOM_", extra="ignore", env_file=".env")

    corp_id: str
    secret: SecretStr = Field(description="The customer-service (or app) secret for gettoken.")
    agent_id: int | None = Field(default=None, description="The app that answers WeCom app messages.")
    api_base_url: str = Field(default="https://qyapi.weixin.qq.com")
    timeout_seconds: float = Field(default=5.0, gt=0)


def from_settings(settings: NotifierSettings) -> WeChatSender | None:
    """A sender for the configured WeChat channels (Official Account, WeCom), or None if neither is."""
    official = optional_settings(WeChatChannelSettings, "wechat")
    wecom = optional_settings(WeComChannelSettings, "wecom")
    if official is None and wecom is None:
        return None
    return WeChatSender(official, wecom)


class ErrorClass(StrEnum):
    OK = "ok"
    TOKEN = "token"  # noqa: S105  (an error class, not a credential)
    RETRY = "retry"
    FAIL = "fail"


RETRYABLE_ERRORS = frozenset({-1, 45009, 45011, 45033})
"""System busy, daily quota / frequency limits."""
FINAL_REASONS = {
    45015: "the customer-service window is closed (no message from the customer in the last 48 hours)",
    40003: "invalid openid",
    43004: "the customer does not follow the account",
    45047: "too many customer-service messages without an answer from the customer",
    48001: "the account is not authorised for customer-service messages",
}


def classify(code: int, *, token_errors: frozenset[int] = WECHAT_TOKEN_REJECTED) -> ErrorClass:
    """What an errcode of WeChat's send APIs means for the notification."""
    if code == 0:
        return ErrorClass.OK
    if code in token_errors:
        return ErrorClass.TOKEN
    if code in RETRYABLE_ERRORS:
        return ErrorClass.RETRY
    return ErrorClass.FAIL


def _json_object(answer: ProviderAnswer) -> DeliveryRetryable | DeliveryFailed | None:
    """WeChat answers every call with a JSON object; a success without one is a broken answer, retried."""
    if answer.ok and not isinstance(answer.body, dict):
        return DeliveryRetryable("wechat: the answer is not a JSON object")
    return None


class _Api:
    """One credential's API: the cached access token, and JSON POSTs that replace a rejected token once."""

    def __init__(
        self,
        name: str,
        base_url: str,
        token_path: str,
        token_params: dict[str, str],
        timeout: float,
        token_errors: frozenset[int],
    ) -> None:
        self._http = ProviderApi(name, base_url=base_url.rstrip("/"), timeout_seconds=timeout)
        self._token_path = token_path
        self._token_params = token_params
        self._token_errors = token_errors
        self.tokens = AccessTokenCache(self._fetch_token)

    async def _fetch_token(self) -> AccessToken:
        answer = await self._http.send(self._token_path, method="GET", params=self._token_params, classify=_json_object)
        try:
            return AccessToken.from_answer(answer.body)
        except ValueError as exc:
            raise DeliveryRetryable(str(exc)) from None

    async def _post(self, path: str, payload: dict[str, Any], token: str) -> dict[str, Any]:
        answer = await self._http.send(path, params={"access_token": token}, json=payload, classify=_json_object)
        body: dict[str, Any] = answer.body
        return body

    async def post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        body = await self.tokens.call(
            lambda token: self._post(path, payload, token), rejected=lambda body: errcode(body) in self._token_errors
        )
        code = errcode(body)
        verdict = classify(code, token_errors=self._token_errors)
        if verdict is ErrorClass.OK:
            return body
        errmsg = str(body.get("errmsg", ""))[:120]
        if verdict in (ErrorClass.RETRY, ErrorClass.TOKEN):
            raise DeliveryRetryable(f"{path}: errcode {code} {errmsg}")
        raise DeliveryFailed(f"{path}: errcode {code}: {FINAL_REASONS.get(code, errmsg)}")

    async def close(self) -> None:
        await self._http.close()


class WeChatSender:
    """Sends text acknowledgements to WeChat Official Account followers and WeCom customers."""

    def __init__(self, official: WeChatChannelSettings | None, wecom: WeComChannelSettings | None) -> None:
        self._official = official
        self._wecom = wecom
        self._official_api = (
            _Api(
                "wechat",
                official.api_base_url,
                "/cgi-bin/token",
                {
                    "grant_type": "client_credential",
                    "appid": official.app_id,
                    "secret": official.app_secret.get_secret_value(),
                },
                official.timeout_seconds,
                WECHAT_TOKEN_REJECTED,
            )
            if official
            else None
        )
        self._wecom_api = (
            _Api(
                "wecom",
                wecom.api_base_url,
                "/cgi-bin/gettoken",
                {"corpid": wecom.corp_id, "corpsecret": wecom.secret.get_secret_value()},
                wecom.timeout_seconds,
                WECOM_TOKEN_REJECTED,
            )
            if wecom
            else None
        )
        channels = set()
        if official:
            channels.add(Channel.WECHAT)
        if wecom:
            channels.add(Channel.WECOM)
        self.channels = frozenset(channels)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        for api in (self._official_api, self._wecom_api):
            if api is not None:
                await api.close()

    async def deliver(self, notification: Notification) -> Delivery:
        target = notification.message.reply_to
        text = {"content": notification.text}
        if target.channel is Channel.WECHAT and self._official_api is not None:
            await self._official_api.post(
                "/cgi-bin/message/custom/send", {"touser": target.address, "msgtype": "text", "text": text}
            )
            return Delivery(provider_id=notification.notification_id)
        if target.channel is Channel.WECOM and self._wecom_api is not None and self._wecom is not None:
            open_kfid = target.metadata.get("open_kfid")
            if open_kfid:
                body = await self._wecom_api.post(
                    "/cgi-bin/kf/send_msg",
                    {
                        "touser": target.address,
                        "open_kfid": open_kfid,
                        # WeCom refuses a second message with the same msgid: a resend cannot duplicate.
                        "msgid": notification.notification_id.replace("-", "")[:32],
                        "msgtype": "text",
                        "text": text,
                    },
                )
                return Delivery(provider_id=str(body.get("msgid") or notification.notification_id))
            agent_id = target.metadata.get("agent_id") or (
                str(self._wecom.agent_id) if self._wecom.agent_id is not None else None
            )
            if not agent_id:
                raise DeliveryFailed("a WeCom app message needs WECOM_AGENT_ID to answer")
            await self._wecom_api.post(
                "/cgi-bin/message/send",
                {"touser": target.address, "msgtype": "text", "agentid": int(agent_id), "text": text},
            )
            return Delivery(provider_id=notification.notification_id)
        raise DeliveryFailed(f"no WeChat sender for {target.channel.value}")
