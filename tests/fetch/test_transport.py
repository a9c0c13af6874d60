"""Bounded fetching against a real aiohttp server that misbehaves on purpose."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiohttp import web

from revocd.errors import FetchError
from revocd.fetch.transport import Transport, make_session
from revocd.store.base import Validators

CAP = 64 * 1024
CRL = b"\x30\x82" + b"x" * 5000


def make_app(release: asyncio.Event, seen: list[dict[str, str]]) -> web.Application:
    async def ok(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        if request.headers.get("If-None-Match") == '"v1"':
            return web.Response(status=304)
        if request.headers.get("If-Modified-Since") == "Wed, 01 Jan 2026 00:00:00 GMT":
            return web.Response(status=304)
        return web.Response(
            body=CRL, headers={"ETag": '"v1"', "Last-Modified": "Wed, 01 Jan 2026 00:00:00 GMT"}
        )

    async def exact(_: web.Request) -> web.Response:
        return web.Response(body=b"a" * CAP)

    async def one_over(_: web.Request) -> web.Response:
        return web.Response(body=b"a" * (CAP + 1))

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        try:
            for _ in range(10_000):
                await response.write(b"z" * 16384)
        except (ConnectionResetError, ConnectionError):
            pass
        return response

    async def bomb(_: web.Request) -> web.Response:
        body = gzip.compress(b"\0" * (50 * 1024 * 1024), compresslevel=9)
        return web.Response(body=body, headers={"Content-Encoding": "gzip"})

    async def small_gzip(_: web.Request) -> web.Response:
        compressor = zlib.compressobj(wbits=31)
        body = compressor.compress(CRL) + compressor.flush()
        return web.Response(body=body, headers={"Content-Encoding": "gzip"})

    async def hang(_: web.Request) -> web.Response:
        await release.wait()
        return web.Response(body=CRL)

    async def slow_body(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": str(len(CRL))})
        await response.prepare(request)
        await response.write(CRL[:100])
        await release.wait()
        return response

    async def fail(_: web.Request) -> web.Response:
        return web.Response(status=503, text="down for maintenance")

    async def redirect(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        raise web.HTTPFound("/ok" if n == 0 else f"/redirect/{n - 1}")

    async def loop(_: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    async def to_ftp(_: web.Request) -> web.Response:
        raise web.HTTPFound("ftp://127.0.0.1/x.crl")

    app = web.Application()
    for path, handler in {
        "/ok": ok,
        "/exact": exact,
        "/one-over": one_over,
        "/endless": endless,
        "/bomb": bomb,
        "/small-gzip": small_gzip,
        "/hang": hang,
        "/slow-body": slow_body,
        "/fail": fail,
        "/redirect/{n}": redirect,
        "/loop": loop,
        "/to-ftp": to_ftp,
    }.items():
        app.router.add_get(path, handler)
    return app


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    release = asyncio.Event()
    seen: list[dict[str, str]] = []
    runner = web.AppRunner(make_app(release, seen), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}", seen
    release.set()
    await runner.cleanup()


@pytest.fixture
async def transport() -> AsyncIterator[Transport]:
    async with make_session() as session:
        yield Transport(session)


async def get(transport: Transport, url: str, **kw: object) -> object:
    return await transport.get(
        url,
        max_bytes=kw.pop("max_bytes", CAP),
        timeout=kw.pop("timeout", timedelta(seconds=2)),
        **kw,
    )


@pytest.mark.parametrize(
    ("path", "kind", "words"),
    [
        ("/one-over", "oversize", "max_crl_bytes"),
        ("/endless", "oversize", "max_crl_bytes"),
        ("/bomb", "oversize", "max_crl_bytes"),
        ("/fail", "http_status", "HTTP 503"),
        ("/redirect/5", "too_many_redirects", "more than 5"),
        ("/loop", "too_many_redirects", "redirects"),
        ("/to-ftp", "connection", ""),
    ],
    ids=[
        "one-byte-over-the-cap",
        "endless-body-without-length",
        "gzip-bomb-counted-after-decompression",
        "http-503",
        "six-redirects",
        "redirect-loop",
        "redirect-to-ftp",
    ],
)
async def test_misbehaving_partners_give_named_errors(server, transport, path, kind, words):
    base, _ = server
    with pytest.raises(FetchError) as error:
        await get(transport, base + path)
    assert error.value.kind == kind
    assert words in str(error.value)


@pytest.mark.parametrize("path", ["/hang", "/slow-body"], ids=["no-answer", "body-stalls"])
async def test_a_partner_that_stalls_times_out(server, transport, path):
    base, _ = server
    with pytest.raises(FetchError) as error:
        await get(transport, base + path, timeout=timedelta(seconds=0.2))
    assert error.value.kind == "timeout"
    assert "0.2s" in str(error.value)


async def test_connection_refused(transport):
    with pytest.raises(FetchError) as error:
        await get(transport, "http://127.0.0.1:1/x.crl")
    assert error.value.kind == "connection"


@pytest.mark.parametrize(
    ("path", "size"),
    [("/ok", len(CRL)), ("/exact", CAP), ("/redirect/4", len(CRL)), ("/small-gzip", len(CRL))],
    ids=["plain", "exactly-at-the-cap", "five-redirects", "gzip-undone"],
)
async def test_good_bodies_are_returned_whole(server, transport, path, size):
    base, _ = server
    result = await get(transport, base + path)
    assert result.body is not None
    assert len(result.body) == size


async def test_conditional_get_and_user_agent(server, transport):
    base, seen = server
    first = await get(transport, base + "/ok")
    assert first.validators == Validators('"v1"', "Wed, 01 Jan 2026 00:00:00 GMT")
    assert seen[-1]["User-Agent"].startswith("revocd/")
    again = await get(transport, base + "/ok", validators=first.validators)
    assert again.body is None
    assert again.status == 304
    assert seen[-1]["If-None-Match"] == '"v1"'
    by_date = await get(
        transport, base + "/ok", validators=Validators(None, "Wed, 01 Jan 2026 00:00:00 GMT")
    )
    assert by_date.body is None


async def test_file_urls_are_read_capped_and_unchanged_files_cost_nothing(tmp_path, transport):
    path = tmp_path / "issuing.crl"
    path.write_bytes(CRL)
    first = await get(transport, path.as_uri())
    assert first.body == CRL
    second = await get(transport, path.as_uri(), validators=first.validators)
    assert second.body is None
    path.write_bytes(CRL + b"more")
    third = await get(transport, path.as_uri(), validators=first.validators)
    assert third.body == CRL + b"more"
    big = tmp_path / "big.crl"
    big.write_bytes(b"a" * (CAP + 1))
    with pytest.raises(FetchError) as error:
        await get(transport, big.as_uri())
    assert error.value.kind == "oversize"
    with pytest.raises(FetchError) as missing:
        await get(transport, (tmp_path / "nope.crl").as_uri())
    assert missing.value.kind == "file_error"


@pytest.mark.parametrize(
    "url",
    ["ldap://ldap.example/cn=CA?certificateRevocationList", "gopher://x/y"],
    ids=["ldap", "gopher"],
)
async def test_unsupported_schemes_are_refused(transport, url):
    with pytest.raises(FetchError) as error:
        await get(transport, url)
    assert error.value.kind == "bad_url"
