"""``switchboard-email-normalise``: raw MIME files to intake events, one JSON line per file.

    switchboard-email-normalise message.eml other.eml        # files
    switchboard-email-normalise ~/Maildir/cur                 # every file in a directory (recursively)
    cat message.eml | switchboard-email-normalise -           # standard input

The same normaliser as the service, so any mail can be checked by hand. A file that cannot be read
is reported on standard error (with a non-zero exit status) and the others are still printed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson

from switchboard_intake_email.normalise import EmailLimits, Mailbox, normalise_email


def _files(paths: list[str]) -> Iterator[Path | None]:
    for given in paths:
        if given == "-":
            yield None
            continue
        path = Path(given)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        else:
            yield path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="switchboard-email-normalise",
        description="Normalise raw MIME messages (files, directories, - for stdin) to intake events, "
        "one JSON line each.",
    )
    parser.add_argument("paths", nargs="+", help="message files, directories of them, or - for standard input")
    parser.add_argument("--account", default="email:cli", help="channel account named in the events")
    parser.add_argument("--own-address", action="append", default=[], help="an address of the mailbox itself")
    parser.add_argument("--max-text-chars", type=int, default=EmailLimits().max_text_chars)
    args = parser.parse_args(argv)
    mailbox = Mailbox(args.account, frozenset(a.lower() for a in args.own_address))
    limits = EmailLimits(max_text_chars=args.max_text_chars)
    failures = 0
    out = sys.stdout.buffer
    for path in _files(args.paths):
        try:
            raw = sys.stdin.buffer.read() if path is None else path.read_bytes()
        except OSError as exc:
            print(f"{path}: {exc.strerror or exc}", file=sys.stderr)
            failures += 1
            continue
        ref = "stdin:" if path is None else path.resolve().as_uri()
        event = normalise_email(raw, mailbox=mailbox, received_at=datetime.now(UTC), limits=limits, raw_ref=ref)
        out.write(orjson.dumps(event.model_dump(mode="json")) + b"\n")
        out.flush()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
