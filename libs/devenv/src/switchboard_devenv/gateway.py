"""``switchboard-dev``: the whole gateway on this machine, Kafka included, with demo channels to try.

    switchboard-dev [--data DIR] [--chat-port 8000]

Starts a real Kafka broker (jars from Maven Central, cached), creates the topics from the plan, starts
every service as its own process, and prints where to talk to it. The providers' APIs are local
stand-ins, one server (``--chat-port`` + 100) that prints every acknowledgement it receives:
``switchboard-chat-sim`` plays a chat customer (Slack, WhatsApp, Messenger, Telegram, WeChat, WeCom,
LINE; it reads ``DIR/chat-sim.json`` and ``DIR/chat.json``), ``switchboard-phone-sim`` a Twilio caller
(``DIR/phone.json`` and the generated auth token), and the stand-in for Twilio's REST API receives the
SMS acknowledgements (``DIR/sms-outbox.jsonl``). Email: acknowledgements go to a local SMTP sink that
writes them to ``DIR/outbox/*.eml``; if Dovecot is installed, a local IMAP mailbox (``support``) is watched
too; the raw-MIME inbound endpoint takes a token from ``DIR``. Ctrl-C (or SIGTERM) stops everything. Logs are in
``DIR/logs``; the broker's data stays in ``DIR/kafka`` so a restart keeps the conversations. Set
``KAFKA_BOOTSTRAP_SERVERS`` to use an existing cluster instead of the local broker.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import secrets
import signal
import sys
import threading
import time
from pathlib import Path

from switchboard_common.settings import KafkaSettings
from switchboard_common.topics import TopicNames, ensure_topics, load_topic_plan, plan_topics
from switchboard_devenv.asgi import app_in_thread
from switchboard_devenv.chat_sim import SimulatedChannels
from switchboard_devenv.dovecot import DovecotServer, dovecot_binary
from switchboard_devenv.kafka_broker import KafkaBroker
from switchboard_devenv.processes import ServiceProcess, free_port
from switchboard_devenv.services import SERVICES
from switchboard_devenv.smtp_sink import SmtpSink
from switchboard_devenv.standin_log import ProviderCall, describe
from switchboard_devenv.twilio_api import TwilioApiState

SUPPORT_ADDRESS = "support@switchboard.localhost"


def service_ports(first_port: int) -> dict[str, int]:
    """Public services get ``first_port`` onwards (intake-chat first); the others follow from ``first_port + 101``."""
    ports, public, internal = {}, first_port, first_port + 101
    for service in SERVICES:
        if service.public:
            ports[service.name] = public
            public += 1
        else:
            ports[service.name] = internal
            internal += 1
    return ports


STANDINS_PORT_OFFSET = 100  # the providers' API stand-ins: first_port + 100
DEV_PHONE_NUMBER = "+18005550123"  # the number the simulated callers call


def phone_env(data: Path, standins_root: str) -> dict[str, str]:
    """Credentials of the local phone channel: Twilio's webhooks, and its REST API (SMS) on the stand-ins."""
    account_file = data / "twilio.account"
    if not account_file.exists():
        account_file.write_text("AC" + secrets.token_hex(16))
    return {
        "TWILIO_ACCOUNT_SID": account_file.read_text().strip(),
        "TWILIO_AUTH_TOKEN": _secret(data / "twilio.token"),
        "TWILIO_API_BASE_URL": f"{standins_root}/twilio",
        "PBX_WEBHOOK_SECRET": _secret(data / "pbx.secret"),
    }


def print_acknowledgement(call: ProviderCall) -> None:
    print(f"\n{describe(call)}", flush=True)


def _secret(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(32)
    path.write_text(value)
    path.chmod(0o600)
    return value


def _stored_port(path: Path) -> int:
    port = int(path.read_text()) if path.exists() else free_port()
    path.write_text(str(port))
    return port


class LocalMail:
    """The email channel on this machine: an SMTP sink for acknowledgements, and a Dovecot mailbox if installed."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.outbox = data / "outbox"
        self.sink: SmtpSink | None = None
        self.dovecot: DovecotServer | None = None
        self.imap_password = ""
        self.inbound_token = os.environ.get("EMAIL_INBOUND_TOKEN") or _secret(data / "email-inbound.token")
        # Signs (notifier) and verifies (intake-email) the satisfaction rating links of emails.
        self.rating_link_secret = os.environ.get("SATISFACTION_LINK_SECRET") or _secret(data / "rating-link.secret")

    def start(self) -> dict[str, str]:
        env = {"EMAIL_INBOUND_TOKEN": self.inbound_token, "EMAIL_OWN_ADDRESSES": f'["{SUPPORT_ADDRESS}"]'}
        env["SATISFACTION_LINK_SECRET"] = self.rating_link_secret
        if not os.environ.get("SMTP_HOST"):
            self.sink = SmtpSink(port=_stored_port(self.data / "smtp.port"), outbox=self.outbox).start()
            env |= {
                "SMTP_HOST": self.sink.host,
                "SMTP_PORT": str(self.sink.port),
                "SMTP_TLS_MODE": "none",
                "SMTP_FROM": f"Switchboard Support <{SUPPORT_ADDRESS}>",
            }
        if dovecot_binary() is not None and not os.environ.get("EMAIL_MAILBOXES_FILE"):
            try:
                self.dovecot = DovecotServer(
                    self.data / "dovecot",
                    port=_stored_port(self.data / "imap.port"),
                    password=_secret(self.data / "imap.password"),
                ).start()
            except (OSError, RuntimeError, TimeoutError) as exc:
                print(f"  (no local mailbox: Dovecot did not start: {exc})", flush=True)
                self.dovecot = None
        if self.dovecot is not None:
            self.imap_password = self.dovecot.account("support").password
            mailboxes = self.data / "mailboxes.yaml"
            mailboxes.write_text(
                "mailboxes:\n"
                "  - name: support\n"
                f"    host: {self.dovecot.host}\n"
                f"    port: {self.dovecot.port}\n"
                "    tls: none\n"
                "    username: support\n"
                "    password_env: IMAP_PASSWORD_SUPPORT\n"
                "    poll_interval_seconds: 10\n"
                f"    addresses: [{SUPPORT_ADDRESS}]\n"
            )
            env |= {"EMAIL_MAILBOXES_FILE": str(mailboxes), "IMAP_PASSWORD_SUPPORT": self.imap_password}
        return env

    def banner(self, intake_email: ServiceProcess | None) -> str:
        lines = []
        if intake_email is not None:
            lines.append(
                f"  Email inbound (raw MIME):      curl -H 'Authorization: Bearer {self.inbound_token}' "
                f"--data-binary @message.eml {intake_email.url}/v1/email/inbound\n"
            )
        if self.dovecot is not None:
            lines.append(
                f"  Email mailbox (IMAP):          curl -u support:{self.imap_password} -T message.eml "
                f"imap://{self.dovecot.host}:{self.dovecot.port}/INBOX\n"
            )
        if self.sink is not None:
            lines.append(f"  Email acknowledgements:        {self.outbox}/*.eml (SMTP on port {self.sink.port})\n")
        return "".join(lines)

    def stop(self) -> None:
        if self.dovecot is not None:
            self.dovecot.stop()
        if self.sink is not None:
            self.sink.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="switchboard-dev", description="Run the whole gateway locally.")
    parser.add_argument("--data", type=Path, default=Path(".cache/dev"), help="where the broker data and logs live")
    parser.add_argument("--chat-port", type=int, default=8000)
    args = parser.parse_args(argv)
    data: Path = args.data.resolve()
    logs = data / "logs"
    logs.mkdir(parents=True, exist_ok=True)

    broker: KafkaBroker | None = None
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        port_file = data / "kafka.port"
        port = int(port_file.read_text()) if port_file.exists() else free_port()
        port_file.write_text(str(port))
        broker = KafkaBroker(data / "kafka", port=port)
        print(f"starting Kafka (data in {broker.data_dir}) ...", flush=True)
        broker.start()
        bootstrap = broker.bootstrap_servers
    kafka = KafkaSettings(bootstrap_servers=bootstrap)
    report = asyncio.run(ensure_topics(kafka, plan_topics(load_topic_plan(), TopicNames(kafka.topic_prefix))))
    print(f"Kafka at {bootstrap}; topics: {len(report.created)} created, {len(report.unchanged)} present", flush=True)

    chat_channels = SimulatedChannels(data)
    ports = service_ports(args.chat_port)
    standins_port = args.chat_port + STANDINS_PORT_OFFSET
    standins_root = f"http://127.0.0.1:{standins_port}"
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "LOG_JSON": os.environ.get("LOG_JSON", "false"),
        "WEBCHAT_SESSION_SECRET": os.environ.get("WEBCHAT_SESSION_SECRET") or _secret(data / "webchat.secret"),
        "CONSUMER_INSTANCE_ID": "dev",
        **chat_channels.env(standins_root),
        **phone_env(data, standins_root),
    }
    mail = LocalMail(data)
    env |= mail.start()
    if "intake-email" in ports:  # the email rating links in satisfaction requests point at the local rating page
        env.setdefault("EMAIL_PUBLIC_BASE_URL", f"http://127.0.0.1:{ports['intake-email']}")
    twilio = TwilioApiState(
        account_sid=env["TWILIO_ACCOUNT_SID"], auth_token=env["TWILIO_AUTH_TOKEN"], outbox=data / "sms-outbox.jsonl"
    )
    standins = chat_channels.standins(print_acknowledgement, twilio=twilio)
    running = contextlib.ExitStack()
    running.callback(mail.stop)
    running.enter_context(app_in_thread(standins.app, port=standins_port))
    chat_url = f"http://127.0.0.1:{ports['intake-chat']}"
    chat_channels.write_running(data, chat_url, standins_root)
    processes: list[ServiceProcess] = []
    for service in SERVICES:
        if importlib.util.find_spec(service.module) is None:
            print(f"  (skipping {service.name}: not installed)")
            continue
        processes.append(
            ServiceProcess(service.name, service.module, port=ports[service.name], env=env, log_dir=logs).start()
        )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        for process in processes:
            process.wait_ready(90, port_retries=0)  # the ports the person asked for, or a clear error
        chat = next(p for p in processes if p.name == "intake-chat")
        phone = next((p for p in processes if p.name == "intake-phone"), None)
        phone_lines = ""
        custom_data = args.data != parser.get_default("data")
        phone_sim = "uv run switchboard-phone-sim" + (f" --dev-data {data}" if custom_data else "")
        if phone is not None:
            (data / "phone.json").write_text(
                json.dumps(
                    {
                        "phone_url": phone.url,
                        "twilio_api_url": f"{standins_root}/twilio",
                        "account_sid": env["TWILIO_ACCOUNT_SID"],
                        "number": DEV_PHONE_NUMBER,
                    }
                )
            )
            phone_lines = (
                f"  Phone webhooks (Twilio):       {phone.url}/v1/phone/twilio/voice, .../sms\n"
                f"  Be a caller:                   {phone_sim} voicemail --language zh-Hans --team logistics\n"
                f"  SMS sent to callers:           {data / 'sms-outbox.jsonl'} (and printed here)\n"
            )
        intake_email = next((p for p in processes if p.name == "intake-email"), None)
        print(
            "\nSwitchboard is running.\n"
            f"  Web chat (open in a browser):  {chat.url}/\n"
            f"  Chat HTTP API:                 {chat.url}/docs\n"
            + phone_lines
            + mail.banner(intake_email)
            + "".join(f"  {p.name:<30} {p.url}/readyz  {p.url}/metrics\n" for p in processes)
            + chat_channels.banner(standins_root, f" --data {data}" if custom_data else "")
            + f"  Logs:                          {logs}\n"
            f"  Topics:   export KAFKA_BOOTSTRAP_SERVERS={bootstrap}; uv run switchboard-ops tail dept.logistics.v1\n"
            "Ctrl-C stops everything.",
            flush=True,
        )
        while not stop.is_set():
            for process in processes:
                if not process.running:
                    print(f"{process.name} exited ({process.returncode}); see {process.log_path}", file=sys.stderr)
                    stop.set()
            stop.wait(1)
    except KeyboardInterrupt:
        pass
    finally:
        print("stopping ...", flush=True)
        for process in reversed(processes):
            process.stop()
        running.close()
        if broker is not None:
            broker.stop()
        time.sleep(0.1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
