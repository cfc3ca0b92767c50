"""An SMTP server that keeps what it receives (aiosmtpd): acknowledgements in tests and in ``make run``.

Received messages are kept in memory (parsed) and, with ``outbox``, written as ``.eml`` files a
person can open. ``stop()`` and ``start()`` again on the same port simulate an outage. With ``tls``
(``starttls`` or ``tls``, a self-signed certificate whose ``cert_path`` clients trust) and
``credentials``, it checks what a real submission server checks.
"""

from __future__ import annotations

import contextlib
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from switchboard_devenv.certificates import self_signed_certificate
from switchboard_devenv.processes import free_port


@dataclass(frozen=True, slots=True)
class ReceivedMail:
    """One message as the SMTP server received it."""

    mail_from: str
    recipients: list[str]
    raw: bytes
    received_monotonic: float = field(default_factory=time.monotonic)
    """When the server accepted it (``time.monotonic()``), for latency measurements."""

    @property
    def message(self) -> EmailMessage:
        message: EmailMessage = message_from_bytes(self.raw, policy=policy.default)
        return message


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self._sink = sink

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:
        if address.lower() in self._sink.refused_recipients:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        self._sink.add(ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), bytes(raw)))
        return "250 Message accepted for delivery"


class SmtpSink:
    """A local SMTP server on 127.0.0.1 that accepts every message (except for refused recipients)."""

    def __init__(
        self,
        *,
        port: int | None = None,
        outbox: Path | None = None,
        tls: str = "none",
        credentials: tuple[str, str] | None = None,
        cert_folder: Path | None = None,
    ) -> None:
        self.host = "127.0.0.1"
        self.tls = tls
        self.credentials = credentials
        self.cert_path: Path | None = None
        self._context: ssl.SSLContext | None = None
        if tls != "none":
            made = self_signed_certificate(cert_folder or Path(tempfile.mkdtemp(prefix="switchboard-smtp-tls-")))
            if made is None:
                raise FileNotFoundError("openssl is needed for an SMTP server with TLS")
            self.cert_path, key = made
            self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._context.load_cert_chain(str(self.cert_path), str(key))
        self.port = port or free_port()
        self.outbox = outbox
        self.refused_recipients: set[str] = set()
        self._received: list[ReceivedMail] = []
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    def add(self, mail: ReceivedMail) -> None:
        with self._lock:
            self._received.append(mail)
            count = len(self._received)
        if self.outbox is not None:
            self.outbox.mkdir(parents=True, exist_ok=True)
            name = f"{time.strftime('%Y%m%d-%H%M%S')}-{count:04d}.eml"
            (self.outbox / name).write_bytes(mail.raw)

    @property
    def received(self) -> list[ReceivedMail]:
        with self._lock:
            return list(self._received)

    def wait_for(self, count: int, timeout: float = 60.0) -> list[ReceivedMail]:
        """At least ``count`` messages, waiting up to ``timeout`` seconds (raises TimeoutError)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            received = self.received
            if len(received) >= count:
                return received
            time.sleep(0.1)
        raise TimeoutError(f"{len(self.received)} of {count} messages received after {timeout:.0f}s")

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = (
            self.credentials is not None
            and isinstance(data, LoginPassword)
            and (data.login.decode(), data.password.decode()) == self.credentials
        )
        return AuthResult(success=ok, handled=False)

    def start(self) -> SmtpSink:
        options: dict[str, Any] = {}
        if self.credentials is not None:
            options |= {
                "authenticator": self._authenticate,
                "auth_required": True,
                "auth_require_tls": self.tls == "starttls",  # implicit TLS: aiosmtpd counts only STARTTLS
            }
        if self.tls == "starttls":
            options |= {"tls_context": self._context, "require_starttls": True}
        elif self.tls == "tls":
            options["ssl_context"] = self._context
        controller = Controller(
            _Handler(self), hostname=self.host, port=self.port, ready_timeout=30, server_hostname="localhost", **options
        )
        controller.start()
        self._controller = controller
        return self

    @property
    def running(self) -> bool:
        return self._controller is not None

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            with contextlib.suppress(Exception):
                controller.stop()
