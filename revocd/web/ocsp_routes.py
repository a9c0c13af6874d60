"""OCSP over HTTP (RFC 6960 appendix A, RFC 9919): POST /ocsp, POST /, GET /ocsp/{base64}.

Bodies are capped before parsing; anything unparsable is an OCSP `malformedRequest`, never
an HTTP error. GET responses without a nonce carry RFC 5019 caching headers (max-age never
past nextUpdate, Last-Modified = thisUpdate, Expires = nextUpdate, ETag = hash of the bytes)
and honour If-None-Match.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from datetime import datetime
from email.utils import format_datetime
from urllib.parse import unquote

from aiohttp import web

from revocd.errors import PayloadTooLarge
from revocd.ocsp.asn1 import MAX_REQUEST_BYTES
from revocd.ocsp.encode import ResponseStatus, error_response
from revocd.ocsp.responder import Reply, Responder
from revocd.web import keys
from revocd.web.bodies import read_body

CONTENT_TYPE = "application/ocsp-response"
MALFORMED = Reply(
    error_response(ResponseStatus.MALFORMED_REQUEST), ResponseStatus.MALFORMED_REQUEST
)
STATUS_LABELS = {  # RFC 6960's names, as clients and openssl print them
    ResponseStatus.SUCCESSFUL: "successful",
    ResponseStatus.MALFORMED_REQUEST: "malformedRequest",
    ResponseStatus.INTERNAL_ERROR: "internalError",
    ResponseStatus.TRY_LATER: "tryLater",
    ResponseStatus.SIG_REQUIRED: "sigRequired",
    ResponseStatus.UNAUTHORIZED: "unauthorized",
}
_BASE64_ESCAPES = (
    ("%2F", "/"),
    ("%2f", "/"),
    ("%2B", "+"),
    ("%2b", "+"),
    ("%3D", "="),
    ("%3d", "="),
)
RESPONDER: web.AppKey[Responder] = web.AppKey("responder", Responder)


HEADERS: web.AppKey[HeaderCache] = web.AppKey("ocsp_headers")


def add_routes(app: web.Application, responder: Responder) -> None:
    app[RESPONDER] = responder
    app[HEADERS] = HeaderCache()
    app.router.add_post("/ocsp", post)
    app.router.add_post("/", post)
    app.router.add_get("/ocsp/{request:.*}", get)


def _ocsp(body: bytes, headers: dict[str, str] | None = None, status: int = 200) -> web.Response:
    response = web.Response(body=body, status=status, headers=headers or {})
    response.headers["Content-Type"] = CONTENT_TYPE
    return response


def _record(request: web.Request, status: ResponseStatus, started: float, reply: Reply) -> None:
    request.app[keys.METRICS].count_ocsp(
        request.method,
        STATUS_LABELS[status],
        reply.presigned if reply.cacheable else None,
        time.perf_counter() - started,
    )


async def post(request: web.Request) -> web.Response:
    started = time.perf_counter()
    try:
        data = await read_body(request, MAX_REQUEST_BYTES)  # whole body, however it arrives
    except PayloadTooLarge:
        reply = MALFORMED
    else:
        reply = await request.app[RESPONDER].respond(data, request.app[keys.CLOCK].now())
    _record(request, reply.status, started, reply)
    return _ocsp(reply.body, {"Cache-Control": "no-store"} if not reply.cacheable else None)


def decode_get(raw_path: str) -> bytes | None:
    """The base64 request from a GET path, tolerant of %2F/%2B, '+' as space, missing
    padding, URL-safe alphabet and the double slash some clients produce."""
    text = raw_path
    if "%" in text:
        # the escapes base64 needs, by plain replace (unquote costs 3x as much); any other
        # escape, by unquote: the result is the same as unquote's alone
        for escaped, plain in _BASE64_ESCAPES:
            text = text.replace(escaped, plain)
        if "%" in text:
            text = unquote(text)
    text = text.lstrip("/").replace(" ", "+").strip()
    if not text or len(text) > MAX_REQUEST_BYTES * 2:
        return None
    text += "=" * (-len(text) % 4)
    try:
        if "-" in text or "_" in text:
            return base64.urlsafe_b64decode(text)
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


async def get(request: web.Request) -> web.Response:
    # The hot path of a busy responder (most relying parties use GET): headers are built
    # whole (Content-Type included), so aiohttp copies them once.
    started = time.perf_counter()
    app = request.app
    path = request.raw_path
    raw = path.split("/ocsp/", 1)[1] if "/ocsp/" in path else ""
    data = decode_get(raw.split("?", 1)[0])
    now = app[keys.CLOCK].now()
    reply = MALFORMED if data is None else await app[RESPONDER].respond(data, now)
    _record(request, reply.status, started, reply)
    if not reply.cacheable:
        return _ocsp(reply.body, {"Cache-Control": "no-store"})
    headers = app[HEADERS].for_reply(reply, now)
    if request.headers.get("If-None-Match") == headers["ETag"]:
        del headers["Content-Type"]
        return web.Response(status=304, headers=headers)
    return web.Response(body=reply.body, headers=headers)


CACHE_CONTROL = "max-age=%d, public, no-transform, must-revalidate"


def max_age(reply: Reply, now: datetime) -> int:
    """Whole seconds until the reply's nextUpdate, rounded down: never past it."""
    assert reply.next_update is not None
    return max(0, int((reply.next_update - now).total_seconds()))


def caching_headers(reply: Reply, now: datetime) -> dict[str, str]:
    assert reply.next_update is not None
    assert reply.this_update is not None
    return {
        "Cache-Control": CACHE_CONTROL % max_age(reply, now),
        "Last-Modified": format_datetime(reply.this_update, usegmt=True),
        "Expires": format_datetime(reply.next_update, usegmt=True),
        "ETag": '"' + hashlib.sha256(reply.body).hexdigest()[:32] + '"',
    }


class HeaderCache:
    """caching_headers for pre-signed replies without re-hashing and re-formatting the
    same response on every request: only max-age changes with the clock."""

    def __init__(self, limit: int = 200_000) -> None:
        self._limit = limit
        self._static: dict[bytes, tuple[str, str, str]] = {}

    def for_reply(self, reply: Reply, now: datetime) -> dict[str, str]:
        assert reply.next_update is not None
        static = self._static.get(reply.body)
        if static is None:
            full = caching_headers(reply, now)
            if len(self._static) >= self._limit:
                self._static.clear()  # rebuilt from the requests that come next
            self._static[reply.body] = (full["Last-Modified"], full["Expires"], full["ETag"])
            return {**full, "Content-Type": CONTENT_TYPE}
        return {
            "Cache-Control": CACHE_CONTROL % max_age(reply, now),
            "Last-Modified": static[0],
            "Expires": static[1],
            "ETag": static[2],
            "Content-Type": CONTENT_TYPE,
        }
