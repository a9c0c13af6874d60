"""The hot path: `GET /ocsp/{base64}` answered from the pre-signed cache by a bare
asyncio protocol, in front of aiohttp (docs/decisions/0007-hot-get-path.md).

A pre-signed answer is a dictionary lookup; aiohttp's machinery around it (a handler task
per connection, its parser, a request and a response object) costs several times more.
Measured on the same machine, the front doubles the requests answered per second, with a
new connection per request (how nginx's OCSP client talks) as with keep-alive, and keeps
the p99 of a slower machine under 10 ms where aiohttp alone could not. So each accepted
connection first meets `HotGet`. It answers only what it can answer exactly as aiohttp's
route would, byte for byte in the headers that matter: a complete, strictly formed
`GET /ocsp/...` over HTTP/1.1 or 1.0 whose response is already signed and still in force.
Anything else, from the first byte it cannot vouch for, goes to aiohttp with every byte
received so far, and the connection stays with aiohttp for the rest of its life. What is
handed over was never answered, so nothing is answered twice and nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from email.utils import formatdate
from typing import TypeVar, cast

import structlog
from aiohttp import web
from aiohttp.http import SERVER_SOFTWARE

from revocd.clock import Clock
from revocd.metrics import Metrics
from revocd.ocsp.responder import Reply, Responder
from revocd.web import keys
from revocd.web.ocsp_routes import (
    CACHE_CONTROL,
    HEADERS,
    RESPONDER,
    STATUS_LABELS,
    HeaderCache,
    decode_get,
    max_age,
)

log = structlog.get_logger("revocd.web")
HEAD_LIMIT = 8192  # a GET of the largest request this path serves fits well inside
MAX_HEADER_LINES = 32
IDLE_TIMEOUT = 3630.0  # aiohttp's keepalive_timeout: a kept-alive front idles as long
# How often a site looks for fronts idle past IDLE_TIMEOUT: one timer per site, not one per
# connection (a timer per connection cost about 8% of the requests answered per second
# with a new connection per request)
IDLE_SWEEP = 60.0
# Entries in each process's caches of parsed heads and of rendered header lines: both are
# rebuilt from the next requests when cleared, and hold what the pre-signed responses
# (Responder's max_presigned, 100,000) are asked for most
CACHE_LIMIT = 32_768
# On shutdown, how long a connection that has not yet sent its request may take to send it
# (clients send it right after connecting; it is answered, then the connection closes).
DRAIN_GRACE = 1.0
# A kept-alive connection's last answer says `Connection: close` (nginx's keepalive_requests
# default). Its client reconnects, and the new connection goes to whichever process accepts
# first, the less busy one as a rule: otherwise connections that landed unevenly at the
# start (22-24 of 32 on one of two processes, measured) stay so for good. Measured with
# keep-alive, 6 alternating rounds: p99 4.9-5.6 ms against 3.0-12.7 ms, req/s the same.
MAX_KEEPALIVE_REQUESTS = 1000
_PREFIX = b"GET /ocsp/"
# Headers whose presence means the request is not a plain GET this path can answer alone:
# a body, a conditional (aiohttp answers 304), a protocol switch.
_DELEGATED_HEADERS = frozenset(
    {b"content-length", b"transfer-encoding", b"if-none-match", b"expect", b"upgrade"}
)
# RFC 9110's singletons, as aiohttp's parser lists them (a repeat is its 400 to give)
_SINGLETONS = frozenset(
    {
        b"content-location",
        b"content-range",
        b"content-type",
        b"etag",
        b"host",
        b"max-forwards",
        b"server",
        b"user-agent",
    }
)
_TOKEN = frozenset(b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
# Base64 in either alphabet, its padding, the slashes some clients double, and the three
# escapes decode_get undoes by replace: a target of these alone reads the same to aiohttp's
# router (no dot segments, no other escapes for yarl to normalise).
_TARGET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_%")
_ESCAPES = frozenset({b"%2F", b"%2f", b"%2B", b"%2b", b"%3D", b"%3d"})
_VISIBLE = frozenset(range(0x20, 0x7F)) | {0x09}
_REASON = {b"HTTP/1.1": b"HTTP/1.1 200 OK\r\n", b"HTTP/1.0": b"HTTP/1.0 200 OK\r\n"}
_SERVER = f"Server: {SERVER_SOFTWARE}\r\n".encode()
_CACHE_CONTROL = f"Cache-Control: {CACHE_CONTROL}\r\n".encode()
_V = TypeVar("_V")


@dataclass(frozen=True, slots=True)
class HotRequest:
    target: str  # the path after /ocsp/, as sent
    version: bytes  # b"HTTP/1.1" or b"HTTP/1.0", echoed in the status line
    keep_alive: bool
    connection_header: bytes  # what aiohttp would send back: b"" or a whole header line


def parse_head(head: bytes) -> HotRequest | None:
    """The request in `head` (everything before the blank line) if it is one this path
    may answer alone; None to hand the connection to aiohttp. Strict on purpose: any doubt
    is aiohttp's to resolve, never this parser's."""
    lines = head.split(b"\r\n")
    if len(lines) > MAX_HEADER_LINES + 1:
        return None
    parts = lines[0].split(b" ")
    if len(parts) != 3 or parts[0] != b"GET" or parts[2] not in _REASON:
        return None
    target = parts[1]
    if not target.startswith(b"/ocsp/") or not _target_ok(target):
        return None
    connection: bytes | None = None
    seen: set[bytes] = set()
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not name or not _TOKEN.issuperset(name):
            return None  # also obs-fold: a line starting with a space has no token name
        if not _VISIBLE.issuperset(value):
            return None  # control bytes, a lone CR or LF, anything not ASCII
        name = name.lower()
        if name in _DELEGATED_HEADERS:
            return None
        if name in _SINGLETONS:
            if name in seen:
                return None  # aiohttp refuses a repeated singleton with a 400
            seen.add(name)
        if name == b"connection":
            if connection is not None:
                return None
            connection = value
    if parts[2] == b"HTTP/1.1" and b"host" not in seen:
        return None  # RFC 9112 3.2: aiohttp answers 400
    return _with_connection(target[6:].decode("ascii"), parts[2], connection)


def _target_ok(target: bytes) -> bool:
    if not _TARGET.issuperset(target):
        return False
    start = target.find(b"%")
    while start >= 0:
        if target[start : start + 3] not in _ESCAPES:
            return False
        start = target.find(b"%", start + 3)
    return True


def _with_connection(target: str, version: bytes, connection: bytes | None) -> HotRequest | None:
    """aiohttp's persistence rules: HTTP/1.1 persists unless `close`; 1.0 closes unless
    `keep-alive`, which is then echoed."""
    tokens = {t.strip().lower() for t in connection.split(b",")} if connection else set()
    close, keep = b"close" in tokens, b"keep-alive" in tokens
    if (close and keep) or b"upgrade" in tokens:
        return None
    if version == b"HTTP/1.1":
        if close:
            return HotRequest(target, version, False, b"Connection: close\r\n")
        return HotRequest(target, version, True, b"")
    if keep:
        return HotRequest(target, version, True, b"Connection: keep-alive\r\n")
    return HotRequest(target, version, False, b"")


class _Dates:
    """The Date header, formatted once per second as aiohttp does."""

    __slots__ = ("_line", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._line = b""

    def line(self) -> bytes:
        now = time.time()
        if int(now) != self._second:
            self._second = int(now)
            self._line = f"Date: {formatdate(now, usegmt=True)}\r\n".encode()
        return self._line


class _Bounded(dict[bytes, _V]):
    """A dictionary that empties itself when full: what it held comes back from the
    requests that follow, so no eviction order is worth its cost on the hot path."""

    __slots__ = ("_limit",)

    def __init__(self, limit: int) -> None:
        super().__init__()
        self._limit = limit

    def keep(self, key: bytes, value: _V) -> _V:
        if len(self) >= self._limit:
            self.clear()
        self[key] = value
        return value


@dataclass(frozen=True, slots=True)
class HotPath:
    """What a front needs: the responder's pre-signed replies, the GET route's caching
    headers, the clock and metrics, and aiohttp's handler factory for everything else.

    Relying parties send the same heads over and over (nginx asks again for the same
    certificate, byte for byte), so a head is parsed and its base64 decoded once, and the
    header lines that depend on the response bytes alone are rendered once per response.
    What may change between two identical requests is still decided on each: whether the
    pre-signed response is still in force (`Responder.presigned_reply`), max-age (from the
    clock) and Date. Measured with a new connection per request: about 20% more requests
    answered per second, the median latency 25% lower (docs/decisions/0007)."""

    responder: Responder
    headers: HeaderCache
    clock: Clock
    metrics: Metrics
    delegate: Callable[[], asyncio.Protocol]
    dates: _Dates
    heads: _Bounded[tuple[HotRequest, bytes]] = field(default_factory=lambda: _Bounded(CACHE_LIMIT))
    lines: _Bounded[bytes] = field(default_factory=lambda: _Bounded(CACHE_LIMIT))

    @classmethod
    def of(cls, runner: web.AppRunner) -> HotPath | None:
        """None when the app serves no OCSP (then aiohttp alone serves every connection)."""
        app, server = runner.app, runner.server
        if RESPONDER not in app or server is None:
            return None
        return cls(
            app[RESPONDER], app[HEADERS], app[keys.CLOCK], app[keys.METRICS], server, _Dates()
        )

    def request_for(self, head: bytes) -> tuple[HotRequest, bytes] | None:
        """The request in `head` and the OCSP request its target decodes to; None when
        aiohttp must answer (`parse_head`, `decode_get`: both depend on the bytes alone)."""
        known = self.heads.get(head)
        if known is not None:
            return known
        request = parse_head(head)
        if request is None:
            return None
        data = decode_get(request.target)
        if data is None:
            return None
        return self.heads.keep(head, (request, data))

    def answer(self, request: HotRequest, data: bytes) -> bytes | None:
        """The whole HTTP response to `data`, or None when aiohttp must answer."""
        started = time.perf_counter()
        now = self.clock.now()
        reply = self.responder.presigned_reply(data, now)
        if reply is None or not reply.cacheable or reply.next_update is None:
            return None
        response = self._render(reply, request, now)
        self.metrics.count_ocsp(
            "GET", STATUS_LABELS[reply.status], reply.presigned, time.perf_counter() - started
        )
        return response

    def _render(self, reply: Reply, request: HotRequest, now: datetime) -> bytes:
        """aiohttp's response, byte for byte but the Date: the GET route's headers in
        their order (Cache-Control first, the only one the clock changes), then those
        aiohttp adds."""
        lines = self.lines.get(reply.body)
        if lines is None:
            headers = self.headers.for_reply(reply, now)
            del headers["Cache-Control"]
            rendered = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
            lines = self.lines.keep(
                reply.body, b"%sContent-Length: %d\r\n" % (rendered.encode(), len(reply.body))
            )
        return b"".join(
            (
                _REASON[request.version],
                _CACHE_CONTROL % max_age(reply, now),
                lines,
                self.dates.line(),
                _SERVER,
                request.connection_header,
                b"\r\n",
                reply.body,
            )
        )


class Fronts:
    """One site's live fronts, whether the site is shutting down, and the sweep that
    closes fronts idle for IDLE_TIMEOUT seconds (checked every IDLE_SWEEP seconds, so a
    front may idle up to one sweep longer)."""

    __slots__ = ("_empty", "_sweeping", "draining", "live")

    def __init__(self) -> None:
        self.live: set[HotGet] = set()
        self.draining = False
        self._empty: asyncio.Event | None = None
        self._sweeping: asyncio.TimerHandle | None = None

    def start_sweeping(self) -> None:
        self._sweeping = asyncio.get_running_loop().call_later(IDLE_SWEEP, self._sweep)

    def _sweep(self) -> None:
        self.close_idle()
        self.start_sweeping()

    def close_idle(self, now: float | None = None) -> None:
        """Close every front idle for IDLE_TIMEOUT seconds or more at loop time `now`
        (default: the loop's time now)."""
        now = asyncio.get_running_loop().time() if now is None else now
        for front in list(self.live):
            if front.idle_since() + IDLE_TIMEOUT <= now:
                front.close()

    def add(self, front: HotGet) -> None:
        self.live.add(front)

    def discard(self, front: HotGet) -> None:
        self.live.discard(front)
        if not self.live and self._empty is not None:
            self._empty.set()

    async def drain(self, grace: float) -> None:
        """Close idle kept-alive connections now; give each connection that has not had
        its request answered `grace` seconds to send it and be answered (then closed):
        closing it unanswered would fail a request the client has every right to send."""
        self.draining = True
        if self._sweeping is not None:
            self._sweeping.cancel()
            self._sweeping = None
        for front in list(self.live):
            front.close_if_idle()
        if self.live:
            self._empty = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._empty.wait(), grace)
        for front in list(self.live):
            front.close()


class HotGet(asyncio.Protocol):
    """One accepted connection, until it asks for something only aiohttp answers."""

    __slots__ = (
        "_answers",
        "_buffer",
        "_fronts",
        "_last",
        "_path",
        "_paused",
        "_transport",
    )

    def __init__(self, path: HotPath, fronts: Fronts) -> None:
        self._path = path
        self._fronts = fronts
        self._transport: asyncio.Transport | None = None
        self._buffer = b""
        self._paused = False
        self._answers = 0  # given on this connection
        self._last = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._fronts.add(self)
        self._last = asyncio.get_running_loop().time()

    def connection_lost(self, exc: Exception | None) -> None:
        self._forget()

    def pause_writing(self) -> None:
        self._paused = True
        if self._transport is not None:
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        self._paused = False
        if self._transport is not None:
            self._transport.resume_reading()

    def close(self) -> None:
        """Buffered answers are flushed, then the connection closes."""
        if self._transport is not None:
            self._transport.close()

    def idle_since(self) -> float:
        """The loop time of the connection's last answer (or of its start)."""
        return self._last

    def close_if_idle(self) -> None:
        """Shutdown: a kept-alive connection between requests closes now (RFC 9112 9.3.1:
        its client retries); any other waits for its request (`Fronts.drain`)."""
        if self._answers and not self._buffer:
            self.close()

    def data_received(self, data: bytes) -> None:
        transport = self._transport
        if transport is None:
            return
        buffer = self._buffer + data if self._buffer else data
        while buffer:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if not _may_become_hot(buffer):
                    self._hand_over(buffer)
                    return
                self._buffer = buffer
                return
            known = self._path.request_for(buffer[:end]) if end <= HEAD_LIMIT else None
            if known is None:
                self._hand_over(buffer)
                return
            request, ocsp_request = known
            if self._fronts.draining or self._answers + 1 >= MAX_KEEPALIVE_REQUESTS:
                request = _last_on_connection(request)
            response = self._answer(request, ocsp_request)
            if response is None:
                self._hand_over(buffer)
                return
            transport.write(response)
            self._answers += 1
            self._last = asyncio.get_running_loop().time()
            if not request.keep_alive:
                self._buffer = b""
                transport.close()
                return
            buffer = buffer[end + 4 :]
        self._buffer = b""

    def _answer(self, request: HotRequest, ocsp_request: bytes) -> bytes | None:
        try:
            return self._path.answer(request, ocsp_request)
        except Exception:  # a bug here must cost speed, never an answer: aiohttp answers
            log.exception("hot_path_failed", target=request.target[:64])
            return None

    def _hand_over(self, received: bytes) -> None:
        transport = self._transport
        assert transport is not None
        self._forget()
        handler = self._path.delegate()
        transport.set_protocol(handler)
        handler.connection_made(transport)
        if self._paused:
            # Writes are still backed up: aiohttp must wait for resume_writing (which now
            # reaches it). Reading was paused by this front; aiohttp does its own flow
            # control, and nothing would ever resume it.
            handler.pause_writing()
            transport.resume_reading()
        handler.data_received(received)

    def _forget(self) -> None:
        self._fronts.discard(self)
        self._transport = None


def _may_become_hot(partial: bytes) -> bool:
    """Whether an incomplete head could still turn out to be one this path answers: a
    POST, a lone LF or an oversized head goes to aiohttp now, not after more bytes."""
    if len(partial) > HEAD_LIMIT:
        return False
    if len(partial) < len(_PREFIX):
        return _PREFIX.startswith(partial)
    if not partial.startswith(_PREFIX):
        return False
    return partial.count(b"\n") == partial.count(b"\r\n")


def _last_on_connection(request: HotRequest) -> HotRequest:
    """The request answered as the connection's last (shutting down): `Connection: close`
    where HTTP/1.1 would have kept it alive, no keep-alive echo for HTTP/1.0."""
    if not request.keep_alive:
        return request
    if request.version == b"HTTP/1.1":
        return replace(request, keep_alive=False, connection_header=b"Connection: close\r\n")
    return replace(request, keep_alive=False, connection_header=b"")


class HotSite(web.SockSite):
    """A listening socket whose connections meet `HotGet` first."""

    __slots__ = ("_fronts", "_path")

    def __init__(
        self,
        runner: web.AppRunner,
        sock: socket.socket,
        path: HotPath,
        fronts: Fronts | None = None,
    ) -> None:
        super().__init__(runner, sock)
        self._path = path
        self._fronts = fronts or Fronts()

    async def start(self) -> None:
        await web.BaseSite.start(self)
        path, fronts = self._path, self._fronts
        self._server = await asyncio.get_running_loop().create_server(
            lambda: HotGet(path, fronts), sock=self._sock, backlog=self._backlog
        )
        fronts.start_sweeping()

    async def stop(self) -> None:
        await super().stop()  # accepts no more; the connections already accepted drain
        await self._fronts.drain(DRAIN_GRACE)


def site_for(runner: web.BaseRunner, sock: socket.socket) -> web.BaseSite:
    """The site for `sock`: the hot path in front when the app serves OCSP."""
    if isinstance(runner, web.AppRunner) and (path := HotPath.of(runner)) is not None:
        return HotSite(runner, sock, path)
    return web.SockSite(runner, sock)


async def start_site(runner: web.AppRunner, sock: socket.socket) -> web.BaseSite:
    site = site_for(runner, sock)
    await site.start()
    return site
