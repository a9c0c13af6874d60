"""Bounded HTTP fetching against a partner that misbehaves on purpose: every FetchError
kind, the size cap, deadlines, redirects, TLS, conditional GET and the User-Agent."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from revocd.errors import FetchError
from revocd.fetch.transport import USER_AGENT, FetchResult, Transport, make_session
from revocd.store.base import Validators
from tests.support.partner import Mode, PartnerServer, redirect_to, status, tls_pair

CAP = 64 * 1024
CRL = b"\x30\x82\x13\x88" + bytes(range(256)) * 20
QUICK = timedelta(seconds=0.2)


async def get(
    transport: Transport,
    url: str,
    *,
    max_bytes: int = CAP,
    timeout: timedelta = timedelta(seconds=5),
    validators: Validators | None = None,
) -> FetchResult:
    return await transport.get(url, max_bytes=max_bytes, timeout=timeout, validators=validators)


async def fetch_error(transport: Transport, url: str, **kw: object) -> FetchError:
    with pytest.raises(FetchError) as caught:
        await get(transport, url, **kw)  # type: ignore[arg-type]
    assert caught.value.url == url
    return caught.value


# --- a misbehaving partner gives a named error -------------------------------------------

MISBEHAVIOUR = [
    pytest.param(Mode.HTTP_500, "http_status", "HTTP 500 Internal Server Error", id="http-500"),
    pytest.param(status(503), "http_status", "HTTP 503 Service Unavailable", id="http-503"),
    pytest.param(status(404), "http_status", "HTTP 404 Not Found", id="http-404"),
    pytest.param(Mode.OVERSIZE, "oversize", "read 64.0 KiB and stopped", id="endless-body"),
    pytest.param(Mode.GZIP_BOMB, "oversize", "read 64.0 KiB and stopped", id="gzip-bomb"),
    pytest.param(Mode.REDIRECT_LOOP, "too_many_redirects", "more than 5", id="redirect-loop"),
    pytest.param(Mode.RESET, "connection", "closed the connection", id="reset"),
    pytest.param(Mode.LYING_LENGTH, "connection", "cut short", id="body-shorter-than-length"),
    pytest.param(
        redirect_to("ftp://127.0.0.1/issuing.crl"), "bad_url", "not http(s)", id="redirect-to-ftp"
    ),
    pytest.param(
        redirect_to("file:///etc/passwd"), "bad_url", "not http(s)", id="redirect-to-file"
    ),
]


@pytest.mark.parametrize(("mode", "kind", "words"), MISBEHAVIOUR)
async def test_a_misbehaving_partner_gives_a_named_error(
    partner_server: PartnerServer, transport: Transport, mode, kind, words
):
    partner_server.publish("/issuing.crl", CRL)
    url = partner_server.misbehave("/issuing.crl", mode)
    error = await fetch_error(transport, url)
    assert error.kind == kind
    assert words in str(error)


async def test_garbage_is_fetched_not_judged(partner_server: PartnerServer, transport: Transport):
    """Fetch never parses: an HTML page where the CRL should be is verify's problem."""
    url = partner_server.misbehave("/issuing.crl", Mode.GARBAGE)
    result = await get(transport, url)
    assert result.body is not None
    assert result.body.startswith(b"<html>")
    assert result.content_type == "text/html"


# --- the size cap ------------------------------------------------------------------------

SIZES = [
    pytest.param(CAP, False, None, id="exactly-at-the-cap"),
    pytest.param(CAP - 1, False, None, id="one-under-the-cap"),
    pytest.param(CAP + 1, False, "Content-Length says 64.0 KiB", id="length-one-over"),
    pytest.param(10 * CAP, False, "Content-Length says 640 KiB", id="length-far-over"),
    pytest.param(CAP, True, None, id="gzip-decodes-to-exactly-the-cap"),
    # compressed it is far under the cap: only the decoded count catches it
    pytest.param(CAP + 1, True, "read 64.0 KiB and stopped", id="gzip-decodes-one-over"),
]


@pytest.mark.parametrize(("size", "compress", "refusal"), SIZES)
async def test_the_cap_counts_decoded_bytes(
    partner_server: PartnerServer, transport: Transport, size, compress, refusal
):
    body = bytes(size)
    url = partner_server.publish("/issuing.crl", body, compress=compress)
    if refusal is None:
        result = await get(transport, url)
        assert result.body == body
        return
    error = await fetch_error(transport, url)
    assert error.kind == "oversize"
    assert str(error) == (
        f"{url}: CRL is larger than max_crl_bytes 64 KiB ({refusal}); "
        "raise max_crl_bytes for this partner if the CRL is legitimately this large"
    )


async def test_a_compressed_body_arrives_decoded(partner_server, transport):
    url = partner_server.publish("/issuing.crl", CRL, compress=True)
    result = await get(transport, url)
    assert result.body == CRL
    assert partner_server.requests_to("/issuing.crl")[-1].headers["Accept-Encoding"]


async def test_a_gzip_bomb_under_a_big_enough_cap_is_read_whole(transport):
    """The bomb is a valid gzip stream: the cap, not a decoding error, is what stops it."""
    async with PartnerServer(stream_limit=4 * 1024 * 1024) as partner:
        url = partner.misbehave("/issuing.crl", Mode.GZIP_BOMB)
        result = await get(transport, url, max_bytes=8 * 1024 * 1024)
    assert result.body == bytes(4 * 1024 * 1024)


# --- deadlines and connections -----------------------------------------------------------


@pytest.mark.parametrize(
    "mode", [Mode.HANG, Mode.SLOW_BODY], ids=["never-answers", "body-stalls-after-headers"]
)
async def test_a_stalling_partner_times_out_on_time(partner_server, transport, mode):
    partner_server.publish("/issuing.crl", CRL)
    url = partner_server.misbehave("/issuing.crl", mode)
    started = time.monotonic()
    error = await fetch_error(transport, url, timeout=QUICK)
    assert time.monotonic() - started < 1.0
    assert error.kind == "timeout"
    assert "within timeout 0.2s" in str(error)
    assert "raise timeout for this partner" in str(error)


async def test_the_deadline_covers_every_redirect(partner_server, transport):
    partner_server.misbehave("/hang.crl", Mode.HANG)
    url = partner_server.misbehave("/issuing.crl", redirect_to("/hang.crl"))
    error = await fetch_error(transport, url, timeout=QUICK)
    assert error.kind == "timeout"


async def test_a_hanging_request_completes_when_the_partner_recovers(partner_server, transport):
    partner_server.publish("/issuing.crl", CRL)
    url = partner_server.misbehave("/issuing.crl", Mode.HANG)
    pending = asyncio.create_task(get(transport, url))
    await partner_server.wait_for_hits("/issuing.crl")
    partner_server.misbehave("/issuing.crl", Mode.OK)
    assert (await pending).body == CRL


async def test_connection_refused(transport, closed_port):
    url = f"http://127.0.0.1:{closed_port}/issuing.crl"
    error = await fetch_error(transport, url)
    assert error.kind == "connection"
    assert f"cannot connect to 127.0.0.1:{closed_port}" in str(error)


async def test_tls_to_a_trusted_partner(tmp_path: Path):
    pair = tls_pair(tmp_path)
    async with PartnerServer(ssl_context=pair.server) as partner:
        url = partner.publish("/issuing.crl", CRL)
        assert url.startswith("https://")
        async with make_session(ssl_context=pair.client) as session:
            result = await get(Transport(session), url)
    assert result.body == CRL


async def test_tls_to_an_untrusted_partner_is_a_connection_error(tmp_path, transport):
    async with PartnerServer(ssl_context=tls_pair(tmp_path).server) as partner:
        url = partner.publish("/issuing.crl", CRL)
        error = await fetch_error(transport, url)
    assert error.kind == "connection"
    assert "TLS certificate of 127.0.0.1 not accepted" in str(error)
    assert "certificate verify failed" in str(error) or "unable to get" in str(error)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        pytest.param(
            "ldap://ldap.example/cn=CA?certificateRevocationList", "use http, https", id="ldap"
        ),
        pytest.param("gopher://127.0.0.1/issuing.crl", "use http, https", id="gopher"),
        pytest.param("127.0.0.1/issuing.crl", "scheme '(none)'", id="no-scheme"),
        pytest.param("http:///issuing.crl", "http(s)://HOST[:PORT]/PATH", id="no-host"),
        pytest.param("http://[::1/issuing.crl", "Invalid IPv6 URL", id="broken-ipv6"),
        pytest.param("http://127.0.0.1:99999/issuing.crl", "Port out of range", id="bad-port"),
    ],
)
async def test_unusable_urls_are_refused_before_any_traffic(transport, url, words):
    error = await fetch_error(transport, url)
    assert error.kind == "bad_url"
    assert words in str(error)


# --- redirects ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hops", "code"),
    [(1, 301), (1, 302), (1, 303), (1, 307), (1, 308), (5, 302)],
    ids=["301", "302", "303", "307", "308", "five-hops"],
)
async def test_redirects_are_followed_up_to_five(partner_server, transport, hops, code):
    final = partner_server.publish("/final.crl", CRL)
    for hop in range(hops):
        target = "/final.crl" if hop == hops - 1 else f"/hop/{hop + 1}"
        partner_server.misbehave(f"/hop/{hop}", redirect_to(target, code))
    result = await get(transport, partner_server.url("/hop/0"))
    assert result.body == CRL
    assert result.url == partner_server.url("/hop/0")
    assert result.final_url == final


async def test_six_redirects_are_too_many(partner_server, transport):
    partner_server.publish("/final.crl", CRL)
    for hop in range(6):
        target = "/final.crl" if hop == 5 else f"/hop/{hop + 1}"
        partner_server.misbehave(f"/hop/{hop}", redirect_to(target))
    error = await fetch_error(transport, partner_server.url("/hop/0"))
    assert error.kind == "too_many_redirects"
    assert "more than 5 redirects" in str(error)
    assert partner_server.hits("/final.crl") == 0


async def test_an_error_after_redirects_names_where_it_happened(partner_server, transport):
    url = partner_server.misbehave("/issuing.crl", redirect_to("/moved.crl"))
    error = await fetch_error(transport, url)
    assert error.kind == "http_status"
    assert f"HTTP 404 Not Found from {partner_server.url('/moved.crl')} (after redirects)" in str(
        error
    )


async def test_a_redirect_to_another_server(partner_server, transport):
    async with PartnerServer() as mirror:
        final = mirror.publish("/issuing.crl", CRL)
        url = partner_server.misbehave("/issuing.crl", redirect_to(final))
        result = await get(transport, url)
    assert (result.body, result.final_url) == (CRL, final)


# --- conditional GET ---------------------------------------------------------------------

T = datetime(2026, 1, 1, tzinfo=UTC)
T_HTTP = "Thu, 01 Jan 2026 00:00:00 GMT"


@pytest.mark.parametrize(
    ("publish", "header"),
    [
        pytest.param({"etag": True}, "If-None-Match", id="etag"),
        pytest.param({"etag": False, "last_modified": T}, "If-Modified-Since", id="last-modified"),
    ],
)
async def test_an_unchanged_crl_costs_one_round_trip(partner_server, transport, publish, header):
    url = partner_server.publish("/issuing.crl", CRL, **publish)
    first = await get(transport, url)
    assert first.body == CRL
    assert first.status == 200
    seen = partner_server.requests_to("/issuing.crl")
    assert "If-None-Match" not in seen[0].headers
    assert "If-Modified-Since" not in seen[0].headers

    again = await get(transport, url, validators=first.validators)
    assert (again.body, again.status) == (None, 304)
    assert again.validators == first.validators
    sent = partner_server.requests_to("/issuing.crl")[-1].headers
    expected = first.validators.etag if header == "If-None-Match" else T_HTTP
    assert sent[header] == expected

    partner_server.publish("/issuing.crl", CRL + b"new", **{**publish, "last_modified": None})
    changed = await get(transport, url, validators=first.validators)
    assert changed.body == CRL + b"new"


async def test_validators_are_those_of_the_body(partner_server, transport):
    url = partner_server.publish("/issuing.crl", CRL, etag='"v1"', last_modified=T)
    result = await get(transport, url)
    assert result.validators == Validators('"v1"', T_HTTP)
    assert result.content_type == "application/pkix-crl"
    assert result.elapsed > timedelta(0)


async def test_a_304_without_validators_sent_is_an_error(partner_server, transport):
    url = partner_server.misbehave("/issuing.crl", status(304))
    error = await fetch_error(transport, url)
    assert error.kind == "http_status"
    assert "HTTP 304" in str(error)


# --- who is asking -----------------------------------------------------------------------


async def test_the_user_agent_names_revocd(partner_server, transport):
    url = partner_server.publish("/issuing.crl", CRL)
    await get(transport, url)
    agent = partner_server.requests_to("/issuing.crl")[-1].headers["User-Agent"]
    assert agent == USER_AGENT
    assert re.fullmatch(r"revocd/\d+\.\d+\.\d+\S* \(\+https://github\.com/revocd/revocd\)", agent)


async def test_environment_proxies_are_ignored(partner_server, monkeypatch):
    """Only the config decides where revocd connects: HTTP_PROXY is not followed."""
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    url = partner_server.publish("/issuing.crl", CRL)
    async with make_session("relying-party-test/1.0") as session:
        result = await get(Transport(session), url)
    assert result.body == CRL
    assert partner_server.requests[-1].headers["User-Agent"] == "relying-party-test/1.0"
