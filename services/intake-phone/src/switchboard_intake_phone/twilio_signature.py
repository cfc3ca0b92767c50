"""Twilio's request signature (``X-Twilio-Signature``), computed and checked as Twilio does it.

Twilio signs every webhook with the account's auth token: base64 of HMAC-SHA1 over the full URL it
requested (query string included) followed by each POST parameter's name and value, sorted by name
(values of a repeated name sorted too). A JSON body is not part of that string: Twilio puts its hex
SHA-256 in the URL's ``bodySHA256`` query parameter instead, so the URL's signature covers the body.
Because Twilio is inconsistent about default ports, a signature over the URL with or without
``:443``/``:80`` is accepted.

There is no timestamp: the provider's ids (CallSid, MessageSid, RecordingSid) make a replayed
request produce the same event, which is suppressed.

Pure code: no web framework here; the HTTP layer hands in the URL, the parameters and the header.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import parse_qs, urlsplit, urlunsplit

SIGNATURE_HEADER = "X-Twilio-Signature"
_DEFAULT_PORTS = {"https": 443, "http": 80}


def twilio_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]] = ()) -> str:
    """The signature Twilio sends for a form POST of ``params`` to ``url``."""
    values: dict[str, set[str]] = {}
    for name, value in params:
        values.setdefault(name, set()).add(value)
    signed = url + "".join(name + value for name in sorted(values) for value in sorted(values[name]))
    digest = hmac.new(auth_token.encode("utf-8"), signed.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def body_sha256(body: bytes) -> str:
    """The hex digest Twilio puts in ``bodySHA256`` for a JSON body."""
    return hashlib.sha256(body).hexdigest()


def url_variants(url: str) -> tuple[str, ...]:
    """The URL as given, without its port, and with the scheme's default port made explicit."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    without_port = urlunsplit(parts._replace(netloc=f"{prefix}{host}"))
    with_port = urlunsplit(parts._replace(netloc=f"{prefix}{host}:{port}")) if port else without_port
    return tuple(dict.fromkeys((url, without_port, with_port)))


def verify_twilio_signature(
    auth_token: str,
    url: str,
    signature: str | None,
    *,
    params: Iterable[tuple[str, str]] = (),
    json_body: bytes | None = None,
) -> bool:
    """Whether ``signature`` is Twilio's for this request.

    ``params`` are the form parameters of an ``application/x-www-form-urlencoded`` POST (an empty
    sequence for a GET or a JSON body). ``json_body`` is the raw body of a JSON POST: it must match
    the URL's ``bodySHA256`` parameter.
    """
    if not signature or not auth_token:
        return False
    form = list(params)
    if json_body is not None:
        declared = parse_qs(urlsplit(url).query).get("bodySHA256")
        if not declared or not hmac.compare_digest(declared[0], body_sha256(json_body)):
            return False
        form = []
    expected = signature.strip()
    return any(
        hmac.compare_digest(twilio_signature(auth_token, candidate, form), expected) for candidate in url_variants(url)
    )
