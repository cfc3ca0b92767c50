"""Trying WeChat, WeCom and LINE locally, without the real providers.

``switchboard-dev`` (``make run``) starts stand-ins of WeChat's, WeCom's and LINE's APIs in its own
process (they print every acknowledgement they receive) and gives the services development
credentials pointing at them, unless ``WECHAT_TOKEN`` / ``WECOM_TOKEN`` / ``LINE_CHANNEL_SECRET`` are
set (then the real providers are configured and left alone). The credentials are kept in
``<data>/wechat-line.json`` so that the simulators can sign and encrypt as the providers do:

    uv run switchboard-sim-wechat "我的快递三天没更新了，单号SF1234567890123"
    uv run switchboard-sim-wechat --wecom "I was charged twice for order A123-4567"
    uv run switchboard-sim-line "我的包裹還沒到，請幫忙查詢"
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import textwrap
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from switchboard_devenv.kafka_broker import free_port
from switchboard_devenv.line_standin import LineApiState, line_api, line_signature, text_event, webhook_body
from switchboard_devenv.wechat_standin import (
    WeChatApiState,
    encrypted_request,
    kf_notification,
    new_encoding_aes_key,
    text_push,
    wechat_api,
)

CREDENTIALS_FILE = "wechat-line.json"


@dataclass(frozen=True)
class DevCredentials:
    """Development credentials of the three providers (never real ones)."""

    wechat_token: str
    wechat_app_id: str
    wechat_aes_key: str
    wechat_app_secret: str
    wecom_token: str
    wecom_corp_id: str
    wecom_aes_key: str
    wecom_secret: str
    line_secret: str
    line_access_token: str
    standin_url: str = ""
    chat_url: str = ""

    @classmethod
    def load_or_create(cls, data: Path) -> DevCredentials:
        path = data / CREDENTIALS_FILE
        if path.exists():
            return cls(**json.loads(path.read_text()))
        return cls(
            wechat_token=secrets.token_urlsafe(12),
            wechat_app_id="wxdev" + secrets.token_hex(6),
            wechat_aes_key=new_encoding_aes_key(),
            wechat_app_secret=secrets.token_hex(16),
            wecom_token=secrets.token_urlsafe(12),
            wecom_corp_id="wwdev" + secrets.token_hex(6),
            wecom_aes_key=new_encoding_aes_key(),
            wecom_secret=secrets.token_urlsafe(24),
            line_secret=secrets.token_hex(16),
            line_access_token=secrets.token_urlsafe(32),
        )

    def save(self, data: Path) -> None:
        path = data / CREDENTIALS_FILE
        path.write_text(json.dumps(asdict(self), indent=2))
        path.chmod(0o600)


class WeChatLineStandIns:
    """The stand-in APIs, served from a thread of the dev runner, printing what they receive."""

    def __init__(self, data: Path, port: int | None = None) -> None:
        self.data = data
        self.port = port or free_port()
        self.credentials = DevCredentials.load_or_create(data)
        self.wechat = WeChatApiState(on_send=self._print_wechat)
        self.line = LineApiState(access_token=self.credentials.line_access_token, on_send=self._print_line)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """Environment for the services: each provider unless the real one is configured already."""
        c = self.credentials
        env: dict[str, str] = {}
        if not os.environ.get("WECHAT_TOKEN"):
            env |= {
                "WECHAT_TOKEN": c.wechat_token,
                "WECHAT_APP_ID": c.wechat_app_id,
                "WECHAT_ENCODING_AES_KEY": c.wechat_aes_key,
                "WECHAT_APP_SECRET": c.wechat_app_secret,
                "WECHAT_API_BASE_URL": f"{self.url}/wechat",
            }
        if not os.environ.get("WECOM_TOKEN"):
            env |= {
                "WECOM_TOKEN": c.wecom_token,
                "WECOM_CORP_ID": c.wecom_corp_id,
                "WECOM_ENCODING_AES_KEY": c.wecom_aes_key,
                "WECOM_SECRET": c.wecom_secret,
                "WECOM_API_BASE_URL": f"{self.url}/wechat",
            }
        if not os.environ.get("LINE_CHANNEL_SECRET"):
            env |= {
                "LINE_CHANNEL_SECRET": c.line_secret,
                "LINE_CHANNEL_ACCESS_TOKEN": c.line_access_token,
                "LINE_API_BASE_URL": f"{self.url}/line",
            }
        return env

    def start(self, chat_url: str) -> WeChatLineStandIns:
        app = FastAPI(title="WeChat, WeCom and LINE stand-ins")
        app.mount(
            "/wechat",
            wechat_api(
                self.wechat, app_secret=self.credentials.wechat_app_secret, corp_secret=self.credentials.wecom_secret
            ),
        )
        app.mount("/line", line_api(self.line))
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None, access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="wechat-line-standins", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        creds = DevCredentials(**{**asdict(self.credentials), "standin_url": self.url, "chat_url": chat_url})
        creds.save(self.data)
        self.credentials = creds
        return self

    def banner(self) -> str:
        return (
            f"  WeChat / WeCom / LINE stand-ins  {self.url} (acknowledgements are printed here)\n"
            '    try: uv run switchboard-sim-wechat "我的快递三天没更新了"   (--wecom for WeCom customer service)\n'
            '         uv run switchboard-sim-line "我的包裹還沒到，請幫忙查詢"\n'
        )

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)

    @staticmethod
    def _show(provider: str, to: str, text: str) -> None:
        wrapped = textwrap.indent(textwrap.fill(text, 100), "    ")
        print(f"\n[{provider} acknowledgement to {to}]\n{wrapped}", flush=True)

    def _print_wechat(self, record: dict[str, Any]) -> None:
        body = record["body"]
        provider = "WeCom" if record["api"] != "message/custom/send" else "WeChat"
        self._show(f"{provider} {record['api']}", str(body.get("touser")), str(body.get("text", {}).get("content")))

    def _print_line(self, record: dict[str, Any]) -> None:
        body = record["body"]
        to = body.get("to") or f"reply token {str(body.get('replyToken'))[:8]}…"
        self._show(f"LINE {record['api']}", str(to), " ".join(m.get("text", "") for m in body.get("messages", [])))


def _credentials(data: Path) -> DevCredentials:
    path = data / CREDENTIALS_FILE
    if not path.exists():
        sys.exit(f"{path} not found: start the gateway with `make run` first (or pass --data)")
    return DevCredentials(**json.loads(path.read_text()))


def simulate_wechat(argv: list[str] | None = None) -> int:
    """``switchboard-sim-wechat``: send a customer's text as WeChat (or WeCom customer service) would."""
    parser = argparse.ArgumentParser(prog="switchboard-sim-wechat", description=simulate_wechat.__doc__)
    parser.add_argument("text")
    parser.add_argument("--wecom", action="store_true", help="as a WeCom customer-service (微信客服) message")
    parser.add_argument("--user", default="o-demo-customer", help="the customer's openid / external_userid")
    parser.add_argument("--data", type=Path, default=Path(".cache/dev"))
    args = parser.parse_args(argv)
    c = _credentials(args.data)
    with httpx.Client(timeout=10) as client:
        if args.wecom:
            open_kfid = "wk-demo"
            client.post(
                f"{c.standin_url}/wechat/_standin/kf_messages",
                json={
                    "msgid": "sim-" + secrets.token_hex(8),
                    "open_kfid": open_kfid,
                    "external_userid": args.user,
                    "send_time": int(time.time()),
                    "origin": 3,
                    "msgtype": "text",
                    "text": {"content": args.text},
                },
            ).raise_for_status()
            xml = kf_notification(c.wecom_corp_id, secrets.token_hex(8), open_kfid)
            request = encrypted_request(c.wecom_token, c.wecom_aes_key, c.wecom_corp_id, xml, wecom=True)
            path = "/v1/wecom/callback"
        else:
            xml = text_push(args.text, openid=args.user)
            request = encrypted_request(c.wechat_token, c.wechat_aes_key, c.wechat_app_id, xml)
            path = "/v1/wechat/callback"
        response = client.post(f"{c.chat_url}{path}", params=request.params, content=request.body)
    print(f"intake-chat answered {response.status_code} {response.text!r}; the acknowledgement prints in make run")
    return 0 if response.status_code == 200 else 1


def simulate_line(argv: list[str] | None = None) -> int:
    """``switchboard-sim-line``: send a customer's text as LINE would (signed, with a fresh reply token)."""
    parser = argparse.ArgumentParser(prog="switchboard-sim-line", description=simulate_line.__doc__)
    parser.add_argument("text")
    parser.add_argument("--user", default="Udemocustomer", help="the customer's LINE user id")
    parser.add_argument("--data", type=Path, default=Path(".cache/dev"))
    args = parser.parse_args(argv)
    c = _credentials(args.data)
    with httpx.Client(timeout=10) as client:
        token = client.post(f"{c.standin_url}/line/_standin/reply_token").json()["replyToken"]
        body = webhook_body([text_event(args.text, user_id=args.user, reply_token=token)])
        response = client.post(
            f"{c.chat_url}/v1/line/webhook",
            content=body,
            headers={"X-Line-Signature": line_signature(c.line_secret, body), "Content-Type": "application/json"},
        )
    print(f"intake-chat answered {response.status_code}; the acknowledgement prints in make run")
    return 0 if response.status_code == 200 else 1
