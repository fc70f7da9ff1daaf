"""A small asyncio HTTP/1.1 server for the control API.

Enough HTTP for every Toxiproxy client: keep-alive, ``Content-Length`` and
chunked request bodies, ``Expect: 100-continue``. Bad input is answered with a
4xx and the connection closed, never a hang: the head must arrive within
``read_timeout`` (an idle keep-alive connection is closed after
``idle_timeout``), heads over 64 KiB get 431 and bodies over ``max_body`` 413.

Every routed response carries ``X-Toxiproxy-Request-Id``; a ``Mozilla/``
User-Agent gets 403 ``User agent not allowed`` (Toxiproxy's CSRF guard).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import unquote

from harness.toxiproxy.api import Response

__all__ = ["HttpServer", "Request"]

log = logging.getLogger("harness.toxiproxy.http")

HEAD_LIMIT = 64 * 1024
_TEXT = "text/plain; charset=utf-8"
#: A Content-Length: ASCII digits only (``str.isdigit`` also takes "²", which ``int`` refuses).
_ASCII_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class Request:
    method: str
    target: str
    version: str
    headers: dict[str, str]
    body: bytes

    @property
    def segments(self) -> list[str]:
        """The path split on ``/`` (leading slash dropped), each segment percent-decoded."""
        path = self.target.split("?", 1)[0].split("#", 1)[0]
        return [unquote(s, errors="replace") for s in path[1:].split("/")] if path else [""]

    @property
    def keep_alive(self) -> bool:
        connection = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in connection
        return "close" not in connection


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


Dispatch = Callable[[str, list[str], bytes], Awaitable[Response]]


class HttpServer:
    """Serves ``dispatch(method, path_segments, body)`` over HTTP/1.1."""

    def __init__(
        self,
        dispatch: Dispatch,
        *,
        max_body: int = 1 << 20,
        read_timeout: float = 30.0,
        idle_timeout: float = 75.0,
    ) -> None:
        self._dispatch = dispatch
        self.max_body = max_body
        self.read_timeout = read_timeout
        self.idle_timeout = idle_timeout
        self._servers: list[asyncio.AbstractServer] = []
        self._writers: set[asyncio.StreamWriter] = set()

    async def listen(self, host: str, port: int) -> asyncio.Server:
        """Listen on (host, port) (0: any free port); returns the server."""
        server = await asyncio.start_server(self._client, host, port, limit=HEAD_LIMIT,
                                            reuse_address=True)
        self._servers.append(server)
        return server

    async def close(self) -> None:
        """Stop listening and close every client connection (bounded)."""
        for server in self._servers:
            server.close()
        for writer in list(self._writers):
            writer.close()
        self._servers.clear()
        await asyncio.sleep(0)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                try:
                    request = await self._read_request(reader, writer)
                except _BadRequest as exc:
                    await self._send(writer, None, Response(exc.status, f"{exc}\n".encode(), _TEXT),
                                     close=True)
                    return
                if request is None:
                    return
                response = await self._respond(request)
                keep = request.keep_alive
                await self._send(writer, request, response, close=not keep)
                if not keep:
                    return
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _respond(self, request: Request) -> Response:
        if request.headers.get("user-agent", "").startswith("Mozilla/"):
            return Response(403, b"User agent not allowed\n", _TEXT)
        try:
            return await self._dispatch(request.method, request.segments, request.body)
        except Exception:  # a handler bug: answer, log it, keep serving
            log.exception("handler failed for %s %s", request.method, request.target)
            return Response(500, b'{"error":"internal error","status":500}\n')

    async def _read_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> Request | None:
        try:
            async with asyncio.timeout(self.idle_timeout):
                first = await reader.readuntil(b"\n")
        except asyncio.IncompleteReadError:
            return None  # the client closed between requests
        except asyncio.LimitOverrunError:
            raise _BadRequest(431, "Request Header Fields Too Large") from None
        try:
            async with asyncio.timeout(self.read_timeout):
                head = first if first in (b"\r\n", b"\n") else first + await self._rest_of_head(reader)
                method, target, version, headers = _parse_head(head)
                body = await self._read_body(reader, writer, headers)
        except (asyncio.IncompleteReadError, TimeoutError):
            return None
        except asyncio.LimitOverrunError:
            raise _BadRequest(431, "Request Header Fields Too Large") from None
        return Request(method, target, version, headers, body)

    @staticmethod
    async def _rest_of_head(reader: asyncio.StreamReader) -> bytes:
        lines = []
        size = 0
        while True:
            line = await reader.readuntil(b"\n")
            size += len(line)
            if size > HEAD_LIMIT:
                raise _BadRequest(431, "Request Header Fields Too Large")
            lines.append(line)
            if line in (b"\r\n", b"\n"):
                return b"".join(lines)

    async def _read_body(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, headers: dict[str, str]
    ) -> bytes:
        encoding = headers.get("transfer-encoding", "").strip().lower()
        length_text = headers.get("content-length")
        if encoding and encoding != "chunked":
            raise _BadRequest(400, "Bad Request: unsupported transfer encoding")
        length = 0
        if length_text is not None and not encoding:
            if not _ASCII_DIGITS.fullmatch(length_text.strip()):
                raise _BadRequest(400, "Bad Request: bad Content-Length")
            length = int(length_text)
            if length > self.max_body:
                raise _BadRequest(413, "Request Entity Too Large")
        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if encoding == "chunked":
            return await self._read_chunked(reader)
        return await reader.readexactly(length) if length else b""

    async def _read_chunked(self, reader: asyncio.StreamReader) -> bytes:
        body = bytearray()
        while True:
            size_line = (await reader.readuntil(b"\n")).split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise _BadRequest(400, "Bad Request: bad chunk size") from None
            if size < 0 or len(body) + size > self.max_body:
                raise _BadRequest(413, "Request Entity Too Large")
            if size == 0:
                await self._rest_of_head(reader)  # trailers, then the blank line
                return bytes(body)
            body += await reader.readexactly(size)
            await reader.readuntil(b"\n")

    async def _send(
        self, writer: asyncio.StreamWriter, request: Request | None, response: Response, *, close: bool
    ) -> None:
        reason = _reason(response.status)
        lines = [f"HTTP/1.1 {response.status} {reason}"]
        if response.status != 204:
            lines.append(f"Content-Type: {response.content_type}")
            lines.append(f"Content-Length: {len(response.body)}")
        lines.append(f"X-Toxiproxy-Request-Id: {secrets.token_hex(10)}")
        if close:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        writer.write(head + (response.body if response.status != 204 else b""))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.read_timeout):
                await writer.drain()


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    """Request line and headers; ``_BadRequest`` for anything malformed."""
    text = head.decode("latin-1")
    lines = text.replace("\r\n", "\n").split("\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[0].isalpha() or not parts[0].isupper():
        raise _BadRequest(400, "Bad Request: malformed request line")
    method, target, version = parts
    if version not in ("HTTP/1.1", "HTTP/1.0") or not target.startswith("/"):
        raise _BadRequest(400, "Bad Request: malformed request line")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise _BadRequest(400, "Bad Request: malformed header line")
        key = name.lower()
        value = value.strip()
        if key == "content-length" and key in headers and headers[key] != value:
            raise _BadRequest(400, "Bad Request: conflicting Content-Length")
        headers[key] = value
    return method, target, version, headers
