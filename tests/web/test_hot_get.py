"""The GET hot path (revocd/web/hot_get.py) answers exactly as aiohttp's route would, and
hands everything else to aiohttp without losing a byte.

Two servers share one responder (so one set of pre-signed responses): `reference` is plain
aiohttp, `hot` has HotGet in front. The same raw bytes go to both over real sockets.
"""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from revocd.clock import ManualClock
from revocd.metrics import Metrics
from revocd.ocsp.responder import Responder, ResponderPolicy
from revocd.ocsp.signing import Signer
from revocd.status.board import SourceBoard
from revocd.web import hot_get
from revocd.web.app import make_app
from revocd.web.hot_get import IDLE_TIMEOUT, Fronts, HotPath, HotSite, parse_head, start_site
from revocd.web.ocsp_routes import HEADERS, RESPONDER
from tests.ocsp.test_responses_property import CA, CACHE, NOW, POLICY
from tests.ocsp.test_responses_property import RESPONDER as RESPONDER_CA
from tests.support.pki import issue


def ocsp_request(serial: int, algorithm: hashes.HashAlgorithm) -> bytes:
    leaf, _ = issue(CA, serial=serial)
    builder = ocsp.OCSPRequestBuilder().add_certificate(leaf, CA.cert, algorithm)
    return builder.build().public_bytes(serialization.Encoding.DER)


REQUEST = ocsp_request(0x4343, hashes.SHA1())
TARGET = "/ocsp/" + base64.b64encode(REQUEST).decode()


@dataclass
class Pair:
    reference: int  # ports
    hot: int
    metrics: Metrics
    site: HotSite
    path: HotPath
    fronts: Fronts
    handovers: list[int] = field(default_factory=list)  # one entry per connection handed over


def _listening() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


def _app(responder: Responder, metrics: Metrics) -> web.Application:
    return make_app(
        cache=CACHE,
        board=SourceBoard([]),
        clock=ManualClock(NOW),
        partners=(),
        metrics=metrics,
        responder=responder,
    )


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    async with serving() as made:
        yield made


@asynccontextmanager
async def serving() -> AsyncIterator[Pair]:
    responder = Responder(
        CACHE,
        {"acme": Signer(RESPONDER_CA.cert, RESPONDER_CA.key, embed=False)},
        {"acme": POLICY.grace},
        ResponderPolicy(timedelta(hours=1), "ignore"),
    )
    reference_runner = web.AppRunner(_app(responder, Metrics()), access_log=None)
    metrics = Metrics()
    hot_runner = web.AppRunner(_app(responder, metrics), access_log=None)
    await reference_runner.setup()
    await hot_runner.setup()
    reference_sock, hot_sock = _listening(), _listening()
    await web.SockSite(reference_runner, reference_sock).start()
    path = HotPath.of(hot_runner)
    assert path is not None
    handovers: list[int] = []
    server = path.delegate

    def counting() -> asyncio.Protocol:
        handovers.append(1)
        return server()

    counted = HotPath(path.responder, path.headers, path.clock, metrics, counting, path.dates)
    fronts = Fronts()
    site = HotSite(hot_runner, hot_sock, counted, fronts)
    await site.start()
    made = Pair(
        reference_sock.getsockname()[1],
        hot_sock.getsockname()[1],
        metrics,
        site,
        counted,
        fronts,
        handovers,
    )
    # the first GET signs (a miss, aiohttp's to answer); later ones are pre-signed
    assert (await exchange(made.reference, get(TARGET)))[0].startswith(b"HTTP/1.1 200")
    try:
        yield made
    finally:
        await hot_runner.cleanup()
        await reference_runner.cleanup()


def get(target: str, version: str = "1.1", *headers: str) -> bytes:
    lines = [f"GET {target} HTTP/{version}", "Host: 127.0.0.1", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def read_response(
    reader: asyncio.StreamReader, head_only: bool = False
) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    if head_only or head.split(b" ", 2)[1] in (b"204", b"304"):
        return head, b""
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head, await reader.readexactly(length)


async def exchange(port: int, raw: bytes, responses: int = 1) -> list[bytes]:
    """Send `raw`, read `responses` responses (head + body each); then whether the server
    closed the connection, as a final b"closed" or b"open"."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        answers = []
        for _ in range(responses):
            head, body = await asyncio.wait_for(read_response(reader), 10)
            answers.append(head + body)
        writer.write_eof()
        rest = await asyncio.wait_for(reader.read(), 10)
        answers.append(b"closed" if rest == b"" else b"more:" + rest)
        return answers
    finally:
        writer.close()


def without_date(response: bytes) -> bytes:
    return b"\r\n".join(
        line for line in response.split(b"\r\n") if not line.lower().startswith(b"date:")
    )


@pytest.mark.parametrize(
    ("version", "headers", "connection"),
    [
        ("1.1", (), None),
        ("1.1", ("Connection: close",), b"Connection: close"),
        ("1.1", ("Connection: Keep-Alive",), None),
        ("1.0", (), None),
        ("1.0", ("Connection: keep-alive",), b"Connection: keep-alive"),
    ],
)
async def test_hot_answers_are_aiohttps_byte_for_byte(pair, version, headers, connection):
    raw = get(TARGET, version, *headers)
    reference = await exchange(pair.reference, raw)
    hot = await exchange(pair.hot, raw)
    assert pair.handovers == []  # answered by the hot path, not handed over
    assert without_date(hot[0]) == without_date(reference[0])
    head = hot[0].split(b"\r\n\r\n")[0].split(b"\r\n")
    assert head[0] == f"HTTP/{version} 200 OK".encode()
    assert [line.split(b":")[0] for line in head[1:]] == [
        b"Cache-Control",
        b"Last-Modified",
        b"Expires",
        b"ETag",
        b"Content-Type",
        b"Content-Length",
        b"Date",
        b"Server",
        *([b"Connection"] if connection else []),
    ]
    assert (connection in head) if connection else not any(b"Connection" in h for h in head)
    parsed = ocsp.load_der_ocsp_response(hot[0].split(b"\r\n\r\n", 1)[1])
    assert parsed.certificate_status == ocsp.OCSPCertStatus.GOOD


async def test_pipelined_requests_are_answered_in_order_then_handed_over(pair):
    post = (
        b"POST /ocsp HTTP/1.1\r\nHost: x\r\nContent-Type: application/ocsp-request\r\n"
        b"Content-Length: %d\r\n\r\n" % len(REQUEST) + REQUEST
    )
    raw = (
        get(TARGET)
        + get(TARGET)
        + post
        + get("/v1/partners")
        + get(TARGET, "1.1", "Connection: close")
    )
    hot = await exchange(pair.hot, raw, responses=5)
    assert pair.handovers == [1]  # at the POST, once, for the rest of the connection
    assert [r.split(b"\r\n", 1)[0] for r in hot[:5]] == [b"HTTP/1.1 200 OK"] * 5
    assert b"ETag" not in hot[2]  # POST: answered by aiohttp's POST route
    assert b"application/json" in hot[3]
    assert hot[5] == b"closed"
    assert ocsp.load_der_ocsp_response(hot[0].split(b"\r\n\r\n", 1)[1]).serial_number == 0x4343


def test_the_hand_over_works_on_uvloop():
    """The daemon serves on uvloop: its transports must accept the protocol switch."""
    import uvloop  # a dependency wherever the daemon runs (pyproject.toml): never skipped

    async def scenario() -> None:
        async with serving() as made:
            await test_pipelined_requests_are_answered_in_order_then_handed_over(made)
        async with serving() as made:
            await test_a_hand_over_while_writes_are_backed_up_loses_nothing(made)

    uvloop.run(scenario())


async def test_a_failure_in_the_hot_path_costs_speed_not_the_answer(pair, monkeypatch):
    def broken(*_: object) -> bytes:
        raise RuntimeError("a bug in the hot path")

    monkeypatch.setattr(HotPath, "_render", broken)
    reference = await exchange(pair.reference, get(TARGET))
    hot = await exchange(pair.hot, get(TARGET))
    assert pair.handovers == [1]  # aiohttp answered instead
    assert without_date(hot[0]) == without_date(reference[0])


async def test_a_hand_over_while_writes_are_backed_up_loses_nothing(pair):
    """Pipelined GETs whose answers back up (small socket buffers, a client that reads
    nothing yet: the front pauses reading), then, in the same read, a request only aiohttp
    answers: once the client reads, every answer arrives, and the connection (aiohttp's
    now) still reads the next request."""
    listener = _listening()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)  # accepted ones inherit
    site = HotSite(pair.site._runner, listener, pair.path)
    await site.start()
    count = 200
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, listener.getsockname())
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(get(TARGET) * count + get("/v1/partners"))
    await writer.drain()
    for _ in range(count):
        head, _ = await asyncio.wait_for(read_response(reader), 10)
        assert head.startswith(b"HTTP/1.1 200 OK")
    head, _ = await asyncio.wait_for(read_response(reader), 10)
    assert b"application/json" in head
    writer.write(get(TARGET, "1.1", "Connection: close"))  # the connection still reads
    head, body = await asyncio.wait_for(read_response(reader), 10)
    assert ocsp.load_der_ocsp_response(body).serial_number == 0x4343
    assert await asyncio.wait_for(reader.read(), 10) == b""
    assert pair.handovers == [1]
    writer.close()


async def test_if_none_match_is_aiohttps_304(pair):
    first = await exchange(pair.hot, get(TARGET))
    etag = next(line for line in first[0].split(b"\r\n") if line.startswith(b"ETag:")).decode()
    hot = await exchange(pair.hot, get(TARGET, "1.1", f"If-None-Match: {etag.split(': ')[1]}"))
    assert hot[0].startswith(b"HTTP/1.1 304")
    assert pair.handovers == [1]


async def test_a_miss_is_signed_by_aiohttps_route(pair):
    request = ocsp_request(0x4444, hashes.SHA256())
    target = "/ocsp/" + base64.urlsafe_b64encode(request).decode().rstrip("=")
    miss = await exchange(pair.hot, get(target))
    assert pair.handovers == [1]
    hit = await exchange(pair.hot, get(target))
    assert pair.handovers == [1]  # signed once, then pre-signed: the hot path's
    assert miss[0].split(b"\r\n\r\n")[1] == hit[0].split(b"\r\n\r\n")[1]


@pytest.mark.parametrize("cut", [1, 4, 9, 10, 30, 60, -3, -2, -1])
async def test_a_head_split_anywhere_is_answered_once(pair, cut):
    raw = get(TARGET)
    reader, writer = await asyncio.open_connection("127.0.0.1", pair.hot)
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    writer.write(raw[:cut])
    await writer.drain()
    await asyncio.sleep(0)  # lets the first part be read alone (not needed for correctness)
    writer.write(raw[cut:])
    head, body = await asyncio.wait_for(read_response(reader), 10)
    writer.close()
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert ocsp.load_der_ocsp_response(body).serial_number == 0x4343
    assert pair.handovers == []


async def test_hot_answers_are_counted(pair):
    def requests() -> float:
        value = pair.metrics.registry.get_sample_value(
            "revocd_ocsp_requests_total", {"method": "GET", "status": "successful"}
        )
        return value or 0.0

    for _ in range(3):
        await exchange(pair.hot, get(TARGET))
    assert requests() == 3
    assert (
        pair.metrics.registry.get_sample_value("revocd_ocsp_presigned_total", {"result": "hit"})
        == 3
    )


async def test_shutdown_closes_kept_alive_connections(pair):
    reader, writer = await asyncio.open_connection("127.0.0.1", pair.hot)
    writer.write(get(TARGET))
    await read_response(reader)
    assert pair.handovers == []
    await pair.site.stop()  # what runner.cleanup does first on SIGTERM
    assert await asyncio.wait_for(reader.read(), 10) == b""
    writer.close()


async def test_a_kept_alive_connection_closes_after_its_last_request(pair, monkeypatch):
    """After MAX_KEEPALIVE_REQUESTS answers the front says `Connection: close` and
    closes, so the client's next connection can land on a less busy process."""
    monkeypatch.setattr(hot_get, "MAX_KEEPALIVE_REQUESTS", 3)
    answers = await exchange(pair.hot, get(TARGET) * 3, responses=3)
    assert [b"Connection: close" in a.split(b"\r\n\r\n")[0] for a in answers[:3]] == [
        False,
        False,
        True,
    ]
    assert answers[3] == b"closed"
    assert pair.handovers == []
    old = await exchange(pair.hot, get(TARGET, "1.0", "Connection: keep-alive") * 3, responses=3)
    assert [b"Connection: keep-alive" in a for a in old[:3]] == [True, True, False]
    assert old[3] == b"closed"


async def test_kept_alive_connections_close_after_the_idle_timeout(pair):
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection("127.0.0.1", pair.hot)
    writer.write(get(TARGET))
    await read_response(reader)
    answered = loop.time()
    pair.fronts.close_idle(answered + IDLE_TIMEOUT - 1)
    writer.write(get(TARGET))  # still open: answered again
    head, _ = await asyncio.wait_for(read_response(reader), 10)
    assert head.startswith(b"HTTP/1.1 200 OK")
    pair.fronts.close_idle(loop.time() + IDLE_TIMEOUT)
    assert await asyncio.wait_for(reader.read(), 10) == b""
    writer.close()
    assert pair.handovers == []


async def test_each_hot_answer_follows_the_clock(pair):
    """Heads and rendered lines are cached, freshness is not: max-age counts down with
    the clock, and a response past its nextUpdate is not the hot path's to give."""

    def max_age(response: bytes) -> int:
        line = next(x for x in response.split(b"\r\n") if x.startswith(b"Cache-Control:"))
        return int(line.split(b"max-age=")[1].split(b",")[0])

    first = await exchange(pair.hot, get(TARGET))
    clock = pair.path.clock
    assert isinstance(clock, ManualClock)
    clock.advance(seconds=10)
    later = await exchange(pair.hot, get(TARGET))
    assert max_age(later[0]) == max_age(first[0]) - 10
    assert later[0].split(b"\r\n\r\n")[1] == first[0].split(b"\r\n\r\n")[1]
    assert pair.handovers == []
    clock.advance(seconds=max_age(later[0]) + 1)
    expired = await exchange(pair.hot, get(TARGET))
    assert pair.handovers == [1]  # aiohttp's route signed a new response
    assert expired[0].split(b"\r\n\r\n")[1] != first[0].split(b"\r\n\r\n")[1]
    assert max_age(expired[0]) > 0


@pytest.mark.parametrize(
    ("version", "headers"), [("1.1", ()), ("1.0", ("Connection: keep-alive",))]
)
async def test_shutdown_answers_a_connection_whose_request_is_still_coming(pair, version, headers):
    reader, writer = await asyncio.open_connection("127.0.0.1", pair.hot)
    idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", pair.hot)
    idle_writer.write(get(TARGET))
    await read_response(idle_reader)  # answered once, kept alive: closed at once on stop
    async with asyncio.timeout(10):
        while len(pair.site._fronts.live) < 2:  # noqa: ASYNC110 - both accepted; no event for it
            await asyncio.sleep(0)
    stopping = asyncio.create_task(pair.site.stop())
    assert await asyncio.wait_for(idle_reader.read(), 10) == b""
    assert not stopping.done()  # waits for the request the first connection owes
    writer.write(get(TARGET, version, *headers))
    head, body = await asyncio.wait_for(read_response(reader), 10)
    assert head.startswith(f"HTTP/{version} 200 OK".encode())
    if version == "1.1":
        assert b"Connection: close\r\n" in head
    else:
        assert b"Connection" not in head  # HTTP/1.0 without keep-alive: the end
    assert ocsp.load_der_ocsp_response(body).serial_number == 0x4343
    assert await asyncio.wait_for(reader.read(), 10) == b""
    await asyncio.wait_for(stopping, 10)
    writer.close()
    idle_writer.close()
    assert pair.handovers == []


@pytest.mark.parametrize(
    "head",
    [
        b"GET /ocsp/AA HTTP/1.1\r\nHost: x\nX: y",  # lone LF
        b"GET /ocsp/AA HTTP/1.1\r\nHost: x\rX: y",  # lone CR
        b"GET /ocsp/AA HTTP/1.1\r\n Host: x",  # obs-fold
        b"GET /ocsp/AA HTTP/1.1\r\nHost : x",  # space before the colon
        b"GET /ocsp/AA HTTP/1.1\r\nHost: \xc3\xa9",  # not ASCII
        b"GET /ocsp/AA HTTP/1.1\r\nHost: a\x00b",
        b"HEAD /ocsp/AA HTTP/1.1\r\nHost: x",
        b"GET /ocsp/AA HTTP/2.0\r\nHost: x",
        b"GET /ocsp/AA HTTP/1.1 \r\nHost: x",
        b"GET  /ocsp/AA HTTP/1.1\r\nHost: x",
        b"GET /ocsp/A%41 HTTP/1.1",  # an escape decode_get leaves to unquote
        b"GET /ocsp/AA?x=1 HTTP/1.1",
        b"GET /ocsp/../v1/partners HTTP/1.1",
        b"GET /v1/partners HTTP/1.1",
        b"GET /ocsp/AA HTTP/1.1\r\nContent-Length: 0",
        b"GET /ocsp/AA HTTP/1.1\r\nTransfer-Encoding: chunked",
        b"GET /ocsp/AA HTTP/1.1\r\nExpect: 100-continue",
        b"GET /ocsp/AA HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket",
        b"GET /ocsp/AA HTTP/1.1\r\nConnection: close\r\nConnection: close",
        b"GET /ocsp/AA HTTP/1.1\r\nConnection: close, keep-alive",
        b"GET /ocsp/AA HTTP/1.1" + b"\r\nX: y" * 40,
    ],
)
def test_anything_unusual_is_left_to_aiohttp(head):
    assert parse_head(head) is None


def test_the_plain_forms_are_hot():
    plain = parse_head(b"GET /ocsp/MEIw%2FA%3d%3D HTTP/1.1\r\nHost: x\r\nAccept: */*")
    assert plain is not None
    assert (plain.target, plain.keep_alive, plain.connection_header) == (
        "MEIw%2FA%3d%3D",
        True,
        b"",
    )
    old = parse_head(b"GET /ocsp//MEIw HTTP/1.0")
    assert old is not None
    assert (old.target, old.keep_alive) == ("/MEIw", False)


_NAMES = st.sampled_from(
    ["Host", "Accept", "Connection", "User-Agent", "X-Y", "If-None-Match", "Bad Name", "", "é"]
)
_VALUES = st.sampled_from(
    ["x", "", "close", "keep-alive", "Keep-Alive, close", "upgrade", " a\tb ", "\x01", "é", "*/*"]
)


@st.composite
def heads(draw: Callable[..., object]) -> bytes:
    method = draw(st.sampled_from(["GET"] * 6 + ["POST", "HEAD", "get", "PUT"]))
    target = draw(
        st.sampled_from(
            [TARGET] * 8
            + [
                TARGET.replace("/", "%2F").replace("%2Focsp%2F", "/ocsp/"),
                TARGET.rstrip("="),
                "/ocsp/" + TARGET,
                TARGET + "?a=b",
                TARGET[:-5],
                "/ocsp/",
                "/ocsp/%%%",
                "/v1/partners",
                "/nowhere",
                "*",
            ]
        )
    )
    version = draw(st.sampled_from(["HTTP/1.1"] * 4 + ["HTTP/1.0"] * 2 + ["HTTP/2", "http/1.1"]))
    pairs = draw(st.lists(st.tuples(_NAMES, _VALUES), max_size=2))
    if draw(st.integers(0, 9)) < 9:  # mostly well-formed enough to be worth answering
        pairs.insert(draw(st.integers(0, len(pairs))), ("Host", "127.0.0.1"))
    separator = draw(st.sampled_from(["\r\n"] * 9 + ["\n"]))
    lines = [f"{method} {target} {version}", *(f"{n}: {v}" for n, v in pairs)]
    return (separator.join(lines) + "\r\n\r\n").encode()


async def _first_response(port: int, raw: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        head, body = await asyncio.wait_for(read_response(reader, raw.startswith(b"HEAD")), 10)
        return head + body
    finally:
        writer.close()


@settings(
    max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=heads())
async def test_every_head_gets_aiohttps_answer(pair, raw):
    reference = await _first_response(pair.reference, raw)
    before = len(pair.handovers)
    hot = await _first_response(pair.hot, raw)
    assert without_date(hot) == without_date(reference)
    event("handed over" if len(pair.handovers) > before else "answered hot")


async def test_start_site_serves_plain_aiohttp_without_a_responder():
    app = make_app(
        cache=CACHE, board=SourceBoard([]), clock=ManualClock(NOW), partners=(), metrics=Metrics()
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = _listening()
    site = await start_site(runner, sock)
    try:
        assert not isinstance(site, HotSite)
        answer = await exchange(
            sock.getsockname()[1], get("/v1/partners", "1.1", "Connection: close")
        )
        assert answer[0].startswith(b"HTTP/1.1 200 OK")
    finally:
        await runner.cleanup()
    assert HEADERS not in app
    assert RESPONDER not in app
