"""A partner's CRL distribution point, on 127.0.0.1, that misbehaves when told to.

A real aiohttp server (port 0, optionally TLS) for the fetch, poller and end-to-end
suites. Publish bytes at any path, then switch a path's behaviour at any time::

    async with PartnerServer() as partner:
        url = partner.publish("/issuing.crl", crl_der)          # ETag + 304 support
        partner.misbehave("/issuing.crl", "hang")               # never answers...
        partner.misbehave("/issuing.crl", "ok")                 # ...until told otherwise
        partner.misbehave("/old.crl", redirect_to(url))
        assert partner.requests_to("/issuing.crl")[-1].headers["User-Agent"]

Modes (`Mode`): ok, http_500, hang, slow_body, oversize, lying_length, gzip_bomb,
garbage, redirect_loop, reset; plus `redirect_to(url)` and `status(code)`. Waiting modes
await an `asyncio.Event` (never sleep) that is set when the path's behaviour changes or
the server closes; streaming modes stop when the client goes away, when the server
closes, or after `stream_limit` bytes.

Import the `partner_server` fixture into a conftest.py to get a started server per test.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import ssl
import struct
import zlib
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from enum import StrEnum
from pathlib import Path
from types import TracebackType

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from multidict import CIMultiDict, CIMultiDictProxy


class Mode(StrEnum):
    OK = "ok"  # serve what was published (404 if nothing), with ETag/Last-Modified/304
    HTTP_500 = "http_500"  # 500 Internal Server Error
    HANG = "hang"  # accept the request, never answer (until the mode changes or close)
    SLOW_BODY = "slow_body"  # headers and the first bytes of the body, then stall
    OVERSIZE = "oversize"  # endless body, no Content-Length
    LYING_LENGTH = "lying_length"  # Content-Length promises more than is sent, then close
    GZIP_BOMB = "gzip_bomb"  # Content-Encoding: gzip of a huge run of zeros (~1000:1)
    GARBAGE = "garbage"  # 200 with an HTML error page where the CRL should be
    REDIRECT_LOOP = "redirect_loop"  # 302 to itself
    RESET = "reset"  # close the connection without answering


@dataclass(frozen=True, slots=True)
class RedirectTo:
    """Answer with a redirect to `url` (absolute, or a path on this server)."""

    url: str
    code: int = 302


@dataclass(frozen=True, slots=True)
class Status:
    """Answer with this HTTP status and a short text body."""

    code: int


Behaviour = Mode | RedirectTo | Status


def redirect_to(url: str, code: int = 302) -> RedirectTo:
    return RedirectTo(url, code)


def status(code: int) -> Status:
    return Status(code)


@dataclass(frozen=True, slots=True)
class Published:
    body: bytes
    etag: str | None
    last_modified: datetime | None
    compress: bool


@dataclass(frozen=True, slots=True)
class SeenRequest:
    """One request as the partner received it (headers are case-insensitive)."""

    method: str
    path: str
    headers: CIMultiDictProxy[str]


GARBAGE = b"<html><body><h1>Welcome to nginx!</h1></body></html>\n"
CHUNK = 64 * 1024


class PartnerServer:
    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        stream_limit: int = 1024**3,
    ) -> None:
        """`ssl_context`: serve https (see `tls_pair`). `stream_limit`: bytes after which
        the endless modes (oversize, gzip_bomb's decoded size) stop, so a client without
        a cap still ends."""
        self._ssl = ssl_context
        self._stream_limit = stream_limit
        self._published: dict[str, Published] = {}
        self._behaviour: dict[str, Behaviour] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._seen: list[SeenRequest] = []
        self._arrived = asyncio.Condition()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._base = ""

    # --- life cycle --------------------------------------------------------------------

    async def start(self) -> str:
        """Listen on 127.0.0.1 (a free port); returns the base URL, no trailing slash."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # A short shutdown timeout: handlers still streaming when the test ends are cut.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._ssl)
        await site.start()
        port = self._runner.addresses[0][1]
        self._base = f"{'https' if self._ssl else 'http'}://127.0.0.1:{port}"
        return self._base

    async def close(self) -> None:
        """Release every waiting request, stop every stream, stop listening."""
        self._closing = True
        for event in self._wake.values():
            event.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> PartnerServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- what to serve -----------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if not self._base:
            raise RuntimeError("PartnerServer is not started: await start() first")
        return self._base

    def url(self, path: str) -> str:
        return self.base_url + _checked(path)

    def publish(
        self,
        path: str,
        body: bytes,
        *,
        etag: bool | str = True,
        last_modified: datetime | None = None,
        compress: bool = False,
    ) -> str:
        """Serve `body` at `path` (replacing what was there); returns its URL.

        `etag=True` derives a strong ETag from the body, a string is used as given
        (to make two bodies share a tag), False sends none. `last_modified` (UTC) is sent
        as Last-Modified and honoured in If-Modified-Since. `compress` sends the body
        with Content-Encoding: gzip (and a Content-Length of the compressed bytes) to
        clients that accept it. The path's mode is unchanged.
        """
        tag = f'"{hashlib.sha256(body).hexdigest()[:20]}"' if etag is True else etag or None
        if last_modified is not None and last_modified.utcoffset() is None:
            raise ValueError("last_modified must be timezone-aware (UTC)")
        self._published[_checked(path)] = Published(body, tag, last_modified, compress)
        return self.url(path)

    def unpublish(self, path: str) -> None:
        self._published.pop(_checked(path), None)

    def misbehave(self, path: str, mode: Behaviour | str) -> str:
        """Change how `path` answers from now on; requests waiting on it (hang, slow_body)
        wake up and follow the new behaviour. Returns the path's URL."""
        behaviour = Mode(mode) if isinstance(mode, str) else mode
        self._behaviour[_checked(path)] = behaviour
        old = self._wake.pop(path, None)
        if old is not None:
            old.set()
        return self.url(path)

    # --- what was asked ----------------------------------------------------------------

    @property
    def requests(self) -> tuple[SeenRequest, ...]:
        return tuple(self._seen)

    def requests_to(self, path: str) -> list[SeenRequest]:
        return [seen for seen in self._seen if seen.path == path]

    def hits(self, path: str) -> int:
        return len(self.requests_to(path))

    async def wait_for_hits(self, path: str, count: int = 1, timeout: float = 5.0) -> None:
        """Until `path` has received `count` requests (e.g. a hang is in progress)."""
        async with asyncio.timeout(timeout), self._arrived:
            await self._arrived.wait_for(lambda: self.hits(path) >= count)

    # --- the handler -------------------------------------------------------------------

    def _event(self, path: str) -> asyncio.Event:
        return self._wake.setdefault(path, asyncio.Event())

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self._seen.append(
            SeenRequest(request.method, path, CIMultiDictProxy(CIMultiDict(request.headers)))
        )
        async with self._arrived:
            self._arrived.notify_all()
        behaviour = self._behaviour.get(path, Mode.OK)
        while behaviour is Mode.HANG and not self._closing:
            await self._event(path).wait()
            behaviour = self._behaviour.get(path, Mode.OK)
        if self._closing:
            return web.Response(status=503, text="partner shutting down")
        if isinstance(behaviour, RedirectTo):
            return web.Response(status=behaviour.code, headers={"Location": behaviour.url})
        if isinstance(behaviour, Status):
            return web.Response(status=behaviour.code, text=f"partner says {behaviour.code}")
        handler = {
            Mode.OK: self._ok,
            Mode.HTTP_500: self._http_500,
            Mode.SLOW_BODY: self._slow_body,
            Mode.OVERSIZE: self._oversize,
            Mode.LYING_LENGTH: self._lying_length,
            Mode.GZIP_BOMB: self._gzip_bomb,
            Mode.GARBAGE: self._garbage,
            Mode.REDIRECT_LOOP: self._redirect_loop,
            Mode.RESET: self._reset,
        }[behaviour]
        return await handler(request)

    async def _ok(self, request: web.Request) -> web.StreamResponse:
        published = self._published.get(request.path)
        if published is None:
            return web.Response(status=404, text=f"nothing published at {request.path}")
        headers = {}
        if published.etag:
            headers["ETag"] = published.etag
        if published.last_modified is not None:
            headers["Last-Modified"] = format_datetime(
                published.last_modified.astimezone(UTC), usegmt=True
            )
        if _not_modified(request, published):
            return web.Response(status=304, headers=headers)
        response = web.Response(
            body=published.body, content_type="application/pkix-crl", headers=headers
        )
        if published.compress:
            response.enable_compression(web.ContentCoding.gzip)
        return response

    async def _http_500(self, _: web.Request) -> web.StreamResponse:
        return web.Response(status=500, text="internal server error")

    async def _garbage(self, _: web.Request) -> web.StreamResponse:
        return web.Response(body=GARBAGE, content_type="text/html")

    async def _redirect_loop(self, request: web.Request) -> web.StreamResponse:
        return web.Response(status=302, headers={"Location": request.path})

    async def _reset(self, request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.abort()  # RST-like: no status line at all
        return web.Response(status=500)  # never reaches the client

    async def _slow_body(self, request: web.Request) -> web.StreamResponse:
        body = self._body_or_filler(request.path)
        wake = self._event(request.path)
        response = web.StreamResponse(headers={"Content-Length": str(len(body))})
        await response.prepare(request)
        await response.write(body[: max(1, len(body) // 4)])
        await wake.wait()
        if self._closing:
            response.force_close()
            return response
        with contextlib.suppress(ConnectionError):  # the client gave up while it stalled
            await response.write(body[max(1, len(body) // 4) :])
        return response

    async def _lying_length(self, request: web.Request) -> web.StreamResponse:
        body = self._body_or_filler(request.path)
        response = web.StreamResponse(headers={"Content-Length": str(len(body) + 1024)})
        response.force_close()  # the connection ends 1 KiB short of the promise
        await response.prepare(request)
        await response.write(body)
        return response

    async def _oversize(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/pkix-crl"})
        await response.prepare(request)
        seed = self._body_or_filler(request.path)
        block = (seed * (CHUNK // len(seed) + 1))[:CHUNK]
        await self._stream(response, (block for _ in range(self._stream_limit // CHUNK)))
        return response

    async def _gzip_bomb(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "application/pkix-crl", "Content-Encoding": "gzip"}
        )
        await response.prepare(request)
        await self._stream(response, _gzip_of_zeros(self._stream_limit))
        return response

    async def _stream(self, response: web.StreamResponse, blocks: Iterable[bytes]) -> None:
        try:
            for block in blocks:
                if self._closing:
                    break
                await response.write(block)
                # let the client (often on this same loop) read between blocks
                await asyncio.sleep(0)
            await response.write_eof()
        except ConnectionError:
            pass  # the client stopped reading: that is what the test wanted

    def _body_or_filler(self, path: str) -> bytes:
        published = self._published.get(path)
        return published.body if published and published.body else b"\x30" + b"\x00" * 63


def _gzip_of_zeros(decoded: int) -> Iterator[bytes]:
    """A valid gzip stream of `decoded` zero bytes, produced cheaply as it is sent.

    Each MiB of zeros is one raw deflate block ending in a full flush, so every block
    is byte-identical (about 1 KiB): compressed once, repeated, with the gzip header in
    front and the CRC-32 and size trailer computed along the way.
    """
    zeros = bytes(1024 * 1024)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw deflate; framing is ours
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    final = compressor.flush(zlib.Z_FINISH)
    yield b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"  # gzip header, no name, no mtime
    crc = 0
    blocks = max(1, decoded // len(zeros))
    for _ in range(blocks):
        crc = zlib.crc32(zeros, crc)
        yield block
    yield final + struct.pack("<II", crc, (blocks * len(zeros)) & 0xFFFFFFFF)


def _checked(path: str) -> str:
    if not path.startswith("/"):
        raise ValueError(f"partner paths start with '/': {path!r}")
    return path


def _not_modified(request: web.Request, published: Published) -> bool:
    """RFC 9110 13.1: If-None-Match wins over If-Modified-Since when both are sent."""
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        if published.etag is None:
            return False
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or published.etag in tags
    since = request.headers.get("If-Modified-Since")
    if since is None or published.last_modified is None:
        return False
    try:
        asked = parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False
    return published.last_modified.replace(microsecond=0) <= asked


# --- TLS -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TlsPair:
    """A server context for `PartnerServer(ssl_context=...)` and a client context that
    trusts exactly it (for `make_session(ssl_context=...)`)."""

    server: ssl.SSLContext
    client: ssl.SSLContext
    ca_pem: bytes


def tls_pair(directory: Path) -> TlsPair:
    """A fresh CA and a 127.0.0.1 server certificate; files are written to `directory`."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "partner test TLS CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = directory / "partner-tls.pem", directory / "partner-tls.key"
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    client = ssl.create_default_context(cadata=ca_pem.decode())
    return TlsPair(server, client, ca_pem)


# --- fixture ---------------------------------------------------------------------------


@pytest.fixture
async def partner_server() -> AsyncIterator[PartnerServer]:
    """A started PartnerServer, closed after the test. In a conftest.py:
    `from tests.support.partner import partner_server  # noqa: F401`."""
    async with PartnerServer() as server:
        yield server
