"""Trying Slack, WhatsApp, Messenger and Telegram locally, without the real providers.

``switchboard-dev`` turns these channels on with secrets of its own (kept in ``<data>/chat-sim.json``)
and points the notifier at local stand-ins of the providers' send APIs, which print every
acknowledgement on its console. ``switchboard-chat-sim`` plays the customer: it builds a provider's
webhook request, signs it the way the provider does, and posts it to the running gateway.

    switchboard-chat-sim slack "I was charged twice for order A123-4567"
    switchboard-chat-sim whatsapp "我的快递三天没更新了，单号SF1234567890123" --name 李雷
    switchboard-chat-sim messenger "I cannot log in to my account"
    switchboard-chat-sim telegram "我的訂單還沒出貨，訂單號 A123-4567" --language zh-TW

Variables already set in the environment (``SLACK_SIGNING_SECRET``, ``SLACK_API_BASE_URL``, ...) win
over the simulated ones, so the runner can be pointed at a real provider too.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
import uuid
from pathlib import Path

import httpx

from switchboard_devenv.chat_payloads import (
    messenger_text,
    meta_request,
    slack_message_event,
    slack_request,
    telegram_request,
    telegram_text_update,
    whatsapp_text,
)
from switchboard_devenv.provider_standins import ProviderCall, ProviderStandIns, StandInThread, base_urls

SECRET_NAMES = (
    "SLACK_SIGNING_SECRET",
    "SLACK_BOT_TOKEN",
    "META_APP_SECRET",
    "META_VERIFY_TOKEN",
    "WHATSAPP_ACCESS_TOKEN",
    "MESSENGER_PAGE_ACCESS_TOKEN",
    "TELEGRAM_SECRET_TOKEN",
    "TELEGRAM_BOT_TOKEN",
)
SECRETS_FILE = "chat-sim.json"

# The simulated accounts: a Slack workspace, a WhatsApp business number, a Facebook page, a bot.
SLACK_TEAM, SLACK_CHANNEL = "T0SIMULATED", "C0SUPPORT"
WHATSAPP_NUMBER_ID = "100000000000001"
MESSENGER_PAGE = "200000000000002"


def load_secrets(data: Path, *, create: bool) -> dict[str, str]:
    """The simulated channels' secrets: from the environment, else the data folder (made when ``create``)."""
    path = data / SECRETS_FILE
    stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    missing = [name for name in SECRET_NAMES if name not in stored]
    if missing and create:
        for name in missing:
            stored[name] = (
                f"4242:{secrets.token_urlsafe(24)}" if name == "TELEGRAM_BOT_TOKEN" else secrets.token_urlsafe(24)
            )
        data.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(stored, indent=2))
        path.chmod(0o600)
    return {name: os.environ.get(name) or stored.get(name, "") for name in SECRET_NAMES}


def describe(call: ProviderCall) -> str:
    """One console line for an acknowledgement a stand-in received."""
    body = call.body
    where = {
        "slack": f"channel {call.recipient}, thread {body.get('thread_ts')}",
        "whatsapp": f"to {call.recipient}, replying to {body.get('context', {}).get('message_id')}",
        "messenger": f"to PSID {call.recipient}",
        "telegram": f"chat {call.recipient}, replying to {body.get('reply_parameters', {}).get('message_id')}",
    }[call.provider]
    return f"[{call.provider} API] acknowledgement ({where}):\n    {call.text}"


class SimulatedChannels:
    """The social channels of the local gateway: secrets, and the stand-in APIs printing acknowledgements."""

    def __init__(self, data: Path) -> None:
        self._secrets = load_secrets(data, create=True)
        self._standins = StandInThread(ProviderStandIns(on_call=lambda call: print(describe(call), flush=True)))

    def start(self) -> SimulatedChannels:
        self._standins.start()
        return self

    def stop(self) -> None:
        self._standins.stop()

    @property
    def env(self) -> dict[str, str]:
        urls = {name: os.environ.get(name) or url for name, url in base_urls(self._standins.root).items()}
        return {**self._secrets, **urls}

    @property
    def banner(self) -> str:
        return (
            f"  Slack, WhatsApp, Messenger, Telegram (simulated; provider APIs at {self._standins.root}):\n"
            '      uv run switchboard-chat-sim slack "I was charged twice for order A123-4567"\n'
        )


# -- the customer's side ----------------------------------------------------------------------


def build_request(args: argparse.Namespace, keys: dict[str, str]) -> tuple[str, bytes, dict[str, str]]:
    """(path, body, headers) of the provider's webhook request for the command line's message."""
    now = time.time()
    if args.provider == "slack":
        ts = f"{now:.6f}"
        payload = slack_message_event(
            team=SLACK_TEAM,
            channel=args.channel or SLACK_CHANNEL,
            channel_type="channel",
            user=args.sender or "U0CUSTOMER1",
            text=args.text,
            ts=ts,
            thread_ts=args.thread,
        )
        if args.name:
            payload["event"]["user_profile"] = {"display_name": args.name, "real_name": args.name}
        return "/v1/slack/events", *slack_request(keys["SLACK_SIGNING_SECRET"], payload)
    if args.provider == "whatsapp":
        payload = whatsapp_text(
            phone_number_id=WHATSAPP_NUMBER_ID,
            wa_id=args.sender or "8613800138000",
            name=args.name or "Alex Chan",
            text=args.text,
            message_id=f"wamid.{uuid.uuid4().hex}",
        )
        return "/v1/whatsapp/webhook", *meta_request(keys["META_APP_SECRET"], payload)
    if args.provider == "messenger":
        payload = messenger_text(
            page_id=MESSENGER_PAGE, psid=args.sender or "6000000000000001", text=args.text, mid=f"m_{uuid.uuid4().hex}"
        )
        return "/v1/messenger/webhook", *meta_request(keys["META_APP_SECRET"], payload)
    chat = int(args.sender) if args.sender and args.sender.lstrip("-").isdigit() else 700000001
    update = telegram_text_update(
        update_id=int(now * 10) % 2_000_000_000,
        chat_id=chat,
        message_id=int(now) % 1_000_000,
        text=args.text,
        first_name=args.name or "Alex",
        language_code=args.language,
    )
    return "/v1/telegram/webhook", *telegram_request(keys["TELEGRAM_SECRET_TOKEN"], update)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="switchboard-chat-sim",
        description="Send a message to the local gateway as Slack, WhatsApp, Messenger or Telegram would.",
    )
    parser.add_argument("provider", choices=["slack", "whatsapp", "messenger", "telegram"])
    parser.add_argument("text", help="what the customer writes")
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="intake-chat (default: the local gateway)")
    parser.add_argument("--data", type=Path, default=Path(".cache/dev"), help="the local gateway's data folder")
    parser.add_argument("--from", dest="sender", help="Slack user id, WhatsApp number, PSID or Telegram chat id")
    parser.add_argument("--name", help="the customer's display name")
    parser.add_argument("--channel", help="Slack channel id (default C0SUPPORT)")
    parser.add_argument("--thread", help="Slack: reply in this thread (the ts the gateway acknowledged in)")
    parser.add_argument("--language", default="en", help="Telegram: the app's language code (zh-hans, zh-hant, en)")
    args = parser.parse_args(argv)

    keys = load_secrets(args.data, create=False)
    if not all(keys.values()):
        print(f"no secrets in {args.data / SECRETS_FILE}: start the gateway with `make run` first", file=sys.stderr)
        return 2
    path, body, headers = build_request(args, keys)
    try:
        response = httpx.post(f"{args.url.rstrip('/')}{path}", content=body, headers=headers, timeout=15)
    except httpx.HTTPError as exc:
        print(f"could not reach {args.url}: {exc}", file=sys.stderr)
        return 1
    print(f"{args.provider}: {response.status_code} {response.text[:200]}".rstrip())
    if response.status_code == 200:
        print("accepted; the acknowledgement appears in the gateway's console within seconds")
    return 0 if response.is_success else 1


if __name__ == "__main__":
    sys.exit(main())
