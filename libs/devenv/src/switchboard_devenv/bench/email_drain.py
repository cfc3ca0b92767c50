"""The email path: how fast intake-email drains a backlog of thousands of messages from a real IMAP server.

A Dovecot mailbox is filled with N varied customer emails (delivered into its Maildir before the
service starts, as a backlog after an outage would be); intake-email then fetches, normalises,
publishes (waiting for Kafka's acknowledgement) and marks each one processed. Reported: the time
from the service's start to the last event on intake.messages.v1, the events per second, and
whether every message ended up marked processed on the server.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from switchboard_devenv.bench.harness import BenchGateway, cpu_seconds, rss_mib
from switchboard_devenv.bench.pipeline import bench_text
from switchboard_devenv.dovecot import DovecotServer
from switchboard_devenv.processes import ServiceProcess, free_port


def customer_mail(i: int) -> bytes:
    message = EmailMessage()
    message["From"] = f"Customer {i} <customer{i}@example.com>"
    message["To"] = "support@shop.example"
    message["Subject"] = f"Question {i}"
    message["Message-ID"] = make_msgid(idstring=f"bench{i}", domain="example.com")
    message["Date"] = format_datetime(datetime.now(UTC))
    body = bench_text(i) + f"\n\nThanks,\nCustomer {i}\n"
    if i % 3 == 0:
        message.set_content(body, charset="gb18030" if i % 2 == 0 else "utf-8")
    else:
        message.set_content(body)
        message.add_alternative(
            f"<html><body><p>{bench_text(i)}</p><p>Thanks,<br>Customer {i}</p></body></html>", subtype="html"
        )
    return message.as_bytes()


def fill_maildir(server: DovecotServer, user: str, count: int) -> None:
    """Deliver ``count`` messages straight into the user's Maildir (new/), owned as Dovecot expects."""
    root = server.maildir(user)
    for folder in ("cur", "new", "tmp"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    stat = server.mail_root.stat()
    stamp = int(time.time())
    for i in range(count):
        path = root / "new" / f"{stamp}.M{i}P{os.getpid()}.bench"
        path.write_bytes(customer_mail(i))
        os.chown(path, stat.st_uid, stat.st_gid)
    for directory in (root, root / "cur", root / "new", root / "tmp"):
        os.chown(directory, stat.st_uid, stat.st_gid)


async def run(gateway: BenchGateway, count: int, work: Path) -> dict[str, Any]:
    dovecot = DovecotServer(work / "dovecot").start()
    try:
        account = dovecot.account("bench")
        fill_maildir(dovecot, account.username, count)
        mailboxes = work / "mailboxes.yaml"
        mailboxes.write_text(
            "mailboxes:\n  - name: support\n"
            f"    host: {account.host}\n    port: {account.port}\n    tls: none\n"
            f"    username: {account.username}\n    password_env: IMAP_PASSWORD_SUPPORT\n"
            "    poll_interval_seconds: 1\n    addresses: [support@shop.example]\n"
        )
        env = {**gateway.env, "EMAIL_MAILBOXES_FILE": str(mailboxes), "IMAP_PASSWORD_SUPPORT": account.password}
        service = ServiceProcess(
            "intake-email", "switchboard_intake_email.main", port=free_port(), env=env, log_dir=work
        ).start()
        started = time.monotonic()
        cpu_before = cpu_seconds(service.pid or 0) or 0.0
        try:
            from switchboard_devenv.bench.consumers import _timestamps

            first, last, seen = await _timestamps(gateway.kafka, gateway.names("intake.messages.v1"), count, 900)
            drained = time.monotonic() - started
            cpu = (cpu_seconds(service.pid or 0) or 0.0) - cpu_before
            rss = rss_mib(service.pid or 0)
        finally:
            await asyncio.to_thread(service.stop)
        return {
            "messages": count,
            "events": seen,
            "seconds_from_start": round(drained, 1),
            "seconds_first_to_last_event": round(last - first, 1),
            "events_per_second": round(seen / max(last - first, 1e-3), 1),
            "cpu_seconds": round(cpu, 1),
            "rss_mib": round(rss, 1) if rss else None,
        }
    finally:
        dovecot.cleanup()
