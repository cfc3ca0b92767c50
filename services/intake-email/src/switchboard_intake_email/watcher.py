"""One IMAP mailbox watched for new mail: nothing lost, nothing published twice in effect.

A pass fetches the messages not yet marked processed, publishes their events, and only once Kafka
acknowledged them marks them processed on the server (a keyword, or a keyword and a move to the
processed folder). ``\\Seen`` is never read or set. If Kafka does not acknowledge, nothing is marked
and the next pass tries again; if the process dies between Kafka's acknowledgement and the mark, the
next pass publishes the same messages again with the same event ids, which downstream suppresses.

Between passes the watcher waits in IDLE, re-issued every ``idle_renew_seconds`` (well inside the
29 minutes after which servers drop it), and runs a pass after every IDLE, whether the server pushed
new mail or not, so a lost push costs at most one renewal interval. Mail that arrives while a pass
runs is announced in the responses to the pass's own commands (and not again in IDLE), so a pass is
followed by a search for such mail before the watcher goes idle. Servers without IDLE, or where
IDLE fails, are polled every ``poll_interval_seconds``. Connection failures reconnect with jittered
exponential backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime

import aioimaplib
from prometheus_client import Counter, Gauge

from switchboard_common.events.models import IntakeMessage
from switchboard_common.intake import IntakePublisher
from switchboard_common.producer import KafkaUnavailable
from switchboard_intake_email.imap_connection import ImapConnection, ImapError, MessageInfo
from switchboard_intake_email.normalise import EmailLimits, Mailbox, normalise_email
from switchboard_intake_email.settings import MailboxConfig

log = logging.getLogger(__name__)

FETCHED = Counter("switchboard_email_fetched_total", "Messages fetched from IMAP.", ["mailbox"])
MARKED = Counter("switchboard_email_marked_total", "Messages marked processed after Kafka acknowledged.", ["mailbox"])
PASS_FAILURES = Counter(
    "switchboard_email_pass_failures_total", "Passes that could not complete, by cause.", ["mailbox", "cause"]
)
CONNECTED = Gauge("switchboard_email_imap_connected", "1 while the mailbox's IMAP connection is up.", ["mailbox"])
LAST_PASS = Gauge("switchboard_email_last_pass_timestamp_seconds", "When the last pass completed.", ["mailbox"])


def utc_now() -> datetime:
    return datetime.now(UTC)


class MailboxWatcher:
    """Watches one mailbox; :meth:`run` until the stopping event is set."""

    def __init__(
        self,
        config: MailboxConfig,
        password: str,
        publisher: IntakePublisher,
        *,
        limits: EmailLimits,
        own_addresses: frozenset[str] = frozenset(),
        max_message_bytes: int = 30 * 1024 * 1024,
        pause_before_mark: float = 0.0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.config = config
        self._password = password
        self._publisher = publisher
        self._limits = limits
        self._mailbox = Mailbox(config.channel_account, frozenset(own_addresses) | frozenset(config.addresses))
        self._max_bytes = max_message_bytes
        self._pause_before_mark = pause_before_mark
        self._clock = clock
        self._uidvalidity: int | None = None
        self._attempted: set[int] = set()
        self.connected = False
        self.last_pass_at: float | None = None
        self.last_error: str | None = None
        self.idle_supported: bool | None = None

    @property
    def name(self) -> str:
        return self.config.name

    def is_ready(self) -> bool:
        """Ready while passes keep completing: within two waits (IDLE renewal or poll interval) and a margin."""
        if self.last_pass_at is None:
            return False
        wait = max(self.config.idle_renew_seconds if self.config.idle else 0, self.config.poll_interval_seconds)
        return time.monotonic() - self.last_pass_at < 2 * wait + self.config.timeout_seconds + 30

    async def run(self, stopping: asyncio.Event) -> None:
        backoff = 1.0
        while not stopping.is_set():
            connection = ImapConnection(self.config, self._password)
            try:
                await self._session(connection, stopping)
                backoff = 1.0
            except Exception as exc:  # any failure of the connection: reconnect, never end the watcher
                self.last_error = repr(exc)[:300]
                PASS_FAILURES.labels(self.name, "imap").inc()
                log.warning(
                    "IMAP connection failed; reconnecting",
                    extra={"mailbox": self.name, "error": self.last_error, "retry_in_s": round(backoff, 1)},
                )
            finally:
                self.connected = False
                CONNECTED.labels(self.name).set(0)
                await connection.close()
            await self._sleep(random.uniform(backoff / 2, backoff), stopping)
            backoff = min(backoff * 2, 60.0)

    async def _session(self, connection: ImapConnection, stopping: asyncio.Event) -> None:
        folder = await connection.connect()
        self.connected = True
        CONNECTED.labels(self.name).set(1)
        if self._uidvalidity is not None and folder.uidvalidity != self._uidvalidity:
            # Nothing depends on UIDs: processed state is on the server, event ids come from the content.
            log.warning(
                "UIDVALIDITY changed; unmarked messages are read again with the same event ids",
                extra={"mailbox": self.name, "old": self._uidvalidity, "new": folder.uidvalidity},
            )
        self._uidvalidity = folder.uidvalidity
        use_keyword = folder.keywords_allowed
        if self.config.mark == "keyword" and not use_keyword:
            raise ImapError(f"folder {self.config.folder} does not accept the keyword {self.config.keyword}")
        if self.config.mark == "move":
            await connection.ensure_folder(self.config.processed_folder)
        self.idle_supported = self.config.idle and connection.has("IDLE")
        log.info(
            "watching mailbox",
            extra={"mailbox": self.name, "folder": self.config.folder, "idle": self.idle_supported},
        )
        idle_failed = False
        kafka_retry = 1.0
        while not stopping.is_set():
            if not await self._pass(connection, use_keyword, stopping):
                # Kafka did not acknowledge: nothing was marked; try again soon, not after the next IDLE.
                await self._sleep(random.uniform(kafka_retry / 2, kafka_retry), stopping)
                kafka_retry = min(kafka_retry * 2, self.config.poll_interval_seconds, 30.0)
                await connection.noop()
                continue
            kafka_retry = 1.0
            if await self._arrived_during_pass(connection, use_keyword):
                continue  # the server may already have reported it during the pass, so IDLE would not
            if self.idle_supported and not idle_failed:
                try:
                    await connection.idle_until_change(self.config.idle_renew_seconds, stopping)
                    continue
                except (ImapError, aioimaplib.AioImapException) as exc:
                    idle_failed = True  # poll from now on, on this connection
                    log.warning("IDLE failed; polling instead", extra={"mailbox": self.name, "error": repr(exc)})
            await self._sleep(self.config.poll_interval_seconds, stopping)
            if connection.lost.is_set():
                raise ImapError("connection lost")
            await connection.noop()

    async def _pass(self, connection: ImapConnection, use_keyword: bool, stopping: asyncio.Event) -> bool:
        """Publish every unprocessed message, in batches; each batch is marked after Kafka acknowledged it.

        False when Kafka did not acknowledge a batch (it stays unmarked for the next pass).
        """
        config = self.config
        if config.mark == "move" and use_keyword:
            # Marked but not moved (a crash between the two): finish the move.
            leftover = await connection.search_uids("KEYWORD", config.keyword, "UNDELETED")
            if leftover:
                await connection.move(leftover, config.processed_folder)
        uids = await connection.search_uids(*self._unprocessed(use_keyword))
        self._attempted = set(uids)
        for start in range(0, len(uids), config.batch_size):
            if stopping.is_set():
                return True
            batch = uids[start : start + config.batch_size]
            infos = await connection.message_info(batch)
            events: list[IntakeMessage] = []
            for info in infos:
                event = await self._fetch_event(connection, info)
                if event is not None:
                    events.append(event)
            try:
                await self._publisher.publish(events)
            except KafkaUnavailable as exc:
                PASS_FAILURES.labels(self.name, "kafka").inc()
                self.last_error = str(exc)[:300]
                log.warning(
                    "Kafka did not acknowledge; messages stay unmarked for the next pass",
                    extra={"mailbox": self.name, "messages": len(events)},
                )
                return False
            if self._pause_before_mark:
                await asyncio.sleep(self._pause_before_mark)
            await self._mark([info.uid for info in infos], use_keyword, connection)
            MARKED.labels(self.name).inc(len(infos))
            log.info("messages published and marked", extra={"mailbox": self.name, "messages": len(events)})
        self.last_pass_at = time.monotonic()
        self.last_error = None
        LAST_PASS.labels(self.name).set_to_current_time()
        return True

    def _unprocessed(self, use_keyword: bool) -> tuple[str, ...]:
        return ("UNKEYWORD", self.config.keyword, "UNDELETED") if use_keyword else ("UNDELETED",)

    async def _arrived_during_pass(self, connection: ImapConnection, use_keyword: bool) -> bool:
        """Whether unprocessed mail arrived while the pass ran (not what the pass already tried)."""
        remaining = await connection.search_uids(*self._unprocessed(use_keyword))
        return bool(set(remaining) - self._attempted)

    async def _fetch_event(self, connection: ImapConnection, info: MessageInfo) -> IntakeMessage | None:
        too_large = info.size > self._max_bytes
        raw = await connection.fetch_raw(info.uid, self._max_bytes if too_large else None)
        if raw is None:
            return None  # expunged by someone else meanwhile
        FETCHED.labels(self.name).inc()
        now = self._clock()
        arrived = info.internal_date if info.internal_date is not None and info.internal_date <= now else now
        return normalise_email(
            raw,
            mailbox=self._mailbox,
            received_at=arrived,
            limits=self._limits,
            raw_ref=f"imap://{self.config.username}@{self.config.host}/{self.config.folder}"
            f";UIDVALIDITY={self._uidvalidity};UID={info.uid}",
            provider_ids={"imap_uid": str(info.uid), "imap_uidvalidity": str(self._uidvalidity)},
            truncated=too_large,
        )

    async def _mark(self, uids: list[int], use_keyword: bool, connection: ImapConnection) -> None:
        if not uids:
            return
        if use_keyword:
            await connection.add_keyword(uids, self.config.keyword)
        if self.config.mark == "move":
            await connection.move(uids, self.config.processed_folder)

    @staticmethod
    async def _sleep(seconds: float, stopping: asyncio.Event) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), seconds)
