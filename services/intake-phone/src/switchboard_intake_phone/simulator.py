"""``switchboard-phone-sim``: be a phone caller without a phone or a Twilio account.

    switchboard-phone-sim voicemail --language zh-Hans --team logistics --transcript "我的快递三天没更新了"
    switchboard-phone-sim voicemail --team billing --no-transcript      # the transcript never comes
    switchboard-phone-sim missed --team orders                          # hang up in the menu: a callback request
    switchboard-phone-sim sms "Where is my order A123-4567?"

It plays Twilio against a running intake-phone: it posts the webhooks Twilio would post for a call
(incoming call, keypad choices, the recording, its transcript, the call's status) or an SMS, each
signed with the auth token exactly as Twilio signs them, follows the TwiML it gets back (printing
what the caller would hear), and then waits for the SMS acknowledgement at the local stand-in for
Twilio's REST API and prints it. With ``make run`` it finds everything in ``.cache/dev``.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode
from xml.etree import ElementTree

import httpx

from switchboard_intake_phone.ivr import IvrConfig, load_ivr_config
from switchboard_intake_phone.twilio_signature import SIGNATURE_HEADER, twilio_signature


def _new_caller() -> str:
    """A fresh number per run: the notifier acknowledges one conversation at most once per 10 minutes."""
    return f"+1415555{secrets.randbelow(10_000):04d}"


@dataclass
class Line:
    """Where the simulated provider posts, and how it signs."""

    phone_url: str
    auth_token: str
    account_sid: str
    number: str
    twilio_api_url: str | None
    client: httpx.Client
    attempts_before: int = 0

    def post(self, url: str, params: dict[str, str]) -> httpx.Response:
        signature = twilio_signature(self.auth_token, url, params.items())
        response = self.client.post(
            url,
            content=urlencode(params),
            headers={"Content-Type": "application/x-www-form-urlencoded", SIGNATURE_HEADER: signature},
        )
        if response.status_code >= 400:
            raise SystemExit(f"{url} answered {response.status_code}: {response.text}")
        return response


def _say(document: ElementTree.Element) -> None:
    """What the caller hears before the call moves on (a prompt after <Record> plays only on silence)."""
    for verb in document:
        for say in [verb] if verb.tag == "Say" else verb.findall("Say") if verb.tag == "Gather" else []:
            print(f"  🔊 [{say.get('language')}] {say.text}")
        if verb.tag in ("Record", "Dial", "Enqueue"):
            return


def _parse(response: httpx.Response) -> ElementTree.Element:
    return ElementTree.fromstring(response.content)  # noqa: S314  (TwiML from our own service)


def _keys(ivr: IvrConfig, language: str | None, team: str | None) -> tuple[str | None, str | None]:
    language_key = next((k for k, v in ivr.language_menu.items() if v.value == language), None) if language else None
    team_key = next((k for k, v in ivr.team_menu.items() if v == team), None) if team else None
    if language and language_key is None:
        raise SystemExit(f"no key for language {language!r} in the IVR menu ({list(ivr.language_menu.values())})")
    if team and team_key is None:
        raise SystemExit(f"no key for team {team!r} in the IVR menu ({list(ivr.team_menu.values())})")
    return language_key, team_key


def call(line: Line, args: argparse.Namespace, *, leave_voicemail: bool) -> str:
    ivr = load_ivr_config(args.ivr_file)
    language = args.language or ivr.greeting_language(line.number, args.country).value
    language_key, team_key = _keys(ivr, language, args.team)
    call_sid = "CA" + secrets.token_hex(16)
    base = {
        "AccountSid": line.account_sid,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid,
        "CallStatus": "in-progress",
        "Direction": "inbound",
        "From": args.caller,
        "To": line.number,
        "Caller": args.caller,
        "Called": line.number,
        "FromCountry": args.country,
    }
    print(f"📞 {args.caller} calls {line.number} (CallSid {call_sid})")
    document = _parse(line.post(f"{line.phone_url}/v1/phone/twilio/voice", {**base, "CallStatus": "ringing"}))
    presses = [key for key in (language_key, team_key) if key is not None]
    hung_up = False
    while True:
        _say(document)
        gather = document.find("Gather")
        if gather is not None:
            if not leave_voicemail and not presses:
                print("  📴 the caller hangs up in the menu")
                hung_up = True
                break
            digits = presses.pop(0) if presses else ""
            print(f"  ☎️  presses {digits or '(nothing)'}")
            document = _parse(line.post(gather.get("action", ""), {**base, "Digits": digits}))
            continue
        dial = document.find("Dial")
        if dial is None:
            dial = document.find("Enqueue")
        if dial is not None:
            outcome = args.agent
            print(f"  ↪️  transfer: {outcome}")
            key = "QueueResult" if dial.tag == "Enqueue" else "DialCallStatus"
            value = {"answered": "completed", "busy": "busy", "no-answer": "no-answer"}[outcome]
            if key == "QueueResult":
                value = {"completed": "bridged", "busy": "queue-full", "no-answer": "leave"}[value]
            document = _parse(line.post(dial.get("action", ""), {**base, key: value}))
            continue
        record = document.find("Record")
        if record is not None and leave_voicemail:
            recording_sid = "RE" + secrets.token_hex(16)
            recording = {
                **base,
                "RecordingSid": recording_sid,
                "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{line.account_sid}/Recordings/{recording_sid}",
                "RecordingDuration": str(args.duration),
            }
            print(f"  🎙️  leaves a voicemail of {args.duration} s")
            document = _parse(line.post(record.get("action", ""), {**recording, "Digits": "#"}))
            _say(document)
            line.post(
                record.get("recordingStatusCallback", ""),
                {
                    **recording,
                    "RecordingStatus": "completed",
                    "RecordingSource": "RecordVerb",
                    "RecordingChannels": "1",
                },
            )
            transcribe = record.get("transcribeCallback")
            if transcribe and not args.no_transcript:
                print(f"  📝 transcript: {args.transcript}")
                line.post(
                    transcribe,
                    {
                        **recording,
                        "TranscriptionSid": "TR" + secrets.token_hex(16),
                        "TranscriptionStatus": "completed",
                        "TranscriptionText": args.transcript,
                        "TranscriptionUrl": f"https://api.twilio.com/2010-04-01/Accounts/{line.account_sid}/Transcriptions/x",
                    },
                )
            elif transcribe:
                print("  📝 (the transcript never comes)")
        break
    status = {**base, "CallStatus": "completed", "CallDuration": "42" if not hung_up else "9"}
    line.post(f"{line.phone_url}/v1/phone/twilio/voice/status", status)
    print("  📴 call ended")
    return str(args.caller)


def sms(line: Line, args: argparse.Namespace) -> str:
    sid = "SM" + secrets.token_hex(16)
    print(f"💬 {args.caller} texts {line.number}: {args.text}")
    line.post(
        f"{line.phone_url}/v1/phone/twilio/sms",
        {
            "AccountSid": line.account_sid,
            "ApiVersion": "2010-04-01",
            "MessageSid": sid,
            "SmsMessageSid": sid,
            "From": args.caller,
            "To": line.number,
            "Body": args.text,
            "NumMedia": "0",
            "NumSegments": "1",
            "FromCountry": args.country,
        },
    )
    return str(args.caller)


def _attempts(line: Line) -> list[dict[str, object]]:
    """Every send the REST API stand-in received (empty when talking to something else)."""
    if not line.twilio_api_url:
        return []
    response = line.client.get(f"{line.twilio_api_url}/standin/attempts")
    return response.json() if response.status_code == 200 else []


def _refused(line: Line, number: str, since: int) -> str | None:
    for attempt in _attempts(line)[since:]:
        form = attempt.get("form")
        status = attempt.get("status")
        if isinstance(form, dict) and form.get("To") == number and isinstance(status, int) and 400 <= status < 500:
            return f"HTTP {status} (a number that cannot receive SMS is recorded as failed, not retried)"
    return None


def wait_for_sms(line: Line, number: str, since: int, timeout: float) -> None:
    if not line.twilio_api_url:
        return
    since_attempts = line.attempts_before
    url = f"{line.twilio_api_url}/2010-04-01/Accounts/{line.account_sid}/Messages.json"
    print(f"⏳ waiting up to {timeout:.0f} s for the SMS acknowledgement to {number} ...")
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        response = line.client.get(url, params={"To": number}, auth=(line.account_sid, line.auth_token))
        messages = response.json().get("messages", []) if response.status_code == 200 else []
        if len(messages) > since:
            print(f"📩 after {time.monotonic() - started:.1f} s: {messages[0]['body']}")
            return
        refused = _refused(line, number, since_attempts)
        if refused:
            print(f"🚫 the SMS API refused the acknowledgement to {number}: {refused}")
            return
        time.sleep(0.5)
    print(
        "no SMS: a conversation acknowledged within the last 10 minutes gets no second one "
        "(NOTIFIER_CONVERSATION_WINDOW); otherwise see `switchboard-ops tail notify.acks.v1`",
        file=sys.stderr,
    )


def _sent_count(line: Line, number: str) -> int:
    if not line.twilio_api_url:
        return 0
    url = f"{line.twilio_api_url}/2010-04-01/Accounts/{line.account_sid}/Messages.json"
    response = line.client.get(url, params={"To": number}, auth=(line.account_sid, line.auth_token))
    return len(response.json().get("messages", [])) if response.status_code == 200 else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="switchboard-phone-sim", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dev-data", type=Path, default=Path(".cache/dev"), help="where `make run` keeps its data")
    parser.add_argument("--url", help="intake-phone's base URL (default: from the dev data)")
    parser.add_argument("--auth-token", help="the Twilio auth token intake-phone verifies (default: dev data)")
    parser.add_argument("--account-sid", help="the Twilio account SID (default: dev data)")
    parser.add_argument("--number", help="our number the caller calls (default: dev data)")
    parser.add_argument("--twilio-api", help="the Twilio REST API stand-in to read the SMS from (default: dev data)")
    parser.add_argument("--caller", default=_new_caller(), help="the caller's number (E.164); a new one by default")
    parser.add_argument("--country", default="US", help="the caller's country (Twilio's FromCountry)")
    parser.add_argument("--wait", type=float, default=90.0, help="seconds to wait for the SMS acknowledgement")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("voicemail", "missed"):
        sub = commands.add_parser(
            name,
            help="a call that ends in a voicemail"
            if name == "voicemail"
            else "a call the caller hangs up in the menu (or nobody answers): a callback request",
        )
        sub.add_argument("--language", help="language to choose in the menu (en, zh-Hans, zh-Hant)")
        sub.add_argument("--team", help="team to choose (orders, logistics, after_sales, billing, tech_support)")
        sub.add_argument(
            "--agent",
            choices=["answered", "busy", "no-answer"],
            default="no-answer",
            help="what happens when the team's line is a transfer",
        )
        sub.add_argument("--ivr-file", type=Path, help="the IVR file intake-phone uses (default: packaged)")
        if name == "voicemail":
            sub.add_argument(
                "--transcript", default="Hi, my parcel has not moved for three days, tracking SF1234567890123."
            )
            sub.add_argument("--no-transcript", action="store_true", help="the transcript never arrives")
            sub.add_argument("--duration", type=int, default=23)
    text = commands.add_parser("sms", help="an inbound SMS")
    text.add_argument("text")
    args = parser.parse_args(argv)

    dev: dict[str, str] = {}
    dev_file = args.dev_data / "phone.json"
    if dev_file.exists():
        dev = json.loads(dev_file.read_text())
    token = args.auth_token or (
        (args.dev_data / "twilio.token").read_text().strip() if (args.dev_data / "twilio.token").exists() else None
    )
    url = args.url or dev.get("phone_url")
    if not url or not token:
        parser.error("start the gateway with `make run` first, or give --url and --auth-token")
    with httpx.Client(timeout=30) as client:
        line = Line(
            phone_url=url.rstrip("/"),
            auth_token=token,
            account_sid=args.account_sid or dev.get("account_sid", "AC" + "0" * 32),
            number=args.number or dev.get("number", "+18005550123"),
            twilio_api_url=args.twilio_api or dev.get("twilio_api_url"),
            client=client,
        )
        before = _sent_count(line, args.caller)
        line.attempts_before = len(_attempts(line))
        if args.command == "sms":
            number = sms(line, args)
        else:
            if args.command == "missed":
                args.no_transcript, args.duration, args.transcript = True, 0, ""
            number = call(line, args, leave_voicemail=args.command == "voicemail")
        wait_for_sms(line, number, before, args.wait)
    return 0


if __name__ == "__main__":
    sys.exit(main())
