"""A thin adapter over aioimaplib: the few IMAP operations a mailbox watcher needs, with timeouts.

Every method raises :class:`ImapError` (or ``TimeoutError``/``OSError``) when the server does not
answer as expected; the watcher then reconnects with backoff. Messages are fetched with
``BODY.PEEK[]`` so that ``\\Seen`` is never touched: people read these mailboxes too.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime

import aioimaplib
from aioimaplib import Command

from switchboard_intake_email.settings import MailboxConfig

_UID = re.compile(rb"\bUID (\d+)")
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")
_INTERNALDATE = re.compile(rb'\bINTERNALDATE "([^"]+)"')
_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")
_PERMANENTFLAGS = re.compile(rb"\[PERMANENTFLAGS \(([^)]*)\)\]")


class ImapError(Exception):
    """The server refused a command or answered something unexpected."""


@dataclass(frozen=True, slots=True)
class MessageInfo:
    """What is known about a message before its content is fetched."""

    uid: int
    size: int
    internal_date: datetime | None


@dataclass(frozen=True, slots=True)
class SelectedFolder:
    uidvalidity: int | None
    keywords_allowed: bool


def _ok(response: aioimaplib.Response, what: str) -> aioimaplib.Response:
    if response.result != "OK":
        detail = b" ".join(line for line in response.lines if isinstance(line, bytes))[:300]
        raise ImapError(f"{what}: {response.result} {detail.decode('utf-8', 'replace')}")
    return response


def parse_internaldate(text: str) -> datetime | None:
    try:
        return datetime.strptime(text, "%d-%b-%Y %H:%M:%S %z").astimezone(UTC)
    except ValueError:
        return None


def uid_set(uids: list[int]) -> str:
    return ",".join(str(uid) for uid in uids)


def _ssl_context(config: MailboxConfig) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(config.ca_file) if config.ca_file else None)
    if not config.tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class ImapConnection:
    """One logged-in IMAP connection with one folder selected."""

    def __init__(self, config: MailboxConfig, password: str) -> None:
        self.config = config
        self._password = password
        self._client: aioimaplib.IMAP4 | None = None
        self.lost = asyncio.Event()

    @property
    def client(self) -> aioimaplib.IMAP4:
        if self._client is None:
            raise ImapError("not connected")
        return self._client

    def has(self, capability: str) -> bool:
        return self._client is not None and self._client.has_capability(capability)

    async def connect(self) -> SelectedFolder:
        config = self.config
        timeout = config.timeout_seconds
        if config.tls == "tls":
            self._client = aioimaplib.IMAP4_SSL(
                host=config.host, port=config.effective_port, timeout=timeout, ssl_context=_ssl_context(config)
            )
        else:
            self._client = aioimaplib.IMAP4(
                host=config.host,
                port=config.effective_port,
                timeout=timeout,
                conn_lost_cb=lambda _exc: self.lost.set(),
            )
        await self._client.wait_hello_from_server()
        if config.tls == "starttls":
            await self._starttls()
        _ok(await self._client.login(config.username, self._password), "LOGIN")
        return await self._select()

    async def _starttls(self) -> None:
        # aioimaplib has no STARTTLS: send the command, then upgrade the transport in place (RFC 3501 6.2.1).
        client = self.client
        protocol = client.protocol
        if "STARTTLS" not in protocol.capabilities:
            raise ImapError("the server does not offer STARTTLS")
        command = Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)
        _ok(await asyncio.wait_for(protocol.execute(command), self.config.timeout_seconds), "STARTTLS")
        loop = asyncio.get_running_loop()
        transport = await asyncio.wait_for(
            loop.start_tls(protocol.transport, protocol, _ssl_context(self.config), server_hostname=self.config.host),
            self.config.timeout_seconds,
        )
        protocol.transport = transport
        await asyncio.wait_for(protocol.capability(), self.config.timeout_seconds)  # capabilities change after TLS

    async def _select(self) -> SelectedFolder:
        response = _ok(await self.client.select(self.config.folder), f"SELECT {self.config.folder}")
        uidvalidity = None
        keywords_allowed = False
        for line in response.lines:
            if not isinstance(line, bytes | bytearray):
                continue
            if match := _UIDVALIDITY.search(line):
                uidvalidity = int(match.group(1))
            if match := _PERMANENTFLAGS.search(line):
                keywords_allowed = b"\\*" in match.group(1) or self.config.keyword.encode() in match.group(1)
        return SelectedFolder(uidvalidity=uidvalidity, keywords_allowed=keywords_allowed)

    async def ensure_folder(self, name: str) -> None:
        """Create ``name`` if it does not exist (an existing folder answers NO, which is fine)."""
        with contextlib.suppress(ImapError):
            _ok(await self.client.create(name), f"CREATE {name}")

    async def search_uids(self, *criteria: str) -> list[int]:
        response = _ok(await self.client.uid_search(*criteria, charset=None), "UID SEARCH")
        uids: list[int] = []
        for line in response.lines[:-1]:
            if isinstance(line, bytes | bytearray):
                tokens = bytes(line).split()
                if tokens and tokens[0] == b"SEARCH":
                    tokens = tokens[1:]
                if tokens and all(token.isdigit() for token in tokens):
                    uids.extend(int(token) for token in tokens)
        return sorted(set(uids))

    async def message_info(self, uids: list[int]) -> list[MessageInfo]:
        if not uids:
            return []
        response = _ok(
            await self.client.uid("fetch", uid_set(uids), "(UID RFC822.SIZE INTERNALDATE)"), "UID FETCH (info)"
        )
        found: dict[int, MessageInfo] = {}
        for line in response.lines:
            if not isinstance(line, bytes | bytearray) or b"FETCH" not in line:
                continue
            uid, size, date = _UID.search(line), _SIZE.search(line), _INTERNALDATE.search(line)
            if uid is None:
                continue
            found[int(uid.group(1))] = MessageInfo(
                uid=int(uid.group(1)),
                size=int(size.group(1)) if size else 0,
                internal_date=parse_internaldate(date.group(1).decode("ascii", "replace")) if date else None,
            )
        return [found[uid] for uid in uids if uid in found]

    async def fetch_raw(self, uid: int, max_bytes: int | None = None) -> bytes | None:
        """The message's bytes (at most ``max_bytes``), without setting ``\\Seen``; None if it vanished."""
        part = f"BODY.PEEK[]<0.{max_bytes}>" if max_bytes else "BODY.PEEK[]"
        response = _ok(await self.client.uid("fetch", str(uid), f"(UID {part})"), "UID FETCH (body)")
        # One UID is asked for; unsolicited FETCH responses (flag changes by others) carry no BODY[].
        literal_follows = False
        for line in response.lines:
            if isinstance(line, bytearray) and literal_follows:
                return bytes(line)
            literal_follows = isinstance(line, bytes) and b"FETCH" in line and b"BODY[" in line
        return None

    async def add_keyword(self, uids: list[int], keyword: str) -> None:
        _ok(await self.client.uid("store", uid_set(uids), "+FLAGS.SILENT", f"({keyword})"), "UID STORE")

    async def move(self, uids: list[int], folder: str) -> None:
        if self.has("MOVE"):
            _ok(await self.client.uid("move", uid_set(uids), folder), "UID MOVE")
            return
        _ok(await self.client.uid("copy", uid_set(uids), folder), "UID COPY")
        _ok(await self.client.uid("store", uid_set(uids), "+FLAGS.SILENT", "(\\Deleted)"), "UID STORE \\Deleted")
        if self.has("UIDPLUS"):
            _ok(await self.client.uid("expunge", uid_set(uids)), "UID EXPUNGE")
        # Without UIDPLUS a plain EXPUNGE would also remove what people deleted: leave it to them.

    async def noop(self) -> None:
        _ok(await self.client.noop(), "NOOP")

    async def idle_until_change(self, renew_after: float, stopping: asyncio.Event) -> bool:
        """IDLE until the server reports new mail (True) or ``renew_after`` seconds pass (False)."""
        client = self.client
        idle = await client.idle_start(timeout=renew_after)
        changed = False
        try:
            deadline = asyncio.get_running_loop().time() + renew_after + 5
            while not stopping.is_set():
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    break
                push = await asyncio.wait_for(client.wait_server_push(timeout=remaining), remaining + 1)
                if push == aioimaplib.STOP_WAIT_SERVER_PUSH:
                    break
                lines = push if isinstance(push, list) else [push]
                if any(isinstance(line, bytes | bytearray) and (b"EXISTS" in line) for line in lines):
                    changed = True
                    break
        except TimeoutError:
            pass
        finally:
            if client.has_pending_idle():
                client.idle_done()
            await asyncio.wait_for(idle, self.config.timeout_seconds)
        return changed

    async def close(self) -> None:
        client = self._client
        self._client = None
        if client is None:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.logout(), 5)
        with contextlib.suppress(Exception):
            if client.protocol.transport is not None:
                client.protocol.transport.close()
