"""Trying the chat providers locally, without the real providers: ``switchboard-chat-sim``.

``switchboard-dev`` (``make run``) turns Slack, WhatsApp, Messenger, Telegram, WeChat, WeCom and LINE
on with development credentials of its own (kept in ``<data>/chat-sim.json``) and points the notifier
at local stand-ins of the providers' APIs, which print every acknowledgement on its console.
``switchboard-chat-sim`` plays the customer: it builds the provider's webhook request, signs (and for
WeChat encrypts) it the way the provider does, and posts it to the running gateway.

    switchboard-chat-sim slack "I was charged twice for order A123-4567"
    switchboard-chat-sim whatsapp "我的快递三天没更新了，单号SF1234567890123" --name 李雷
    switchboard-chat-sim messenger "I cannot log in to my account"
    switchboard-chat-sim telegram "我的訂單還沒出貨，訂單號 A123-4567" --language zh-TW
    switchboard-chat-sim wechat "我的快递三天没更新了，单号SF1234567890123"
    switchboard-chat-sim wecom "I was charged twice for order A123-4567"
    switchboard-chat-sim line "我的包裹還沒到，請幫忙查詢"

A customer answers a satisfaction request by pressing one of its rating buttons with ``--rate``:

    switchboard-chat-sim telegram --rate 5 --case SB-78T-JAF-TKG
    switchboard-chat-sim slack --rate 4 --case SB-78T-JAF-TKG --thread 1700000000.000100
    switchboard-chat-sim whatsapp --rate 3 --case SB-78T-JAF-TKG --list   # a list row, not a reply button

The press is posted as the provider reports it (Slack interactivity, Telegram callback query, LINE
postback, WhatsApp interactive reply, Messenger quick reply or ``--postback``), carrying the value the
notifier's buttons carry; use the same ``--from`` (and for Slack the ``--thread``) as the messages.
WeChat and WeCom have no buttons: the customer types the digit (``switchboard-chat-sim wechat 4``).

A provider whose credentials are already set in the environment (``SLACK_SIGNING_SECRET``,
``WECHAT_TOKEN``, ...) is left to that configuration: the runner sets none of its simulated variables,
so it can be pointed at a real provider.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from switchboard_common.case_reference import InvalidCaseReference, normalise_case_reference
from switchboard_common.satisfaction import rating_payload
from switchboard_devenv.chat_payloads import (
    messenger_postback,
    messenger_quick_reply,
    messenger_text,
    meta_request,
    slack_block_actions,
    slack_interaction_request,
    slack_message_event,
    slack_request,
    telegram_callback_query_update,
    telegram_request,
    telegram_text_update,
    whatsapp_interactive_reply,
    whatsapp_text,
)
from switchboard_devenv.line_standin import LineApiState, line_signature, postback_event, text_event, webhook_body
from switchboard_devenv.provider_standins import ProviderStandIns, base_urls
from switchboard_devenv.standin_log import ProviderCall
from switchboard_devenv.twilio_api import TwilioApiState
from switchboard_devenv.wechat_standin import (
    WeChatApiState,
    encrypted_request,
    kf_notification,
    new_encoding_aes_key,
    text_push,
)


@dataclass(frozen=True, slots=True)
class SimulatedProvider:
    """One provider's simulated configuration: its credentials, and its API base URL on the stand-ins."""

    credentials: tuple[str, ...]
    base_url: str


SIMULATED = {
    "slack": SimulatedProvider(("SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN"), "SLACK_API_BASE_URL"),
    "meta": SimulatedProvider(
        ("META_APP_SECRET", "META_VERIFY_TOKEN", "WHATSAPP_ACCESS_TOKEN", "MESSENGER_PAGE_ACCESS_TOKEN"),
        "META_GRAPH_BASE_URL",
    ),
    "telegram": SimulatedProvider(("TELEGRAM_SECRET_TOKEN", "TELEGRAM_BOT_TOKEN"), "TELEGRAM_API_BASE_URL"),
    "wechat": SimulatedProvider(
        ("WECHAT_TOKEN", "WECHAT_APP_ID", "WECHAT_ENCODING_AES_KEY", "WECHAT_APP_SECRET"), "WECHAT_API_BASE_URL"
    ),
    "wecom": SimulatedProvider(
        ("WECOM_TOKEN", "WECOM_CORP_ID", "WECOM_ENCODING_AES_KEY", "WECOM_SECRET"), "WECOM_API_BASE_URL"
    ),
    "line": SimulatedProvider(("LINE_CHANNEL_SECRET", "LINE_CHANNEL_ACCESS_TOKEN"), "LINE_API_BASE_URL"),
}
SECRET_NAMES = tuple(name for provider in SIMULATED.values() for name in provider.credentials)
SECRETS_FILE = "chat-sim.json"
RUNNING_FILE = "chat.json"
"""Where ``switchboard-dev`` writes the URLs of intake-chat and the stand-ins for the simulator."""

PROVIDERS = ("slack", "whatsapp", "messenger", "telegram", "wechat", "wecom", "line")
SIMULATED_AS = {"whatsapp": "meta", "messenger": "meta"}
"""Providers configured together (one Meta app serves WhatsApp and Messenger)."""

# The simulated accounts: a Slack workspace, a WhatsApp business number, a Facebook page, a bot, a kf account.
SLACK_TEAM, SLACK_CHANNEL = "T0SIMULATED", "C0SUPPORT"
WHATSAPP_NUMBER_ID = "100000000000001"
MESSENGER_PAGE = "200000000000002"
WECOM_KF_ACCOUNT = "wk-demo"


def _new_credential(name: str) -> str:
    if name == "TELEGRAM_BOT_TOKEN":
        return f"4242:{secrets.token_urlsafe(24)}"
    if name.endswith("_ENCODING_AES_KEY"):
        return new_encoding_aes_key()
    if name == "WECHAT_APP_ID":
        return "wxdev" + secrets.token_hex(6)
    if name == "WECOM_CORP_ID":
        return "wwdev" + secrets.token_hex(6)
    return secrets.token_urlsafe(24)


def load_secrets(data: Path, *, create: bool) -> dict[str, str]:
    """The simulated channels' credentials: from the environment, else the data folder (made when ``create``)."""
    path = data / SECRETS_FILE
    stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    missing = [name for name in SECRET_NAMES if name not in stored]
    if missing and create:
        stored |= {name: _new_credential(name) for name in missing}
        data.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(stored, indent=2))
        path.chmod(0o600)
    return {name: os.environ.get(name) or stored.get(name, "") for name in SECRET_NAMES}


class SimulatedChannels:
    """The chat channels of the local gateway: development credentials, and the stand-ins' provider states."""

    def __init__(self, data: Path) -> None:
        self._secrets = load_secrets(data, create=True)
        self._configured = {
            name for name, provider in SIMULATED.items() if any(os.environ.get(c) for c in provider.credentials)
        }

    def standins(
        self, on_delivery: Callable[[ProviderCall], None], twilio: TwilioApiState | None = None
    ) -> ProviderStandIns:
        """Stand-ins of every provider's API that accept these credentials (and Twilio's, if given)."""
        return ProviderStandIns(
            on_delivery,
            wechat=WeChatApiState(),
            wechat_secrets=(self._secrets["WECHAT_APP_SECRET"], self._secrets["WECOM_SECRET"]),
            line=LineApiState(access_token=self._secrets["LINE_CHANNEL_ACCESS_TOKEN"]),
            twilio=twilio,
        )

    def env(self, standins_root: str) -> dict[str, str]:
        """The services' environment: each simulated provider's credentials and stand-in API."""
        urls = base_urls(standins_root)
        env: dict[str, str] = {}
        for name, provider in SIMULATED.items():
            if name not in self._configured:
                env |= {c: self._secrets[c] for c in provider.credentials}
                env[provider.base_url] = urls[provider.base_url]
        return env

    def banner(self, standins_root: str, data_option: str = "") -> str:
        """What a person needs to play a chat customer: the simulated providers and a command for each kind."""
        simulated = [p for p in PROVIDERS if SIMULATED_AS.get(p, p) not in self._configured]
        sim = f"uv run switchboard-chat-sim{data_option}"
        return (
            f"  Provider API stand-ins:        {standins_root} (acknowledgements print here)\n"
            f'  Be a chat customer:            {sim} <{"|".join(simulated)}> "text"\n'
            f'      e.g. {sim} slack "I was charged twice for order A123-4567"\n'
            f'           {sim} wechat "我的快递三天没更新了，单号SF1234567890123"\n'
            f'           {sim} line "我的包裹還沒到，請幫忙查詢"\n'
            f"  Press a rating button:         {sim} <provider> --rate 1-5 --case <case reference>\n"
        )

    @staticmethod
    def write_running(data: Path, chat_url: str, standins_url: str) -> None:
        (data / RUNNING_FILE).write_text(json.dumps({"chat_url": chat_url, "standins_url": standins_url}))


# -- the customer's side ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    path: str
    body: bytes
    headers: dict[str, str]
    params: dict[str, str] | None = None


def build_request(
    args: argparse.Namespace, keys: dict[str, str], standins: str | None, client: httpx.Client
) -> WebhookRequest:
    """The provider's webhook request for the command line's message (or rating button press)."""
    if args.rate is not None:
        return build_press(args, keys, standins, client)
    now = time.time()
    if args.provider == "slack":
        payload = slack_message_event(
            team=SLACK_TEAM,
            channel=args.channel or SLACK_CHANNEL,
            channel_type="channel",
            user=args.sender or "U0CUSTOMER1",
            text=args.text,
            ts=f"{now:.6f}",
            thread_ts=args.thread,
        )
        if args.name:
            payload["event"]["user_profile"] = {"display_name": args.name, "real_name": args.name}
        return WebhookRequest("/v1/slack/events", *slack_request(keys["SLACK_SIGNING_SECRET"], payload))
    if args.provider == "whatsapp":
        payload = whatsapp_text(
            phone_number_id=WHATSAPP_NUMBER_ID,
            wa_id=args.sender or "8613800138000",
            name=args.name or "Alex Chan",
            text=args.text,
            message_id=f"wamid.{uuid.uuid4().hex}",
        )
        return WebhookRequest("/v1/whatsapp/webhook", *meta_request(keys["META_APP_SECRET"], payload))
    if args.provider == "messenger":
        payload = messenger_text(
            page_id=MESSENGER_PAGE, psid=args.sender or "6000000000000001", text=args.text, mid=f"m_{uuid.uuid4().hex}"
        )
        return WebhookRequest("/v1/messenger/webhook", *meta_request(keys["META_APP_SECRET"], payload))
    if args.provider == "telegram":
        chat = int(args.sender) if args.sender and args.sender.lstrip("-").isdigit() else 700000001
        update = telegram_text_update(
            update_id=int(now * 10) % 2_000_000_000,
            chat_id=chat,
            message_id=int(now) % 1_000_000,
            text=args.text,
            first_name=args.name or "Alex",
            language_code=args.language,
        )
        return WebhookRequest("/v1/telegram/webhook", *telegram_request(keys["TELEGRAM_SECRET_TOKEN"], update))
    if args.provider == "wechat":
        xml = text_push(args.text, openid=args.sender or "o-demo-customer")
        signed = encrypted_request(keys["WECHAT_TOKEN"], keys["WECHAT_ENCODING_AES_KEY"], keys["WECHAT_APP_ID"], xml)
        return WebhookRequest("/v1/wechat/callback", signed.body, {"Content-Type": "text/xml"}, signed.params)
    if args.provider == "wecom":
        if not standins:
            raise SystemExit("wecom: the customer's message is pulled from the WeChat API stand-in; run `make run`")
        # WeCom's callback only says that messages are waiting: put the customer's where kf/sync_msg finds it.
        message = {
            "msgid": "sim-" + secrets.token_hex(8),
            "open_kfid": WECOM_KF_ACCOUNT,
            "external_userid": args.sender or "wm-demo-customer",
            "send_time": int(now),
            "origin": 3,
            "msgtype": "text",
            "text": {"content": args.text},
        }
        client.post(f"{standins}/wechat/_standin/kf_messages", json=message).raise_for_status()
        xml = kf_notification(keys["WECOM_CORP_ID"], secrets.token_hex(8), WECOM_KF_ACCOUNT)
        signed = encrypted_request(
            keys["WECOM_TOKEN"], keys["WECOM_ENCODING_AES_KEY"], keys["WECOM_CORP_ID"], xml, wecom=True
        )
        return WebhookRequest("/v1/wecom/callback", signed.body, {"Content-Type": "text/xml"}, signed.params)
    # LINE: with a reply token from the stand-in when there is one (the notifier then replies instead of pushing).
    reply_token = client.post(f"{standins}/line/_standin/reply_token").json()["replyToken"] if standins else None
    body = webhook_body([text_event(args.text, user_id=args.sender or "Udemocustomer", reply_token=reply_token)])
    signature = line_signature(keys["LINE_CHANNEL_SECRET"], body)
    return WebhookRequest("/v1/line/webhook", body, {"X-Line-Signature": signature, "Content-Type": "application/json"})


DEFAULT_SENDERS = {
    "slack": "U0CUSTOMER1",
    "whatsapp": "8613800138000",
    "messenger": "6000000000000001",
    "telegram": "700000001",
    "line": "Udemocustomer",
}


def build_press(
    args: argparse.Namespace, keys: dict[str, str], standins: str | None, client: httpx.Client
) -> WebhookRequest:
    """The provider's report of a rating button pressed: the value every rating button carries."""
    if args.provider in ("wechat", "wecom"):
        raise SystemExit(f"{args.provider} has no buttons: the customer types the digit, e.g. `{args.provider} 4`")
    if not args.case:
        raise SystemExit("--rate needs --case: the case reference of the satisfaction request")
    try:
        case = normalise_case_reference(args.case)
    except InvalidCaseReference as exc:
        raise SystemExit(f"--case: {exc}") from None
    value = rating_payload(case, args.rate)
    label = "★" * args.rate
    sender = args.sender or DEFAULT_SENDERS[args.provider]
    now = time.time()
    if args.provider == "slack":
        if not args.thread:
            raise SystemExit("slack --rate needs --thread: the ts of the customer's thread the request was posted in")
        payload = slack_block_actions(
            team=SLACK_TEAM,
            channel=args.channel or SLACK_CHANNEL,
            user=sender,
            value=value,
            message_ts=f"{now:.6f}",
            thread_ts=args.thread,
            label=label,
        )
        return WebhookRequest(
            "/v1/slack/interactivity", *slack_interaction_request(keys["SLACK_SIGNING_SECRET"], payload)
        )
    if args.provider == "whatsapp":
        payload = whatsapp_interactive_reply(
            phone_number_id=WHATSAPP_NUMBER_ID,
            wa_id=sender,
            reply_id=value,
            title=label,
            message_id=f"wamid.{uuid.uuid4().hex}",
            kind="list_reply" if args.list else "button_reply",
            name=args.name or "Alex Chan",
        )
        return WebhookRequest("/v1/whatsapp/webhook", *meta_request(keys["META_APP_SECRET"], payload))
    if args.provider == "messenger":
        if args.postback:
            payload = messenger_postback(page_id=MESSENGER_PAGE, psid=sender, title=label, payload=value)
        else:
            payload = messenger_quick_reply(
                page_id=MESSENGER_PAGE, psid=sender, mid=f"m_{uuid.uuid4().hex}", text=label, payload=value
            )
        return WebhookRequest("/v1/messenger/webhook", *meta_request(keys["META_APP_SECRET"], payload))
    if args.provider == "telegram":
        chat = int(sender) if sender.lstrip("-").isdigit() else 700000001
        update = telegram_callback_query_update(
            update_id=int(now * 10) % 2_000_000_000,
            query_id=uuid.uuid4().hex[:18],
            chat_id=chat,
            message_id=int(now) % 1_000_000,
            data=value,
            first_name=args.name or "Alex",
            language_code=args.language,
        )
        return WebhookRequest("/v1/telegram/webhook", *telegram_request(keys["TELEGRAM_SECRET_TOKEN"], update))
    reply_token = client.post(f"{standins}/line/_standin/reply_token").json()["replyToken"] if standins else None
    body = webhook_body([postback_event(value, user_id=sender, reply_token=reply_token)])
    signature = line_signature(keys["LINE_CHANNEL_SECRET"], body)
    return WebhookRequest("/v1/line/webhook", body, {"X-Line-Signature": signature, "Content-Type": "application/json"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="switchboard-chat-sim",
        description="Send a message to the local gateway as a chat provider would (signed, and for WeChat encrypted).",
    )
    parser.add_argument("provider", choices=PROVIDERS)
    parser.add_argument("text", nargs="?", help="what the customer writes (not with --rate)")
    parser.add_argument("--data", type=Path, default=Path(".cache/dev"), help="the local gateway's data folder")
    parser.add_argument("--url", help="intake-chat (default: the local gateway's, else http://127.0.0.1:8000)")
    parser.add_argument("--standins", help="the provider API stand-ins (default: the local gateway's)")
    parser.add_argument(
        "--from", dest="sender", help="Slack user id, WhatsApp number, PSID, Telegram chat id, openid or LINE user id"
    )
    parser.add_argument("--name", help="the customer's display name")
    parser.add_argument("--channel", help="Slack channel id (default C0SUPPORT)")
    parser.add_argument("--thread", help="Slack: reply in this thread (the ts the gateway acknowledged in)")
    parser.add_argument("--language", default="en", help="Telegram: the app's language code (zh-hans, zh-hant, en)")
    parser.add_argument(
        "--rate", type=int, choices=range(1, 6), help="press the rating button with this score (1-5) instead"
    )
    parser.add_argument("--case", help="with --rate: the case reference the satisfaction request asked about")
    parser.add_argument("--list", action="store_true", help="WhatsApp --rate: a list row instead of a reply button")
    parser.add_argument(
        "--postback", action="store_true", help="Messenger --rate: a postback button, not a quick reply"
    )
    args = parser.parse_args(argv)
    if (args.text is None) == (args.rate is None):
        parser.error("give the customer's text, or --rate with --case (not both)")

    keys = load_secrets(args.data, create=False)
    if not all(keys.values()):
        print(f"no secrets in {args.data / SECRETS_FILE}: start the gateway with `make run` first", file=sys.stderr)
        return 2
    running_file = args.data / RUNNING_FILE
    running = json.loads(running_file.read_text()) if running_file.exists() else {}
    url = (args.url or running.get("chat_url") or "http://127.0.0.1:8000").rstrip("/")
    standins = args.standins or running.get("standins_url")
    try:
        with httpx.Client(timeout=15) as client:
            request = build_request(args, keys, standins, client)
            response = client.post(
                f"{url}{request.path}", params=request.params, content=request.body, headers=request.headers
            )
    except httpx.HTTPError as exc:
        print(f"could not reach {url}: {exc}", file=sys.stderr)
        return 1
    print(f"{args.provider}: {response.status_code} {response.text[:200]}".rstrip())
    if response.status_code == 200 and args.rate is not None:
        print(f"rating {args.rate}/5 accepted; the notifier records it if it asked this conversation for one")
    elif response.status_code == 200:
        print("accepted; the acknowledgement appears in the gateway's console within seconds")
    return 0 if response.is_success else 1


if __name__ == "__main__":
    sys.exit(main())
