"""A local stand-in for Twilio's Messages REST API: receives the notifier's SMS, in tests and ``make run``
(where it is part of :class:`~switchboard_devenv.provider_standins.ProviderStandIns`, under ``/twilio``).

It speaks the real API's format for what the notifier uses: ``POST /2010-04-01/Accounts/{sid}/Messages.json``
with basic auth and a form body, answered 201 with the message resource, or Twilio's error document
(``code``, ``message``, ``more_info``, ``status``). Like Twilio's test credentials it fails for its
magic numbers: +15005550001 invalid (21211), +15005550002 cannot be routed (21612), +15005550003 no
permission for the region (21408), +15005550004 unsubscribed (21610), +15005550009 not a mobile
(21614). ``GET`` on the same path lists what was sent (newest first, ``To`` filters). Tests queue
failures (429, 500 ...) with :meth:`TwilioApiState.fail_next` or ``POST /standin/failures``; every
attempt, failed or not, is in ``attempts`` (from the stand-in's :class:`~switchboard_devenv.standin_log.StandInLog`).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from switchboard_devenv.standin_log import ProviderCall, Refused, StandInLog

PROVIDER = "twilio"

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
MAGIC_NUMBERS = {
    "+15005550001": (21211, "The 'To' number +15005550001 is not a valid phone number."),
    "+15005550002": (21612, "The 'To' phone number is not currently reachable via SMS."),
    "+15005550003": (
        21408,
        "Permission to send an SMS has not been enabled for the region indicated by the 'To' number",
    ),
    "+15005550004": (21610, "Attempt to send to unsubscribed recipient"),
    "+15005550009": (21614, "'To' number is not a valid mobile number"),
}


@dataclass
class TwilioApiState:
    """What the stand-in sent; every attempt, failed or not, is recorded in ``log``."""

    account_sid: str
    auth_token: str
    outbox: Path | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    log: StandInLog = field(default_factory=StandInLog)

    def fail_next(
        self, status: int, *, count: int = 1, code: int | None = None, retry_after: float | None = None
    ) -> None:
        """The next ``count`` sends answer ``status`` (429, 500 ...) with Twilio's error document."""
        code = code or {429: 20429, 500: 20500, 503: 20503}.get(status, 20001)
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else None
        document = _error_document(status, code, f"stand-in failure {status}")
        self.log.fail_next(PROVIDER, status, document, headers, count)

    @property
    def attempts(self) -> list[dict[str, Any]]:
        """Every send, as ``at``, ``form`` and the ``status`` it was answered with."""
        return [
            {"at": call.at.isoformat(), "form": call.body, "status": call.status}
            for call in self.log.calls_to(PROVIDER)
        ]

    def sent_to(self, number: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["to"] == number]


def _error_document(status: int, code: int, message: str) -> dict[str, Any]:
    more_info = f"https://www.twilio.com/docs/errors/{code}"
    return {"code": code, "message": message, "more_info": more_info, "status": status}


def _error(status: int, code: int, message: str) -> Refused:
    return Refused(status_code=status, content=_error_document(status, code, message))


def create_app(state: TwilioApiState) -> FastAPI:
    app = FastAPI(title="Twilio Messages API stand-in")
    base = "/2010-04-01/Accounts/{account_sid}/Messages.json"

    def authorised(request: Request, account_sid: str) -> bool:
        expected = base64.b64encode(f"{state.account_sid}:{state.auth_token}".encode()).decode()
        given = request.headers.get("authorization", "")
        return account_sid == state.account_sid and secrets.compare_digest(given, f"Basic {expected}")

    @app.post(base)
    async def send(account_sid: str, request: Request) -> Response:
        async def answer(call: ProviderCall) -> Response:
            if not authorised(request, account_sid):
                return _error(401, 20003, "Authenticate")
            form = call.body
            to = form.get("To", "")
            if not form.get("Body"):
                return _error(400, 21602, "Message body is required.")
            if not (form.get("From") or form.get("MessagingServiceSid")):
                return _error(400, 21603, "The 'From' phone number is required.")
            if to in MAGIC_NUMBERS or not E164.match(to):
                code, reason = MAGIC_NUMBERS.get(to, (21211, f"The 'To' number {to} is not a valid phone number."))
                return _error(400, code, reason)
            message: dict[str, Any] = {
                "sid": "SM" + secrets.token_hex(16),
                "account_sid": account_sid,
                "to": to,
                "from": form.get("From"),
                "messaging_service_sid": form.get("MessagingServiceSid"),
                "body": form["Body"],
                "status": "queued",
                "direction": "outbound-api",
                "num_segments": "1",
                "date_created": format_datetime(datetime.now(UTC), usegmt=True),
                "api_version": "2010-04-01",
            }
            state.messages.append(message)
            if state.outbox is not None:
                with state.outbox.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(message, ensure_ascii=False) + "\n")
            return JSONResponse(status_code=201, content=message)

        return await state.log.handle(PROVIDER, request, answer)

    @app.get(base)
    async def listing(account_sid: str, request: Request) -> JSONResponse:
        if not authorised(request, account_sid):
            return _error(401, 20003, "Authenticate")
        to = request.query_params.get("To")
        found = [m for m in reversed(state.messages) if to is None or m["to"] == to]
        return JSONResponse({"messages": found, "page": 0, "page_size": len(found)})

    @app.post("/standin/failures")
    async def queue_failures(request: Request) -> dict[str, int]:
        spec = await request.json()
        state.fail_next(
            int(spec["status"]),
            count=int(spec.get("count", 1)),
            code=spec.get("code"),
            retry_after=spec.get("retry_after"),
        )
        return {"queued": int(spec.get("count", 1))}

    @app.get("/standin/attempts")
    async def attempts() -> list[dict[str, Any]]:
        return state.attempts

    @app.get("/healthz")
    @app.get("/readyz")
    async def ready() -> dict[str, str]:
        return {"status": "ok"}

    return app
