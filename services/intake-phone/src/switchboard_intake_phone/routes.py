"""The HTTP edge: Twilio's voice and SMS webhooks, and the generic phone-system webhook.

Thin adapters: verify the signature over the raw request, hand the parameters to the pure
converters, publish, answer. Every request is verified before anything is recorded; a request that
is not signed by the provider gets 403 and leaves no trace but a log line and a metric.

Two kinds of Twilio callbacks:

* the steps of a live call (the menu, the end of a transfer, the end of a recording) must answer
  TwiML at once: the caller is listening. What they report is published best-effort; if Kafka does
  not acknowledge quickly the caller still hears the next prompt, and the same facts arrive again by
  the asynchronous callbacks (the recording callback) or are covered by the call's end;
* the asynchronous callbacks (recording, transcription, call status) and inbound SMS are answered
  200 only after Kafka acknowledged, 503 otherwise, so that Twilio delivers them again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, HTTPException, Request, Response
from prometheus_client import Counter
from pydantic import ValidationError

from switchboard_common.events.models import Language
from switchboard_common.intake import REJECTED, IntakePublisher, read_body_limited
from switchboard_common.pii import mask_handle
from switchboard_common.producer import KafkaUnavailable
from switchboard_intake_phone import twiml
from switchboard_intake_phone.fact_publisher import FactPublisher
from switchboard_intake_phone.facts import CallFact, CallStatus
from switchboard_intake_phone.ivr import IvrConfig
from switchboard_intake_phone.messages import InboundSms, sms_message
from switchboard_intake_phone.pbx_events import PbxEvent, pbx_input
from switchboard_intake_phone.pbx_signature import SIGNATURE_HEADER as PBX_SIGNATURE_HEADER
from switchboard_intake_phone.pbx_signature import TIMESTAMP_HEADER, verify_pbx_signature
from switchboard_intake_phone.settings import IntakePhoneSettings
from switchboard_intake_phone.twilio_callbacks import (
    InvalidCallback,
    call_ended_fact,
    form_fields,
    inbound_sms,
    is_keyword_only,
    recording_fact,
    transcription_fact,
    transfer_fact,
)
from switchboard_intake_phone.twilio_signature import SIGNATURE_HEADER, verify_twilio_signature
from switchboard_intake_phone.voice_flow import STEP_LANGUAGE, STEP_TEAM, CallbackUrls, VoiceFlow

log = logging.getLogger(__name__)

TWILIO_PREFIX = "/v1/phone/twilio"
PBX_PATH = "/v1/phone/pbx/events"
LIVE_CALL_PUBLISH_TIMEOUT_S = 3.0

BEST_EFFORT_FAILURES = Counter(
    "switchboard_phone_live_call_publish_failures_total",
    "Facts of a live call step Kafka did not acknowledge in time (the caller was answered anyway).",
)
KEYWORDS = Counter("switchboard_phone_sms_keywords_total", "Inbound opt-out/opt-in keyword SMS (not requests).")


def _twiml(body: str) -> Response:
    return Response(content=body, media_type=twiml.CONTENT_TYPE)


def _now() -> datetime:
    return datetime.now(UTC)


class PhoneEdge:
    """Shared by the routes: settings, the IVR, publishing."""

    def __init__(
        self, settings: IntakePhoneSettings, ivr: IvrConfig, facts: FactPublisher, publisher: IntakePublisher
    ) -> None:
        self.settings = settings
        self.ivr = ivr
        self.voice = VoiceFlow(ivr)
        self.facts = facts
        self.publisher = publisher

    # -- Twilio --------------------------------------------------------------------------------

    def public_url(self, request: Request) -> str:
        """The URL Twilio requested, as it requested it (the signature covers it)."""
        base = self.settings.phone.public_base_url
        if not base:
            return str(request.url)
        query = request.url.query
        return base.rstrip("/") + request.url.path + (f"?{query}" if query else "")

    def callback_urls(self, request: Request) -> CallbackUrls:
        base = self.settings.phone.public_base_url or str(request.base_url)
        return CallbackUrls(base.rstrip("/") + TWILIO_PREFIX)

    async def twilio_params(self, request: Request) -> dict[str, str]:
        """The verified form parameters of a Twilio webhook; 404 when Twilio is off, 403 when not Twilio's."""
        twilio = self.settings.twilio
        if twilio is None:
            raise HTTPException(404, "the Twilio channel is not configured")
        token = twilio.auth_token
        body = await read_body_limited(request, self.settings.phone.max_body_bytes)
        url = self.public_url(request)
        signature = request.headers.get(SIGNATURE_HEADER)
        if request.headers.get("content-type", "").startswith("application/json"):
            pairs: list[tuple[str, str]] = []
            valid = verify_twilio_signature(token.get_secret_value(), url, signature, json_body=body)
            if valid:
                try:
                    document = orjson.loads(body)
                except orjson.JSONDecodeError:
                    raise HTTPException(400, "the body is not valid JSON") from None
                if isinstance(document, dict):
                    pairs = [(str(k), str(v)) for k, v in document.items() if not isinstance(v, dict | list)]
        else:
            pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
            valid = verify_twilio_signature(token.get_secret_value(), url, signature, params=pairs)
        if not valid:
            REJECTED.labels("phone", "signature").inc()
            log.warning(
                "refused a request without a valid Twilio signature",
                extra={"path": request.url.path, "signed": signature is not None},
            )
            raise HTTPException(403, "missing or invalid X-Twilio-Signature")
        params = form_fields(pairs)
        expected_account = twilio.account_sid
        if expected_account and params.get("AccountSid") != expected_account:
            REJECTED.labels("phone", "account").inc()
            raise HTTPException(403, "the request is for another Twilio account")
        return params

    def choices(self, request: Request) -> tuple[Language, str | None]:
        """The caller's language and team, carried in the (signed) callback URL."""
        return self.ivr.language(request.query_params.get("lang")), self.ivr.team(request.query_params.get("team"))

    async def publish_live(self, fact: CallFact) -> None:
        try:
            await self.facts.publish([fact], timeout=LIVE_CALL_PUBLISH_TIMEOUT_S)
        except KafkaUnavailable as exc:
            BEST_EFFORT_FAILURES.inc()
            log.warning(
                "a live call step was answered without Kafka's acknowledgement",
                extra={"kind": fact.kind.value, "call": fact.call_id, "error": str(exc)[:300]},
            )

    async def publish_sms(self, sms: InboundSms) -> str:
        message = sms_message(sms, max_chars=self.settings.phone.max_text_chars)
        await self.publisher.publish([message])
        log.info(
            "inbound SMS accepted",
            extra={"event_id": message.event_id, "sender": mask_handle(sms.sender), "provider": sms.provider},
        )
        return message.event_id

    # -- PBX -----------------------------------------------------------------------------------

    async def pbx_event(self, request: Request) -> PbxEvent:
        pbx = self.settings.pbx
        if pbx is None:
            raise HTTPException(404, "the phone-system webhook is not configured")
        secret = pbx.webhook_secret
        body = await read_body_limited(request, self.settings.phone.max_body_bytes)
        check = verify_pbx_signature(
            secret.get_secret_value(),
            timestamp=request.headers.get(TIMESTAMP_HEADER),
            signature=request.headers.get(PBX_SIGNATURE_HEADER),
            body=body,
            now=time.time(),
            window_seconds=pbx.replay_window_seconds,
        )
        if not check.ok:
            REJECTED.labels("phone", "signature").inc()
            log.warning("refused a phone-system request", extra={"reason": check.reason})
            raise HTTPException(403, check.reason)
        try:
            return PbxEvent.model_validate_json(body)
        except ValidationError as exc:
            REJECTED.labels("phone", "invalid").inc()
            details = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(body)'}: {e['msg']}" for e in exc.errors()[:5]
            )
            raise HTTPException(422, f"invalid event: {details}") from None


def _invalid(exc: InvalidCallback) -> HTTPException:
    REJECTED.labels("phone", "invalid").inc()
    return HTTPException(400, str(exc))


def phone_router(edge: PhoneEdge) -> APIRouter:
    router = APIRouter(tags=["phone"])

    def handler(
        step: Callable[[Request, dict[str, str]], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            params = await edge.twilio_params(request)
            try:
                return await step(request, params)
            except InvalidCallback as exc:
                raise _invalid(exc) from None

        return endpoint

    async def incoming_call(request: Request, params: dict[str, str]) -> Response:
        log.info("incoming call", extra={"call": params.get("CallSid"), "caller": mask_handle(params.get("From", ""))})
        return _twiml(
            edge.voice.incoming_call(
                edge.callback_urls(request), called=params.get("To"), caller_country=params.get("FromCountry")
            )
        )

    async def menu(request: Request, params: dict[str, str]) -> Response:
        language, _ = edge.choices(request)
        step = request.query_params.get("step", STEP_LANGUAGE)
        attempt = request.query_params.get("attempt", "1")
        return _twiml(
            edge.voice.menu_choice(
                edge.callback_urls(request),
                step=STEP_TEAM if step == STEP_TEAM else STEP_LANGUAGE,
                language=language,
                attempt=int(attempt) if attempt.isdigit() else 1,
                digits=params.get("Digits", "").strip(),
            )
        )

    async def transfer_ended(request: Request, params: dict[str, str]) -> Response:
        language, team = edge.choices(request)
        fact = transfer_fact(params, received_at=_now(), language=language, team=team)
        await edge.publish_live(fact)
        answered = fact.status is CallStatus.ANSWERED
        return _twiml(
            edge.voice.transfer_ended(edge.callback_urls(request), language=language, team=team, answered=answered)
        )

    async def recorded(request: Request, params: dict[str, str]) -> Response:
        language, team = edge.choices(request)
        if params.get("RecordingSid") or params.get("RecordingUrl"):
            await edge.publish_live(recording_fact(params, received_at=_now(), language=language, team=team))
        return _twiml(edge.voice.voicemail_recorded(language))

    async def recording(request: Request, params: dict[str, str]) -> Response:
        language, team = edge.choices(request)
        await edge.facts.publish([recording_fact(params, received_at=_now(), language=language, team=team)])
        return _twiml(twiml.EMPTY)

    async def transcription(request: Request, params: dict[str, str]) -> Response:
        language, team = edge.choices(request)
        await edge.facts.publish([transcription_fact(params, received_at=_now(), language=language, team=team)])
        return _twiml(twiml.EMPTY)

    async def status(request: Request, params: dict[str, str]) -> Response:
        fact = call_ended_fact(params, received_at=_now())
        if fact is not None:
            await edge.facts.publish([fact])
        return _twiml(twiml.EMPTY)

    async def sms(request: Request, params: dict[str, str]) -> Response:
        if is_keyword_only(params):
            KEYWORDS.inc()
            log.info(
                "opt-out/opt-in keyword SMS left to Twilio's handling",
                extra={"sender": mask_handle(params.get("From", ""))},
            )
            return _twiml(twiml.EMPTY)
        await edge.publish_sms(inbound_sms(params, received_at=_now()))
        return _twiml(twiml.EMPTY)

    for path, step, summary in (
        ("/voice", incoming_call, "Incoming call (the number's Voice URL): greeting and first menu, TwiML."),
        ("/voice/menu", menu, "A keypad choice in the IVR menu: the next menu, a transfer or voicemail, TwiML."),
        ("/voice/dial", transfer_ended, "How a transfer ended (Dial/Enqueue action): goodbye or voicemail, TwiML."),
        ("/voice/recorded", recorded, "The voicemail recording ended (Record action): goodbye, TwiML."),
        ("/voice/recording", recording, "Recording status callback: the voicemail's recording."),
        ("/voice/transcription", transcription, "Transcription callback: the voicemail's transcript."),
        ("/voice/status", status, "Call status callback (the number's status callback URL): missed calls."),
        ("/sms", sms, "Incoming SMS (the number's Messaging URL)."),
    ):
        router.add_api_route(
            TWILIO_PREFIX + path, handler(step), methods=["POST"], summary=summary, response_class=Response
        )

    @router.post(PBX_PATH, status_code=202, summary="An event from another phone system (signed JSON).")
    async def pbx(request: Request) -> dict[str, object]:
        event = await edge.pbx_event(request)
        item = pbx_input(event, received_at=_now())
        if isinstance(item, InboundSms):
            event_id = await edge.publish_sms(item)
            return {"accepted": True, "event_id": event_id}
        await edge.facts.publish([item])
        return {"accepted": True, "fact_id": item.fact_id}

    return router
