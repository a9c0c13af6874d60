"""Bounded fetching of bytes over http(s) and file:. Never parses what it fetches.

Every read is bounded: the body is counted *after* Content-Encoding is undone (so a
small gzip that inflates to gigabytes is caught) and the download stops as soon as it
passes `max_bytes`; a Content-Length over the cap stops it before the body is read. The
whole request (connect, headers, body) is bounded by `timeout`. At most five redirects,
and only to http(s). Conditional GET (If-None-Match / If-Modified-Since) makes an
unchanged CRL cost one round trip and no parse; for file: URLs, the file's mtime and size
play the part of the validators.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit

import aiohttp

from revocd import __version__
from revocd.errors import FetchError
from revocd.store.base import Validators

USER_AGENT = (
    f"revocd/{__version__} (revocation aggregation daemon; +https://github.com/revocd/revocd)"
)
MAX_REDIRECTS = 5
CHUNK = 256 * 1024


@dataclass(frozen=True, slots=True)
class FetchResult:
    url: str
    final_url: str
    body: bytes | None  # None: not modified since `validators`
    status: int
    validators: Validators
    content_type: str | None
    elapsed: timedelta


def make_session(user_agent: str = USER_AGENT) -> aiohttp.ClientSession:
    """The one client session of a daemon; the caller closes it."""
    return aiohttp.ClientSession(
        headers={"User-Agent": user_agent},
        trust_env=False,
        auto_decompress=True,
        connector=aiohttp.TCPConnector(limit=64, limit_per_host=4, ttl_dns_cache=60),
    )


def _mib(count: int) -> str:
    return f"{count / (1024 * 1024):.1f} MiB"


def _oversize(url: str, max_bytes: int, read: int, how: str) -> FetchError:
    return FetchError(
        "oversize",
        url,
        f"CRL is larger than max_crl_bytes {_mib(max_bytes)} ({how} {_mib(read)} and stopped); "
        "raise max_crl_bytes for this partner if the CRL is legitimately this large",
    )


class Transport:
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
        scheme = urlsplit(url).scheme.lower()
        started = time.monotonic()
        if scheme == "file":
            return await _read_file(url, max_bytes, validators, started)
        if scheme not in ("http", "https"):
            raise FetchError(
                "bad_url", url, f"unsupported URL scheme {scheme!r} (use http, https or file)"
            )
        seconds = timeout.total_seconds()
        try:
            async with asyncio.timeout(seconds):
                return await self._http(url, max_bytes, validators, started)
        except TimeoutError:
            raise FetchError(
                "timeout", url, f"no complete answer within timeout {seconds:g}s"
            ) from None
        except aiohttp.TooManyRedirects:
            raise FetchError(
                "too_many_redirects", url, f"more than {MAX_REDIRECTS} redirects"
            ) from None
        except aiohttp.ClientSSLError as error:
            raise FetchError("connection", url, f"TLS error: {error}") from None
        except aiohttp.InvalidURL as error:
            raise FetchError("bad_url", url, f"invalid URL: {error}") from None
        except (aiohttp.ClientError, OSError) as error:
            raise FetchError("connection", url, f"{type(error).__name__}: {error}") from None

    async def _http(
        self, url: str, max_bytes: int, validators: Validators | None, started: float
    ) -> FetchResult:
        headers = {"Accept": "application/pkix-crl, application/x-pkcs7-crl, */*;q=0.5"}
        if validators and validators.etag:
            headers["If-None-Match"] = validators.etag
        if validators and validators.last_modified:
            headers["If-Modified-Since"] = validators.last_modified
        async with self._session.get(
            url,
            headers=headers,
            # aiohttp counts the request that would follow the last allowed redirect
            max_redirects=MAX_REDIRECTS + 1,
            allow_redirects=True,
        ) as response:
            final = str(response.url)
            if urlsplit(final).scheme not in ("http", "https"):
                raise FetchError("bad_url", url, f"redirected to a non-http(s) URL {final}")
            if response.status == 304 and validators is not None:
                return FetchResult(url, final, None, 304, validators, None, _since(started))
            if not 200 <= response.status < 300:
                raise FetchError(
                    "http_status", url, f"HTTP {response.status} {response.reason or ''}".strip()
                )
            if (
                response.content_length is not None
                and response.content_length > max_bytes
                and not response.headers.get("Content-Encoding")
            ):
                raise _oversize(url, max_bytes, response.content_length, "Content-Length says")
            chunks: list[bytes] = []
            read = 0
            async for chunk in response.content.iter_chunked(CHUNK):
                read += len(chunk)
                if read > max_bytes:
                    response.close()
                    raise _oversize(url, max_bytes, read, "read")
                chunks.append(chunk)
            got = Validators(response.headers.get("ETag"), response.headers.get("Last-Modified"))
            return FetchResult(
                url,
                final,
                b"".join(chunks),
                response.status,
                got,
                response.headers.get("Content-Type"),
                _since(started),
            )


def _since(started: float) -> timedelta:
    return timedelta(seconds=time.monotonic() - started)


async def _read_file(
    url: str, max_bytes: int, validators: Validators | None, started: float
) -> FetchResult:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise FetchError("bad_url", url, "file URLs must be local: file:///path")
    path = Path(unquote(parts.path))
    try:
        stat = await asyncio.to_thread(os.stat, path)
    except OSError as error:
        raise FetchError("file_error", url, f"cannot read {path}: {error.strerror}") from None
    tag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
    current = Validators(tag, None)
    if validators is not None and validators.etag == tag:
        return FetchResult(url, url, None, 304, current, None, _since(started))
    if stat.st_size > max_bytes:
        raise _oversize(url, max_bytes, stat.st_size, "file is")
    try:
        body = await asyncio.to_thread(_read_capped, path, max_bytes + 1)
    except OSError as error:
        raise FetchError("file_error", url, f"cannot read {path}: {error.strerror}") from None
    if len(body) > max_bytes:
        raise _oversize(url, max_bytes, len(body), "read")
    return FetchResult(url, url, body, 200, current, None, _since(started))


def _read_capped(path: Path, limit: int) -> bytes:
    with path.open("rb") as handle:
        return handle.read(limit)
