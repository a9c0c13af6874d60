"""Bounded fetching of bytes over http(s) and file:. Never parses what it fetches.

What it decides, and how it degrades:

* Size: the body is counted *after* Content-Encoding is undone (a small gzip that
  inflates to gigabytes is caught) and reading stops as soon as it passes `max_bytes`:
  at most `max_bytes + 1` bytes are ever held. A Content-Length over the cap stops the
  fetch before the body is read.
* Time: the whole request (connect, TLS, headers, every redirect, body) is bounded by
  `timeout`; aiohttp's own timeouts are switched off so only this one applies.
* Redirects: followed here, not by aiohttp, so the rules are ours: at most five, only to
  http(s), each hop's target named in the error when one is refused.
* Conditional GET: If-None-Match / If-Modified-Since from the previous validators; a 304
  is `body=None`, so an unchanged CRL costs one round trip and no parse. For file: URLs
  the file's mtime (ns) and size make the ETag, with the same effect.

Every failure is a `FetchError` whose `kind` is a stable label for metrics and alerts,
and whose message names the values and the way out.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import NoReturn
from urllib.parse import unquote, urlsplit

import aiohttp
from yarl import URL

from revocd import __version__
from revocd.errors import FetchError
from revocd.store.base import Validators

USER_AGENT = f"revocd/{__version__} (+https://github.com/revocd/revocd)"
MAX_REDIRECTS = 5
JOIN_IN_THREAD = 1024 * 1024
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Bytes asked of the stream per read; the last read asks only for what the cap allows.
CHUNK = 256 * 1024
ACCEPT = "application/pkix-crl, application/x-pkcs7-crl, */*;q=0.5"
_HTTP = ("http", "https")


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one fetch produced: bytes and metadata, nothing parsed.

    `body` is None when the source has not changed since `validators` were sent (HTTP
    304, or a file whose mtime and size are as before); `status` is then 304. A file
    read gives status 200.
    """

    url: str  # as asked
    final_url: str  # after redirects
    body: bytes | None
    status: int
    validators: Validators  # of this body, for the next conditional request
    content_type: str | None
    elapsed: timedelta


def make_session(
    user_agent: str = USER_AGENT, *, ssl_context: ssl.SSLContext | None = None
) -> aiohttp.ClientSession:
    """The one client session of a daemon (or of a CLI run); the caller closes it.

    Environment proxies are ignored on purpose (`trust_env=False`): the config is the
    only input. `ssl_context` replaces the system trust store (tests, private PKIs).
    """
    return aiohttp.ClientSession(
        headers={"User-Agent": user_agent},
        trust_env=False,
        auto_decompress=True,
        # Only Transport's own deadline applies; aiohttp's 5-minute default would cut a
        # partner whose configured timeout is longer.
        timeout=aiohttp.ClientTimeout(total=None),
        # No pool-wide caps: each source bounds itself (one CRL fetch at a time; at most
        # `ocsp_concurrency` OCSP queries), and a pool cap below that bound would silently
        # override it. Keep-alive makes re-polls and repeated queries cheap.
        connector=aiohttp.TCPConnector(
            limit=0,
            limit_per_host=0,
            ttl_dns_cache=60,
            ssl=ssl_context if ssl_context is not None else True,
        ),
    )


class Transport:
    """Fetches http(s) and file: URLs with a size cap and a deadline. Holds no state
    but the caller's session, so one instance serves every source."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    async def get(
        self,
        url: str,
        *,
        max_bytes: int,
        timeout: timedelta,
        validators: Validators | None = None,
    ) -> FetchResult:
        """Fetch `url`; raises `FetchError` (kinds: bad_url, timeout, connection,
        http_status, too_many_redirects, oversize, file_error)."""
        try:
            scheme = urlsplit(url).scheme.lower()
        except ValueError as error:
            raise FetchError("bad_url", url, f"invalid URL: {error}") from None
        started = time.monotonic()
        if scheme == "file":
            return await _read_file(url, max_bytes, validators, started)
        if scheme not in _HTTP:
            raise FetchError(
                "bad_url",
                url,
                f"unsupported URL scheme {scheme or '(none)'!r} (use http, https or file)",
            )
        seconds = timeout.total_seconds()
        try:
            async with asyncio.timeout(seconds):
                return await self._http(url, max_bytes, validators, started)
        except TimeoutError:
            raise FetchError(
                "timeout",
                url,
                f"no complete answer within timeout {seconds:g}s (connect, headers and body); "
                "raise timeout for this partner if its server is slow or its CRL large",
            ) from None
        except (aiohttp.ClientError, ssl.SSLError, OSError) as error:
            raise_client_error(url, error)

    async def _http(
        self, url: str, max_bytes: int, validators: Validators | None, started: float
    ) -> FetchResult:
        headers = {"Accept": ACCEPT}
        if validators is not None and validators.etag:
            headers["If-None-Match"] = validators.etag
        if validators is not None and validators.last_modified:
            headers["If-Modified-Since"] = validators.last_modified
        sent_validators = "If-None-Match" in headers or "If-Modified-Since" in headers
        current = _parse_url(url, url)
        for hop in range(MAX_REDIRECTS + 1):
            async with self._session.get(
                current, headers=headers, allow_redirects=False
            ) as response:
                location = response.headers.get("Location")
                if response.status in REDIRECT_STATUSES and location:
                    current = _next_hop(url, current, location, hop)
                    continue
                if response.status == 304 and sent_validators:
                    assert validators is not None
                    return FetchResult(
                        url,
                        str(current),
                        None,
                        304,
                        _refreshed(validators, response),
                        None,
                        _since(started),
                    )
                if not 200 <= response.status < 300:
                    reason = f" {response.reason}" if response.reason else ""
                    where = f" from {current} (after redirects)" if hop else ""
                    raise FetchError(
                        "http_status",
                        url,
                        f"HTTP {response.status}{reason}{where}; the partner's server "
                        "refused or failed the request",
                    )
                body = await read_capped_body(url, response, max_bytes)
                return FetchResult(
                    url,
                    str(current),
                    body,
                    response.status,
                    Validators(response.headers.get("ETag"), response.headers.get("Last-Modified")),
                    response.headers.get("Content-Type"),
                    _since(started),
                )
        raise AssertionError("unreachable: the redirect loop returns or raises")


def _parse_url(url: str, text: str) -> URL:
    try:
        return URL(text)
    except (ValueError, TypeError) as error:
        raise FetchError("bad_url", url, f"invalid URL {text!r}: {error}") from None


def _next_hop(url: str, current: URL, location: str, hop: int) -> URL:
    """The redirect target from `current`, if one more redirect is allowed and safe."""
    target = current.join(_parse_url(url, location))
    if hop == MAX_REDIRECTS:
        raise FetchError(
            "too_many_redirects",
            url,
            f"more than {MAX_REDIRECTS} redirects (the last one from {current} to {target}); "
            "configure the final URL of the CRL instead",
        )
    if target.scheme not in _HTTP:
        raise FetchError(
            "bad_url",
            url,
            f"redirected from {current} to {target}, which is not http(s); revocd follows "
            "redirects only to http and https",
        )
    return target


def _refreshed(sent: Validators, response: aiohttp.ClientResponse) -> Validators:
    """A 304 may carry updated validators (RFC 9110 15.4.5); keep the sent ones otherwise."""
    return replace(
        sent,
        etag=response.headers.get("ETag", sent.etag),
        last_modified=response.headers.get("Last-Modified", sent.last_modified),
    )


async def read_capped_body(
    url: str,
    response: aiohttp.ClientResponse,
    max_bytes: int,
    oversize: Callable[[str, int, str], FetchError] | None = None,
) -> bytes:
    """The decoded body, or FetchError("oversize") the moment it passes `max_bytes`.
    `oversize(url, max_bytes, what)` words that error for the caller's setting (default:
    a CRL and max_crl_bytes)."""
    too_big = oversize or _oversize
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    declared = response.content_length
    # A compressed Content-Length says nothing about the decoded size: only an identity
    # body can be refused before reading.
    if declared is not None and encoding == "identity" and declared > max_bytes:
        response.close()
        raise too_big(url, max_bytes, f"Content-Length says {format_bytes(declared)}")
    chunks: list[bytes] = []
    read = 0
    while True:
        # Ask for no more than one byte past the cap, so nothing beyond it is ever held.
        chunk = await response.content.read(min(CHUNK, max_bytes - read + 1))
        if not chunk:
            if read > JOIN_IN_THREAD:
                # bytes.join releases the GIL for big copies: off the loop, a 40 MB join
                # (mostly page faults) does not stall serving
                return await asyncio.to_thread(b"".join, chunks)
            return b"".join(chunks)
        read += len(chunk)
        if read > max_bytes:
            # close, not release: the rest of the body must not be drained into a pool
            response.close()
            raise too_big(url, max_bytes, f"read {format_bytes(read)} and stopped")
        chunks.append(chunk)


def raise_client_error(url: str, error: BaseException) -> NoReturn:
    """Map aiohttp's and the OS's errors to FetchError kinds, with a readable message."""
    hint = "check the URL and that the partner's server is reachable from this host"
    if isinstance(error, aiohttp.InvalidURL):
        why = error.description or "write it as http(s)://HOST[:PORT]/PATH"
        raise FetchError("bad_url", url, f"invalid URL {error.url}: {why}") from None
    if isinstance(error, aiohttp.ClientConnectorCertificateError):
        problem = error.certificate_error
        detail = getattr(problem, "verify_message", None) or str(problem)
        raise FetchError(
            "connection",
            url,
            f"TLS certificate of {error.host} not accepted: {detail}; the server must present "
            "a certificate valid for this host name and trusted by this system",
        ) from None
    if isinstance(error, aiohttp.ClientSSLError | ssl.SSLError):
        raise FetchError("connection", url, f"TLS handshake failed: {error}; {hint}") from None
    if isinstance(error, aiohttp.ClientConnectorDNSError):
        raise FetchError(
            "connection", url, f"cannot resolve host {error.host!r}: {error.os_error}; {hint}"
        ) from None
    if isinstance(error, aiohttp.ClientConnectorError):
        reason = error.os_error.strerror or str(error.os_error)
        raise FetchError(
            "connection", url, f"cannot connect to {error.host}:{error.port}: {reason}; {hint}"
        ) from None
    if isinstance(error, aiohttp.ServerDisconnectedError):
        raise FetchError(
            "connection", url, "the server closed the connection without a complete answer"
        ) from None
    if isinstance(error, aiohttp.ClientPayloadError):
        raise FetchError(
            "connection",
            url,
            f"the response body was cut short or is not validly encoded: {error}",
        ) from None
    if isinstance(error, aiohttp.ClientResponseError):
        raise FetchError(
            "connection", url, f"the server's answer is not valid HTTP: {error.message}"
        ) from None
    raise FetchError("connection", url, f"{type(error).__name__}: {error}; {hint}") from None


def format_bytes(count: int) -> str:
    """`10485760` -> "10 MiB", `10485761` -> "10.0 MiB", `65536` -> "64 KiB"."""
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if count >= size:
            return f"{count // size} {unit}" if count % size == 0 else f"{count / size:.1f} {unit}"
    return f"{count} bytes"


def _exact_bytes(count: int) -> str:
    """The configured cap exactly as it is: "10 MiB", or "4095 bytes" when not round."""
    text = format_bytes(count)
    return text if "." not in text else f"{count} bytes"


def _oversize(url: str, max_bytes: int, what: str) -> FetchError:
    return FetchError(
        "oversize",
        url,
        f"CRL is larger than max_crl_bytes {_exact_bytes(max_bytes)} ({what}); "
        "raise max_crl_bytes for this partner if the CRL is legitimately this large",
    )


def _since(started: float) -> timedelta:
    return timedelta(seconds=time.monotonic() - started)


# --- file: URLs ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _FileRead:
    body: bytes | None  # None: unchanged
    validators: Validators


async def _read_file(
    url: str, max_bytes: int, validators: Validators | None, started: float
) -> FetchResult:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise FetchError(
            "bad_url", url, f"file URLs must be local, like file:///path (host {parts.netloc!r})"
        )
    path = Path(unquote(parts.path))
    if not path.is_absolute():
        raise FetchError(
            "bad_url", url, "file URLs must be absolute, like file:///var/lib/revocd/issuing.crl"
        )
    try:
        # Off the loop: a slow or network file system must not stall serving.
        read = await asyncio.to_thread(_read_file_sync, url, path, max_bytes, validators)
    except OSError as error:
        raise FetchError(
            "file_error",
            url,
            f"cannot read {path}: {error.strerror or error}; check the path and that revocd's "
            "user may read it",
        ) from None
    status = 304 if read.body is None else 200
    return FetchResult(url, url, read.body, status, read.validators, None, _since(started))


def _read_file_sync(
    url: str, path: Path, max_bytes: int, validators: Validators | None
) -> _FileRead:
    with path.open("rb") as handle:
        # fstat of the open handle: the validators describe exactly the file being read
        stat = os.fstat(handle.fileno())
        current = Validators(etag=f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"')
        if validators is not None and validators.etag == current.etag:
            return _FileRead(None, current)
        if stat.st_size > max_bytes:
            raise _oversize(url, max_bytes, f"the file is {format_bytes(stat.st_size)}")
        # +1: a file that grew since fstat (or a device reporting size 0) is still caught
        body = handle.read(max_bytes + 1)
    if len(body) > max_bytes:
        raise _oversize(url, max_bytes, f"read {format_bytes(len(body))} and stopped")
    return _FileRead(body, current)
