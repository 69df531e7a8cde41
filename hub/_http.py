"""HTTP plumbing of `facezoo hub serve` on uvicorn (see hub/server.py for why this stack).

What uvicorn and h11 leave to the application, in one place: a request object whose body is read
piece by piece with an idle timeout and a size limit checked from the headers first; blocking work run
off the event loop; files streamed in blocks; a deadline for each request's headers (uvicorn has none);
TCP_NODELAY on each connection; and `HubServer`, which binds first (so `port=0` works) and runs and
stops from any thread.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import threading
from pathlib import Path
from urllib.parse import parse_qs

from fzcore.errors import InputError

MAX_HEADER_BYTES = 64 << 10        # the whole request line + header block
MAX_CONNECTIONS = 1000             # beyond this, uvicorn answers 503
MAX_CONNECTIONS_PER_CLIENT = 64    # open connections from one address; more are closed at once (0: no cap)
HEADER_TIMEOUT = 10.0              # seconds for a request's line and headers (at most the idle timeout)
MIN_BODY_RATE = 16 << 10           # bytes/s a body must average once the idle timeout has passed
ANONYMOUS_MAX_BODY = 4 << 10       # a request body without a token (--public-read) is capped at this
BLOCK = 1 << 20                    # file I/O block


class HttpError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None,
                 extra: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}
        self.extra = extra or {}


class ClientGone(Exception):
    """The client disconnected before its request body was complete: nothing is stored, no answer sent."""


def parse_size(text: str) -> int:
    """'64M', '2G', '1048576' -> bytes (for --max-body)."""
    m = re.fullmatch(r"\s*(\d+)\s*([KMGT]?)i?B?\s*", str(text), re.IGNORECASE)
    if not m:
        raise InputError(f"A size is a number of bytes with an optional K/M/G/T suffix (e.g. 64M). "
                         f"Received: {text!r}")
    return int(m[1]) << {"": 0, "K": 10, "M": 20, "G": 30, "T": 40}[m[2].upper()]


class Request:
    """What a handler needs of one request: method, path parts, query, headers, and a bounded body."""

    def __init__(self, scope, receive, idle_timeout: float):
        self.method = scope["method"]
        raw = scope.get("raw_path") or scope["path"].encode()
        self.path = raw.split(b"?", 1)[0].decode("latin-1")
        self.parts = [p for p in self.path.split("/") if p != ""]
        self.query = {k: v[-1] for k, v in parse_qs(scope.get("query_string", b"").decode("latin-1")).items()}
        self.headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        self._receive, self._idle = receive, idle_timeout
        self.max_body_cap = None       # set for anonymous requests (ANONYMOUS_MAX_BODY)
        self.body_done = self.method in ("GET", "HEAD") or self._declared_empty()
        self.scope = scope

    def _declared_empty(self) -> bool:
        return self.headers.get("content-length") == "0" and "transfer-encoding" not in self.headers

    def content_length(self) -> int | None:
        value = self.headers.get("content-length")
        if value is None:
            return None
        if not value.isdigit() or len(value) > 19:           # h11 refuses these first; belt and braces
            raise HttpError(400, f"Bad Content-Length: {value[:40]!r}.")
        return int(value)

    async def chunks(self):
        """The body, piece by piece, as it arrives; 408 if the client stalls, ClientGone if it leaves.

        Besides the idle timeout between two pieces there is a total deadline: the idle timeout plus the
        declared length at MIN_BODY_RATE (or what arrived so far, for a chunked body), so a client
        sending one byte just inside each idle period cannot hold a connection forever.
        """
        loop = asyncio.get_running_loop()
        started, received = loop.time(), 0
        declared = self.content_length() or 0
        while not self.body_done:
            budget = started + self._idle + max(declared, received) / MIN_BODY_RATE - loop.time()
            try:
                message = await asyncio.wait_for(self._receive(), max(0.0, min(self._idle, budget)))
            except asyncio.TimeoutError:
                raise HttpError(408, f"The request body stalled or came too slowly (under {MIN_BODY_RATE} "
                                      "bytes/s); nothing was stored.") from None
            if message["type"] == "http.disconnect":
                raise ClientGone()
            if not message.get("more_body", False):
                self.body_done = True
            if message.get("body"):
                received += len(message["body"])
                yield message["body"]

    async def chunks_upto(self, limit: int, too_long: HttpError):
        """`chunks()`, raising `too_long` as soon as the body passes `limit` bytes (never buffering past it)."""
        total = 0
        async for chunk in self.chunks():
            total += len(chunk)
            if total > limit:
                raise too_long
            yield chunk

    async def body(self, limit: int) -> bytes:
        """The whole body, refused with 413 once it passes `limit` (from the header, before reading).
        An anonymous request's body is capped at `max_body_cap` whatever `limit` is."""
        if self.max_body_cap is not None and self.max_body_cap < limit:
            limit = self.max_body_cap
        declared = self.content_length()
        if declared is not None and declared > limit:
            raise HttpError(413, f"Request body of {declared} bytes is over this hub's limit of {limit} "
                                  f"bytes (--max-body; {ANONYMOUS_MAX_BODY} without a token).")
        too_long = HttpError(413, f"Request body is over this hub's limit of {limit} bytes (--max-body; "
                                  f"{ANONYMOUS_MAX_BODY} without a token).")
        return b"".join([chunk async for chunk in self.chunks_upto(limit, too_long)])

    async def json_object(self, limit: int) -> dict:
        """The body as a JSON object (an empty body is {}); 400 for anything else."""
        raw = await self.body(limit)
        try:
            data = json.loads(raw or b"{}")
        except (ValueError, RecursionError):
            raise HttpError(400, "Request body is not JSON.") from None
        if not isinstance(data, dict):
            raise HttpError(400, f"Request body must be a JSON object, not {type(data).__name__}.")
        return data


async def run_blocking(fn, *args, **kwargs):
    """Run blocking hub work (file I/O, locks, hashing) off the event loop."""
    import anyio.to_thread
    return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))


async def file_chunks(path: Path, start: int, length: int):
    """`length` bytes of `path` from `start`, in 1 MiB blocks read off the event loop."""
    f = await run_blocking(open, path, "rb")
    try:
        await run_blocking(f.seek, start)
        remaining = length
        while remaining > 0:
            block = await run_blocking(f.read, min(BLOCK, remaining))
            if not block:
                break
            remaining -= len(block)
            yield block
    finally:
        await run_blocking(f.close)


def header_deadline_protocol(timeout: float, per_client: int = MAX_CONNECTIONS_PER_CLIENT):
    """uvicorn's h11 protocol plus a deadline for each request's line and headers, and a cap on the
    connections one client address may hold open.

    uvicorn times out idle keep-alive connections but not a request whose headers never finish (a
    slowloris client holds its connection forever). The deadline is armed when a connection opens and
    after each response; if no new request has started when it passes, the connection is closed.
    uvicorn's `limit_concurrency` is one pool for everyone: 1,000 idle sockets from one address made every
    other client get 503. Connections past `per_client` from one address are closed as they open, so a
    flood from one address leaves the others served (behind a reverse proxy every client has the proxy's
    address: give the proxy the limits and set `--max-conns-per-client 0`).
    """
    from collections import Counter

    from uvicorn.protocols.http.h11_impl import H11Protocol

    open_per_client = Counter()          # touched only on the event loop's thread

    class _HeaderDeadline(H11Protocol):
        def connection_made(self, transport):
            peer = transport.get_extra_info("peername")
            self._client = peer[0] if isinstance(peer, tuple) and peer else None
            self._header_deadline = None
            super().connection_made(transport)
            if self._client is not None:
                open_per_client[self._client] += 1
                if per_client and open_per_client[self._client] > per_client:
                    transport.close()           # before a byte is read: costs the flood, not the others
                    return
            # uvicorn writes a response's head and body separately; without TCP_NODELAY, Nagle holds the
            # body until the client's delayed ACK: 40 ms on every small request (measured here: 44 ms
            # median per GET before, about 1 ms after).
            sock = transport.get_extra_info("socket")
            if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._arm_header_deadline()

        def _arm_header_deadline(self):
            cycle = self.cycle
            self._header_deadline = self.loop.call_later(timeout, self._header_deadline_passed, cycle)

        def _header_deadline_passed(self, cycle_when_armed):
            idle = self.cycle is cycle_when_armed and (self.cycle is None or self.cycle.response_complete)
            if idle and not self.transport.is_closing():
                self.transport.close()

        def on_response_complete(self):
            super().on_response_complete()
            if self._header_deadline is not None:
                self._header_deadline.cancel()
            self._arm_header_deadline()

        def connection_lost(self, exc):
            if self._header_deadline is not None:
                self._header_deadline.cancel()
            if self._client is not None:
                open_per_client[self._client] -= 1
                if open_per_client[self._client] <= 0:
                    del open_per_client[self._client]
            super().connection_lost(exc)

    return _HeaderDeadline


class HubServer:
    """A bound, not yet running server: `serve_forever()` runs it, `shutdown()` stops it (any thread)."""

    def __init__(self, app, host: str, port: int, idle_timeout: float,
                 per_client: int = MAX_CONNECTIONS_PER_CLIENT):
        import uvicorn
        self.app = app
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((host, port))
        self.socket.listen(1024)
        self.server_address = self.socket.getsockname()[:2]
        config = uvicorn.Config(app, http=header_deadline_protocol(min(idle_timeout, HEADER_TIMEOUT), per_client), lifespan="off",
                                log_config=None, log_level="warning", access_log=False, server_header=False,
                                timeout_keep_alive=int(max(1, idle_timeout)), timeout_graceful_shutdown=5,
                                limit_concurrency=MAX_CONNECTIONS, h11_max_incomplete_event_size=MAX_HEADER_BYTES)
        self._server = uvicorn.Server(config)
        self._stopped = threading.Event()

    def serve_forever(self) -> None:
        try:
            self._server.run(sockets=[self.socket])
        finally:
            self._stopped.set()

    def shutdown(self, timeout: float = 30) -> None:
        self._server.should_exit = True
        self._stopped.wait(timeout)

    def server_close(self) -> None:
        self.socket.close()


