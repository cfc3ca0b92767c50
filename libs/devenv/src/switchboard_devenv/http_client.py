"""A small HTTP/1.1 client for load generation and fault tests.

General-purpose clients keep state across failures (pool reservations, half-read connections) that a
storm of timeouts can wedge; this one cannot: a connection is either idle in the pool or owned by one
request, and any error or timeout closes it. Keep-alive avoids a new TCP connection per request (and
the TIME_WAIT sockets that would exhaust ports under sustained load).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return orjson.loads(self.body)


class HttpError(Exception):
    """The request did not get a response (connection refused or reset, timeout, malformed answer)."""


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class KeepAliveClient:
    """Requests to one origin over at most ``max_connections`` keep-alive connections."""

    def __init__(self, base_url: str, *, max_connections: int = 256, timeout: float = 15.0) -> None:
        parts = urlsplit(base_url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        self._host_header = parts.netloc
        self._timeout = timeout
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(max_connections)

    async def close(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()

    async def request(
        self, method: str, path: str, *, json: object = None, headers: dict[str, str] | None = None
    ) -> HttpResponse:
        body = orjson.dumps(json) if json is not None else b""
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self._host_header}", f"Content-Length: {len(body)}"]
        if json is not None:
            lines.append("Content-Type: application/json")
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        payload = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        try:
            async with asyncio.timeout(self._timeout), self._slots:
                connection = self._idle.pop() if self._idle else None
                if connection is not None:
                    try:
                        return await self._exchange(connection, payload)
                    except (OSError, asyncio.IncompleteReadError):
                        # The server closed this idle connection as we reused it (the keep-alive race):
                        # nothing was answered, so the request goes once more on a fresh connection.
                        pass
                reader, writer = await asyncio.open_connection(self._host, self._port)
                return await self._exchange(_Connection(reader, writer), payload)
        except TimeoutError as exc:
            raise HttpError("timeout") from exc
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            raise HttpError(type(exc).__name__) from exc

    async def _exchange(self, connection: _Connection, payload: bytes) -> HttpResponse:
        try:
            connection.writer.write(payload)
            await connection.writer.drain()
            response, keep_alive = await self._read(connection.reader)
        except BaseException:
            connection.close()
            raise
        if keep_alive:
            self._idle.append(connection)
        else:
            connection.close()
        return response

    @staticmethod
    async def _read(reader: asyncio.StreamReader) -> tuple[HttpResponse, bool]:
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        headers = {}
        for line in header_lines:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")
                    break
                chunks.append(await reader.readexactly(size))
                await reader.readexactly(2)
            body = b"".join(chunks)
        else:
            body = await reader.readexactly(int(headers.get("content-length", "0")))
        keep_alive = headers.get("connection", "").lower() != "close"
        return HttpResponse(status, headers, body), keep_alive
