"""Fixtures for intake-email's tests against the real Dovecot."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from intake_email_imap import MailboxView

from switchboard_devenv.dovecot import ImapAccount


@pytest.fixture
async def mailbox(imap_account: ImapAccount) -> AsyncIterator[MailboxView]:
    box = MailboxView(imap_account)
    await box.open()
    try:
        yield box
    finally:
        await box.close()
