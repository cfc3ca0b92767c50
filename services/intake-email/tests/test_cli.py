"""``switchboard-email-normalise`` prints one event per message, as the service would publish it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
from intake_email_samples import bounce_mail, gbk_mail, raw_mail

from switchboard_common.events.models import IntakeMessage


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "switchboard_intake_email.cli", *args],
        input=stdin,
        capture_output=True,
        timeout=120,
        check=False,
    )


def test_files_and_directories_become_one_json_event_line_each(tmp_path: Path):
    folder = tmp_path / "maildir" / "cur"
    folder.mkdir(parents=True)
    (folder / "1.eml").write_bytes(gbk_mail())
    (folder / "2.eml").write_bytes(bounce_mail())
    single = tmp_path / "single.eml"
    single.write_bytes(raw_mail("Where is order 5?"))
    result = run(str(single), str(tmp_path / "maildir"), "--account", "email:support")
    assert result.returncode == 0, result.stderr.decode()
    events = [IntakeMessage.model_validate(orjson.loads(line)) for line in result.stdout.splitlines()]
    assert [e.subject for e in events] == [
        "Where is my parcel?",
        "订单还没有发货",
        "Undelivered Mail Returned to Sender",
    ]
    assert {e.channel_account for e in events} == {"email:support"}
    assert events[2].automated is not None and events[1].automated is None


def test_standard_input_is_read_with_a_dash():
    result = run("-", stdin=raw_mail("from stdin"))
    assert result.returncode == 0
    [line] = result.stdout.splitlines()
    assert orjson.loads(line)["text"]["plain"] == "from stdin"


def test_an_unreadable_path_is_reported_and_the_rest_still_printed(tmp_path: Path):
    good = tmp_path / "good.eml"
    good.write_bytes(raw_mail("fine"))
    result = run(str(tmp_path / "missing.eml"), str(good))
    assert result.returncode == 1
    assert b"missing.eml" in result.stderr
    assert len(result.stdout.splitlines()) == 1


def test_the_installed_console_script_runs():
    script = Path(sys.executable).with_name("switchboard-email-normalise")
    result = subprocess.run([str(script), "-"], input=raw_mail("hi"), capture_output=True, timeout=120, check=False)
    assert result.returncode == 0 and orjson.loads(result.stdout)["channel"] == "email"
