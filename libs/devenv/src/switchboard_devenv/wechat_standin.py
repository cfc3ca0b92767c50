"""WeChat's side, for tests, the simulator and the local gateway: signed (and encrypted) pushes, and a stand-in API.

Pushes are built the way WeChat builds them: the SHA-1 signature over the sorted token, timestamp
and nonce (and ciphertext), and the AES-256-CBC "safe mode" ciphertext (16 random bytes, the length
in network order, the XML, the AppID/CorpID, padded to 32-byte blocks; key = EncodingAESKey + "=",
IV = the key's first 16 bytes). Written from WeChat's published description, independently of the
gateway's decryption, so tests check one against the other.

:func:`wechat_api` is a small FastAPI app standing in for ``api.weixin.qq.com`` and
``qyapi.weixin.qq.com``: it issues access tokens (which it can expire on demand), accepts
customer-service sends (recorded in a :class:`~switchboard_devenv.standin_log.StandInLog`; a test
scripts errcodes with :meth:`WeChatApiState.fail_next`), and serves ``kf/sync_msg`` pages from
messages a test queued.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import struct
import time
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from switchboard_devenv.standin_log import ProviderCall, Refused, StandInLog

PROVIDER = "wechat"


def new_encoding_aes_key() -> str:
    """A random EncodingAESKey as WeChat's console makes one: 43 base64 characters."""
    return base64.b64encode(os.urandom(32)).decode()[:43]


def sign(token: str, timestamp: str, nonce: str, *ciphertext: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, *ciphertext])).encode()).hexdigest()  # noqa: S324


def encrypt(encoding_aes_key: str, message: bytes, receiver_id: str, random16: bytes | None = None) -> str:
    key = base64.b64decode(encoding_aes_key + "=")
    body = (random16 or os.urandom(16)) + struct.pack("!I", len(message)) + message + receiver_id.encode()
    pad = 32 - len(body) % 32
    body += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(body) + encryptor.finalize()).decode()


def push_xml(fields: dict[str, str | int]) -> bytes:
    """A push body: ``<xml>`` with one element per field, text in CDATA as WeChat writes it."""
    parts = []
    for name, value in fields.items():
        inner = str(value) if isinstance(value, int) else f"<![CDATA[{value}]]>"
        parts.append(f"<{name}>{inner}</{name}>")
    return ("<xml>" + "".join(parts) + "</xml>").encode()


def text_push(text: str, *, openid: str, to: str = "gh_switchboard", msg_id: int | None = None) -> bytes:
    return push_xml(
        {
            "ToUserName": to,
            "FromUserName": openid,
            "CreateTime": int(time.time()),
            "MsgType": "text",
            "Content": text,
            "MsgId": msg_id if msg_id is not None else secrets.randbelow(10**18),
        }
    )


@dataclass(frozen=True, slots=True)
class SignedRequest:
    params: dict[str, str]
    body: bytes


def plain_request(token: str, xml: bytes, *, openid: str = "") -> SignedRequest:
    """A plain-mode push: ``signature`` over token, timestamp and nonce."""
    timestamp, nonce = str(int(time.time())), str(secrets.randbelow(10**9))
    params = {"signature": sign(token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}
    if openid:
        params["openid"] = openid
    return SignedRequest(params, xml)


def encrypted_request(
    token: str, encoding_aes_key: str, receiver_id: str, xml: bytes, *, to: str = "gh_switchboard", wecom: bool = False
) -> SignedRequest:
    """A safe-mode (Official Account) or WeCom push: the XML encrypted, ``msg_signature`` over the ciphertext."""
    timestamp, nonce = str(int(time.time())), str(secrets.randbelow(10**9))
    ciphertext = encrypt(encoding_aes_key, xml, receiver_id)
    msg_signature = sign(token, timestamp, nonce, ciphertext)
    params = {"msg_signature": msg_signature, "timestamp": timestamp, "nonce": nonce}
    if not wecom:
        params |= {"signature": sign(token, timestamp, nonce), "encrypt_type": "aes"}
    envelope = (
        f"<xml><ToUserName><![CDATA[{escape(to)}]]></ToUserName><Encrypt><![CDATA[{ciphertext}]]></Encrypt></xml>"
    )
    return SignedRequest(params, envelope.encode())


def kf_notification(corp_id: str, token: str, open_kfid: str) -> bytes:
    """WeCom's ``kf_msg_or_event`` callback XML."""
    return push_xml(
        {
            "ToUserName": corp_id,
            "CreateTime": int(time.time()),
            "MsgType": "event",
            "Event": "kf_msg_or_event",
            "Token": token,
            "OpenKfId": open_kfid,
        }
    )


@dataclass
class WeChatApiState:
    """What the stand-in API issued and received; its sends are recorded in ``log``."""

    token_lifetime: int = 7200
    tokens_issued: list[str] = field(default_factory=list)
    valid_tokens: set[str] = field(default_factory=set)
    kf_queue: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    kf_sync_calls: list[dict[str, Any]] = field(default_factory=list)
    log: StandInLog = field(default_factory=StandInLog)

    @property
    def sent(self) -> list[dict[str, Any]]:
        """The messages WeChat and WeCom accepted: ``api`` (``message/custom/send`` ...), ``body``, ``access_token``."""
        return [
            {
                "api": call.path.split("/cgi-bin/", 1)[-1],
                "body": call.body,
                "access_token": call.query.get("access_token"),
            }
            for call in self.log.calls_to(PROVIDER)
            if call.delivered
        ]

    def fail_next(self, errcode: int, times: int = 1) -> None:
        """The next ``times`` sends answer this errcode (WeChat answers errors with HTTP 200)."""
        self.log.fail_next(PROVIDER, 200, {"errcode": errcode, "errmsg": f"stand-in error {errcode}"}, times=times)

    def expire_tokens(self) -> None:
        """Every issued token becomes invalid, as when WeChat expires one early."""
        self.valid_tokens.clear()

    def queue_kf_message(self, message: dict[str, Any]) -> None:
        self.kf_queue.setdefault(str(message["open_kfid"]), []).append(message)


def wechat_api(state: WeChatApiState, *, app_secret: str | None = None, corp_secret: str | None = None) -> FastAPI:
    """The stand-in for WeChat's and WeCom's APIs (token, customer-service send, kf sync and send)."""
    app = FastAPI(title="WeChat API stand-in")

    def issue() -> dict[str, Any]:
        token = f"tok-{len(state.tokens_issued) + 1}-{secrets.token_hex(4)}"
        state.tokens_issued.append(token)
        state.valid_tokens.add(token)
        return {"access_token": token, "expires_in": state.token_lifetime}

    @app.get("/cgi-bin/token")
    async def token(appid: str, secret: str, grant_type: str = "") -> dict[str, Any]:
        if grant_type != "client_credential" or (app_secret is not None and secret != app_secret):
            return {"errcode": 40013 if grant_type == "client_credential" else 40002, "errmsg": "invalid appid/secret"}
        return issue()

    @app.get("/cgi-bin/gettoken")
    async def gettoken(corpid: str, corpsecret: str) -> dict[str, Any]:
        if corp_secret is not None and corpsecret != corp_secret:
            return {"errcode": 40001, "errmsg": "invalid credential"}
        return issue()

    async def send(request: Request) -> Response:
        async def answer(call: ProviderCall) -> Response:
            if call.query.get("access_token") not in state.valid_tokens:
                return Refused({"errcode": 42001, "errmsg": "access_token expired"})
            msgid = call.body.get("msgid") or secrets.token_hex(8)
            return JSONResponse({"errcode": 0, "errmsg": "ok", "msgid": msgid})

        return await state.log.handle(PROVIDER, request, answer)

    app.add_api_route("/cgi-bin/message/custom/send", send, methods=["POST"])
    app.add_api_route("/cgi-bin/kf/send_msg", send, methods=["POST"])
    app.add_api_route("/cgi-bin/message/send", send, methods=["POST"])

    @app.post("/_standin/kf_messages", include_in_schema=False)
    async def queue_kf(request: Request) -> dict[str, Any]:
        """Not WeChat's: lets the simulator put a customer's message where ``kf/sync_msg`` will find it."""
        state.queue_kf_message(await request.json())
        return {"queued": True}

    @app.post("/cgi-bin/kf/sync_msg")
    async def sync_msg(request: Request, access_token: str) -> dict[str, Any]:
        if access_token not in state.valid_tokens:
            return {"errcode": 42001, "errmsg": "access_token expired"}
        body = await request.json()
        state.kf_sync_calls.append(body)
        queue = state.kf_queue.get(str(body.get("open_kfid")), [])
        start = int(body.get("cursor") or 0)
        limit = int(body.get("limit") or 1000)
        page = queue[start : start + limit]
        end = start + len(page)
        return {
            "errcode": 0,
            "errmsg": "ok",
            "next_cursor": str(end),
            "has_more": 1 if end < len(queue) else 0,
            "msg_list": page,
        }

    return app
