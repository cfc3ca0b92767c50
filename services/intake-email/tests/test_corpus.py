"""Every message in the shared mail corpus is parsed (not merely survived): no fallback to raw text."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson

from switchboard_intake_email.normalise import Mailbox, normalise_email

SKIP = {"SOURCE.md", "SHA256SUMS", "LICENSE", "README.md"}


def corpus_messages(corpus_dir: Path) -> list[Path]:
    root = corpus_dir / "email"
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name not in SKIP and not p.name.startswith("LICENSE"))


def test_every_corpus_email_is_parsed_without_an_exception(corpus_dir: Path):
    files = corpus_messages(corpus_dir)
    assert len(files) > 700, f"expected the whole corpus, found {len(files)} files"
    failures = []
    mailbox = Mailbox("email:corpus")
    for path in files:
        event = normalise_email(path.read_bytes(), mailbox=mailbox, received_at=datetime.now(UTC))
        if "parse_error" in event.provider_ids:
            failures.append(f"{path.relative_to(corpus_dir)}: {event.provider_ids['parse_error']}")
        orjson.dumps(event.model_dump(mode="json"))
    assert not failures, "\n".join(failures[:20])


def test_the_corpus_chinese_spam_is_read_as_chinese(corpus_dir: Path):
    folder = corpus_dir / "email" / "parser_fixtures" / "spamscope_mail-parser"
    events = [
        normalise_email(p.read_bytes(), mailbox=Mailbox("email:corpus"), received_at=datetime.now(UTC))
        for p in sorted(folder.glob("mail_test_*"))
    ]
    chinese = [e for e in events if any("\u4e00" <= ch <= "\u9fff" for ch in (e.subject or "") + e.text.plain)]
    assert len(chinese) >= 2, "the GB2312 samples (mail_test_9, mail_test_12) should decode to Chinese"
