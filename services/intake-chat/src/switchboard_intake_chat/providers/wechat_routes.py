"""The WeChat Official Account and WeCom callback endpoints: thin adapters around :mod:`.wechat`.

``GET`` answers WeChat's URL verification; ``POST`` takes a push: the signature is checked over the
raw request before anything is parsed, encrypted pushes are decrypted, and the answer (``success``)
is given only after Kafka stored the message, within WeChat's 5 seconds (503 otherwise while the
publish goes on, and WeChat's retry joins it). Replies go out asynchronously through the notifier's
customer-service message senders.

An account configured with an EncodingAESKey accepts only encrypted pushes: the plain-mode signature
covers the token, timestamp and nonce but not the body, so a plain push could not be trusted there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Annotated

import httpx
from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from fastapi.responses import PlainTextResponse
from prometheus_client import Counter

from switchboard_common.events.models import Channel
from switchboard_common.intake import REJECTED, IntakePublisher, read_body_limited
from switchboard_common.producer import KafkaUnavailable
from switchboard_intake_chat.providers.normalised import Ignored, IgnoreReason
from switchboard_intake_chat.providers.webhook_intake import WebhookIntake
from switchboard_intake_chat.providers.wechat import (
    MAX_XML_BYTES,
    Account,
    KfNotification,
    WeChatPayloadError,
    WeChatSettings,
    WeComSettings,
    normalise_push,
    parse_xml,
)
from switchboard_intake_chat.providers.wechat_crypto import WeChatCryptoError, decrypt, signature_matches
from switchboard_intake_chat.providers.wecom_kf import KfPuller, WeComApiError, WeComKfClient

log = logging.getLogger(__name__)

KF_PULLS = Counter("switchboard_wecom_kf_pulls_total", "kf/sync_msg pulls by result.", ["result"])

SUCCESS = PlainTextResponse("success")

Query_ = Annotated[str, Query(max_length=512)]
OptionalQuery = Annotated[str | None, Query(max_length=512)]


def _reject(channel: Channel, status: int, code: str, reason: str) -> HTTPException:
    REJECTED.labels(channel.value, code).inc()
    log.warning("%s callback rejected", channel.value, extra={"reason": reason, "status": status})
    return HTTPException(status, reason)


def _fields(channel: Channel, plain: bytes) -> dict[str, str]:
    try:
        return parse_xml(plain)
    except WeChatPayloadError as exc:
        raise _reject(channel, 400, "invalid_xml", exc.reason) from None


def _encrypted_fields(
    channel: Channel,
    body: bytes,
    *,
    token: str,
    key: bytes,
    receiver_id: str,
    msg_signature: str | None,
    timestamp: str,
    nonce: str,
) -> dict[str, str]:
    envelope = _fields(channel, body)
    ciphertext = envelope.get("Encrypt")
    if not ciphertext:
        raise _reject(channel, 400, "not_encrypted", "the push has no Encrypt element")
    if not signature_matches(msg_signature, token, timestamp, nonce, ciphertext):
        raise _reject(channel, 403, "bad_signature", "msg_signature does not match")
    try:
        plain = decrypt(key, ciphertext, receiver_id)
    except WeChatCryptoError as exc:
        raise _reject(channel, 400, "undecryptable", exc.reason) from None
    return _fields(channel, plain)


def _encrypted_echo(
    channel: Channel,
    echostr: str,
    *,
    token: str,
    key: bytes,
    receiver_id: str,
    msg_signature: str,
    timestamp: str,
    nonce: str,
) -> PlainTextResponse:
    """The answer to an encrypted URL verification: the decrypted ``echostr``, once ``msg_signature`` matches."""
    if not signature_matches(msg_signature, token, timestamp, nonce, echostr):
        raise _reject(channel, 403, "bad_signature", "msg_signature does not match")
    try:
        return PlainTextResponse(decrypt(key, echostr, receiver_id).decode("utf-8", "replace"))
    except WeChatCryptoError as exc:
        raise _reject(channel, 400, "undecryptable", exc.reason) from None


def wechat_router(publisher: IntakePublisher, settings: WeChatSettings | None) -> APIRouter:
    """``/v1/wechat/callback``; no routes (404) when the Official Account is not configured."""
    router = APIRouter(tags=["WeChat"])
    if settings is None:
        return router
    token = settings.token.get_secret_value()
    key = settings.key()
    intake = WebhookIntake(publisher, Channel.WECHAT.value, deadline=settings.answer_within_seconds)

    def account(fields: dict[str, str]) -> Account:
        return Account(
            channel=Channel.WECHAT,
            account=settings.app_id or fields.get("ToUserName", "") or "wechat",
            language=settings.language,
            max_text_chars=settings.max_text_chars,
        )

    @router.get("/v1/wechat/callback", response_class=PlainTextResponse, summary="WeChat URL verification")
    async def verify_url(
        timestamp: Query_,
        nonce: Query_,
        echostr: Annotated[str, Query(max_length=1024)],
        signature: OptionalQuery = None,
        msg_signature: OptionalQuery = None,
    ) -> PlainTextResponse:
        if msg_signature is not None and key is not None:
            return _encrypted_echo(
                Channel.WECHAT,
                echostr,
                token=token,
                key=key,
                receiver_id=settings.app_id or "",
                msg_signature=msg_signature,
                timestamp=timestamp,
                nonce=nonce,
            )
        if not signature_matches(signature, token, timestamp, nonce):
            raise _reject(Channel.WECHAT, 403, "bad_signature", "signature does not match")
        return PlainTextResponse(echostr)

    @router.post("/v1/wechat/callback", response_class=PlainTextResponse, summary="A WeChat push")
    async def push(
        request: Request,
        timestamp: Query_,
        nonce: Query_,
        signature: OptionalQuery = None,
        msg_signature: OptionalQuery = None,
        encrypt_type: OptionalQuery = None,
    ) -> PlainTextResponse:
        received_at = datetime.now(UTC)
        body = await read_body_limited(request, MAX_XML_BYTES)
        if encrypt_type == "aes":
            if key is None or not settings.app_id:
                raise _reject(Channel.WECHAT, 400, "not_configured", "encrypted push but no WECHAT_ENCODING_AES_KEY")
            fields = _encrypted_fields(
                Channel.WECHAT,
                body,
                token=token,
                key=key,
                receiver_id=settings.app_id,
                msg_signature=msg_signature,
                timestamp=timestamp,
                nonce=nonce,
            )
        else:
            if not signature_matches(signature, token, timestamp, nonce):
                raise _reject(Channel.WECHAT, 403, "bad_signature", "signature does not match")
            if key is not None:
                raise _reject(Channel.WECHAT, 403, "plain_refused", "this account accepts encrypted pushes only")
            fields = _fields(Channel.WECHAT, body)
        outcome = normalise_push(fields, account(fields), received_at)
        if isinstance(outcome, KfNotification):
            outcome = Ignored(IgnoreReason.UNKNOWN_TYPE, "event:kf_msg_or_event", "kf notifications belong to WeCom")
        await intake.accept([outcome])
        return SUCCESS

    return router


def wecom_router(
    publisher: IntakePublisher,
    settings: WeComSettings | None,
    http: Callable[[], httpx.AsyncClient] = httpx.AsyncClient,
) -> APIRouter:
    """``/v1/wecom/callback``: app messages and customer-service (kf) notifications; 404 when not configured."""
    if settings is None:
        return APIRouter(tags=["WeCom"])
    token = settings.token.get_secret_value()
    key = settings.key()
    intake = WebhookIntake(publisher, Channel.WECOM.value, deadline=settings.answer_within_seconds)
    state: dict[str, KfPuller] = {}
    background: set[asyncio.Task[int]] = set()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        client = http()
        if settings.secret is not None:
            # A page of pulled messages may take longer to store than one push: its own deadline.
            pulled_intake = WebhookIntake(publisher, Channel.WECOM.value, deadline=settings.answer_within_seconds * 2)
            state["puller"] = KfPuller(WeComKfClient(settings, client), pulled_intake, settings)
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await client.aclose()

    router = APIRouter(tags=["WeCom"], lifespan=lifespan)

    def pulled(task: asyncio.Task[int]) -> None:
        background.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            KF_PULLS.labels("failed").inc()
            log.error("kf pull failed after the callback was answered", extra={"error": str(exc)[:300]})

    async def pull(notification: KfNotification) -> PlainTextResponse:
        puller = state.get("puller")
        if puller is None:
            intake.record(Ignored(IgnoreReason.NOT_CONFIGURED, "event:kf_msg_or_event", "no WECOM_SECRET to pull"))
            log.error("a kf notification arrived but WECOM_SECRET is not set: customer messages are not pulled")
            return SUCCESS
        task = asyncio.create_task(puller.pull(notification), name=f"kf-pull-{notification.open_kfid}")
        background.add(task)
        try:
            count = await asyncio.wait_for(asyncio.shield(task), settings.answer_within_seconds)
        except TimeoutError:
            # Still pulling (many pages): answer now; the cursor advances as pages are stored.
            task.add_done_callback(pulled)
            KF_PULLS.labels("continuing").inc()
            return SUCCESS
        except KafkaUnavailable:
            background.discard(task)
            KF_PULLS.labels("kafka_unavailable").inc()
            raise
        except WeComApiError as exc:
            background.discard(task)
            KF_PULLS.labels("api_error").inc()
            log.warning("kf pull failed; WeCom will retry the callback", extra={"reason": exc.reason})
            raise HTTPException(503, "the messages could not be pulled; retry later") from None
        background.discard(task)
        KF_PULLS.labels("done").inc()
        log.info("kf messages pulled", extra={"published": count, "open_kfid": notification.open_kfid})
        return SUCCESS

    @router.get("/v1/wecom/callback", response_class=PlainTextResponse, summary="WeCom URL verification")
    async def verify_url(
        msg_signature: Query_, timestamp: Query_, nonce: Query_, echostr: Annotated[str, Query(max_length=1024)]
    ) -> PlainTextResponse:
        return _encrypted_echo(
            Channel.WECOM,
            echostr,
            token=token,
            key=key,
            receiver_id=settings.corp_id,
            msg_signature=msg_signature,
            timestamp=timestamp,
            nonce=nonce,
        )

    @router.post("/v1/wecom/callback", response_class=PlainTextResponse, summary="A WeCom push")
    async def push(request: Request, msg_signature: Query_, timestamp: Query_, nonce: Query_) -> PlainTextResponse:
        received_at = datetime.now(UTC)
        body = await read_body_limited(request, MAX_XML_BYTES)
        fields = _encrypted_fields(
            Channel.WECOM,
            body,
            token=token,
            key=key,
            receiver_id=settings.corp_id,
            msg_signature=msg_signature,
            timestamp=timestamp,
            nonce=nonce,
        )
        account = Account(
            channel=Channel.WECOM,
            account=settings.corp_id,
            language=settings.language,
            max_text_chars=settings.max_text_chars,
        )
        outcome = normalise_push(fields, account, received_at)
        if isinstance(outcome, KfNotification):
            return await pull(outcome)
        await intake.accept([outcome])
        return SUCCESS

    return router
