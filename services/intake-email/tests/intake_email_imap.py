"""The test's own IMAP view of a Dovecot mailbox (append, read flags), shared by intake-email's tests."""

from __future__ import annotations

import asyncio
import contextlib
import re

import aioimaplib

from switchboard_devenv.dovecot import ImapAccount

KEYWORD = "$SwitchboardProcessed"


class MailboxView:
    """The test's own IMAP view of a mailbox: append messages, read their flags and folders."""

    def __init__(self, account: ImapAccount) -> None:
        self.account = account
        self.client: aioimaplib.IMAP4 | None = None

    async def open(self) -> None:
        self.client = aioimaplib.IMAP4(host=self.account.host, port=self.account.port, timeout=30)
        await self.client.wait_hello_from_server()
        response = await self.client.login(self.account.username, self.account.password)
        assert response.result == "OK", response

    async def append(self, raw: bytes, folder: str = "INBOX") -> None:
        assert self.client is not None
        response = await self.client.append(raw, mailbox=folder)
        assert response.result == "OK", response

    async def flags(self, folder: str = "INBOX") -> list[set[str]]:
        """The flags of every message in ``folder``, in UID order."""
        assert self.client is not None
        response = await self.client.select(folder)
        assert response.result == "OK", response
        response = await self.client.uid("fetch", "1:*", "(UID FLAGS)")
        result = []
        for line in response.lines:
            if isinstance(line, bytes) and b"FETCH" in line:
                match = re.search(rb"FLAGS \(([^)]*)\)", line)
                result.append(set(match.group(1).decode().split()) if match else set())
        await self.client.close()
        return result

    async def wait_until(self, condition, timeout: float = 60.0, folder: str = "INBOX") -> list[set[str]]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            flags = await self.flags(folder)
            if condition(flags):
                return flags
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"condition not met within {timeout}s; flags: {flags}")
            await asyncio.sleep(0.3)

    async def close(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):  # the test is over; the server may already be gone
                await asyncio.wait_for(self.client.logout(), 5)
