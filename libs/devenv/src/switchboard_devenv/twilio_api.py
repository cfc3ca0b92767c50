"""A local stand-in for Twilio's Messages REST API: receives the notifier's SMS, in tests and ``make run``.

    python -m switchboard_devenv.twilio_api     (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, HTTP_PORT, SMS_OUTBOX)

It speaks the real API's format for what the notifier uses: ``POST /2010-04-01/Accounts/{sid}/Messages.json``
with basic auth and a form body, answered 201 with the message resource, or Twilio's error document
(``code``, ``message``, ``more_info``, ``status``). Like Twilio's test credentials it fails for its
magic numbers: +15005550001 invalid (21211), +15005550002 cannot be routed (21612), +15005550003 no
permission for the region (21408), +15005550004 unsubscribed (21610), +15005550009 not a mobile
(21614). ``GET`` on the same path lists what was sent (newest first, ``To`` filters). Tests queue
failures (429, 500 ...) with :meth:`TwilioApiState.fail_next` or ``POST /standin/failures``; every
attempt, failed or not, is kept in ``attempts``.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

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


@dataclass(slots=True)
class ScriptedFailure:
    status: int
    code: int
    message: str
    retry_after: float | None = None


@dataclass
class TwilioApiState:
    """What the stand-in received; shared with the test that runs it."""

    account_sid: str
    auth_token: str
    outbox: Path | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    failures: deque[ScriptedFailure] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(
        self, status: int, *, count: int = 1, code: int | None = None, retry_after: float | None = None
    ) -> None:
        """The next ``count`` sends answer ``status`` (429, 500 ...) with Twilio's error document."""
        default_code = {429: 20429, 500: 20500, 503: 20503}.get(status, 20001)
        for _ in range(count):
            self.failures.append(
                ScriptedFailure(status, code or default_code, f"stand-in failure {status}", retry_after)
            )

    def sent_to(self, number: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["to"] == number]


def _error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        status_code=status,
        content={
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        headers=headers,
    )


def create_app(state: TwilioApiState) -> FastAPI:
    app = FastAPI(title="Twilio Messages API stand-in")
    base = "/2010-04-01/Accounts/{account_sid}/Messages.json"

    def authorised(request: Request, account_sid: str) -> bool:
        expected = base64.b64encode(f"{state.account_sid}:{state.auth_token}".encode()).decode()
        given = request.headers.get("authorization", "")
        return account_sid == state.account_sid and secrets.compare_digest(given, f"Basic {expected}")

    @app.post(base)
    async def send(account_sid: str, request: Request) -> JSONResponse:
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        attempt: dict[str, Any] = {"at": datetime.now(UTC).isoformat(), "form": form}
        with state._lock:
            state.attempts.append(attempt)
            scripted = state.failures.popleft() if state.failures else None
        if not authorised(request, account_sid):
            attempt["status"] = 401
            return _error(401, 20003, "Authenticate")
        if scripted is not None:
            attempt["status"] = scripted.status
            headers = {"Retry-After": f"{scripted.retry_after:g}"} if scripted.retry_after is not None else None
            return _error(scripted.status, scripted.code, scripted.message, headers)
        to = form.get("To", "")
        sender = form.get("From") or form.get("MessagingServiceSid") or ""
        if not form.get("Body"):
            attempt["status"] = 400
            return _error(400, 21602, "Message body is required.")
        if not sender:
            attempt["status"] = 400
            return _error(400, 21603, "The 'From' phone number is required.")
        if to in MAGIC_NUMBERS or not E164.match(to):
            code, reason = MAGIC_NUMBERS.get(to, (21211, f"The 'To' number {to} is not a valid phone number."))
            attempt["status"] = 400
            return _error(400, code, reason)
        now = datetime.now(UTC)
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
            "date_created": format_datetime(now, usegmt=True),
            "api_version": "2010-04-01",
        }
        attempt["status"] = 201
        with state._lock:
            state.messages.append(message)
        if state.outbox is not None:
            with state.outbox.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(message, ensure_ascii=False) + "\n")
        print(f"SMS {message['sid']} to {to} from {sender}: {message['body']}", flush=True)
        return JSONResponse(status_code=201, content=message)

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
        return {"queued": len(state.failures)}

    @app.get("/standin/attempts")
    async def attempts() -> list[dict[str, Any]]:
        return list(state.attempts)

    @app.get("/healthz")
    @app.get("/readyz")
    async def ready() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    """Serve the stand-in (the local gateway starts it as a process)."""
    import uvicorn

    state = TwilioApiState(
        account_sid=os.environ["TWILIO_ACCOUNT_SID"],
        auth_token=os.environ["TWILIO_AUTH_TOKEN"],
        outbox=Path(os.environ["SMS_OUTBOX"]) if os.environ.get("SMS_OUTBOX") else None,
    )
    if state.outbox is not None:
        state.outbox.parent.mkdir(parents=True, exist_ok=True)
    uvicorn.run(
        create_app(state),
        host=os.environ.get("HTTP_HOST", "127.0.0.1"),
        port=int(os.environ.get("HTTP_PORT", "8900")),
        log_level="warning",
    )


if __name__ == "__main__":
    main()
