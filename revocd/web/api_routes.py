"""The JSON status API: one answer, a batch, the partners' state.

Issuers are named by their configured name or the hex SHA-1/SHA-256 hash of their key;
serials are hex values (`0A:1B`, `0x0a1b`, `-1`). A batch answers item by item: an item
that cannot be answered (unknown issuer, bad hex, a PEM that does not parse) gets
`{"error", "message"}` in its slot, its message starting with the item's place
(`queries[3]: ...`), and the others are answered. Only a body that is not a batch at all
(not JSON, wrong shape, over 1,000 items, over 2 MiB) fails the whole request.
"""

from __future__ import annotations

import asyncio
import json
import warnings
from datetime import datetime
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning

from revocd.errors import BadRequest, RequestError, UnsupportedMediaType
from revocd.serials import content_from_int, parse_serial_hex
from revocd.status.cache import StatusCache
from revocd.web import keys
from revocd.web.bodies import read_body
from revocd.web.jsonview import answer_json, error_json, partners_json

MAX_BATCH = 1000
MAX_BODY = 2 * 1024 * 1024
# A certificate costs a signature check (~0.2 ms): a full batch of them would hold the
# event loop ~200 ms, so the batch yields every YIELD_EVERY items (~10 ms at most).
YIELD_EVERY = 50
NOT_READY = {"error": "not_ready", "message": "the store is still loading; retry shortly"}


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/status/{issuer}/{serial}", status_one)
    app.router.add_post("/v1/status", status_batch)
    app.router.add_get("/v1/partners", partners)


def _serial(text: str) -> bytes:
    try:
        return parse_serial_hex(text)
    except ValueError as error:
        raise BadRequest("bad_serial", str(error)) from None


def _answer(cache: StatusCache, issuer_ref: str, serial_text: str, now: datetime) -> dict[str, Any]:
    issuer = cache.find_issuer(issuer_ref)
    answer = cache.answer(issuer, _serial(serial_text), now)
    return answer_json(answer, issuer.partner, now)


def _count(request: web.Request, status: str) -> None:
    request.app[keys.METRICS].status_requests_total.labels(api="json", status=status).inc()


async def status_one(request: web.Request) -> web.Response:
    if not request.app[keys.CACHE].ready:
        return web.json_response(NOT_READY, status=503, headers={"Retry-After": "1"})
    match = request.match_info
    try:
        body = _answer(
            request.app[keys.CACHE], match["issuer"], match["serial"], request.app[keys.CLOCK].now()
        )
    except RequestError:
        _count(request, "error")  # counted as a batch item's error is; the middleware answers
        raise
    _count(request, body["status"])
    return web.json_response(body)


async def _read_json(request: web.Request) -> Any:
    if request.content_type != "application/json":
        raise UnsupportedMediaType(
            "unsupported_media_type",
            f"POST /v1/status takes application/json, not {request.content_type or 'nothing'}",
        )
    raw = await read_body(request, MAX_BODY)
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise BadRequest("malformed_json", f"body is not JSON: {error}") from None
    except RecursionError:
        # `[[[[...` a few thousand deep exhausts the decoder's stack: the client's fault.
        raise BadRequest("malformed_json", "body is nested too deeply to decode") from None


def _items(body: Any) -> tuple[str, list[Any]]:
    if (
        not isinstance(body, dict)
        or len(body) != 1
        or not (set(body) <= {"queries", "certificates"})
    ):
        raise BadRequest(
            "bad_request",
            'body must be {"queries": [{"issuer": ..., "serial": ...}]} or '
            '{"certificates": ["-----BEGIN CERTIFICATE-----...", ...]}',
        )
    kind, items = next(iter(body.items()))
    if not isinstance(items, list):
        raise BadRequest("bad_request", f"{kind} must be a list")
    if len(items) > MAX_BATCH:
        raise BadRequest("too_many_items", f"{len(items)} items; at most {MAX_BATCH} per request")
    return kind, items


def _query_item(cache: StatusCache, item: Any, now: datetime) -> dict[str, Any]:
    if (
        not isinstance(item, dict)
        or not isinstance(item.get("issuer"), str)
        or not isinstance(item.get("serial"), str)
    ):
        raise BadRequest("bad_query", 'each query is {"issuer": "...", "serial": "hex"}')
    return _answer(cache, item["issuer"], item["serial"], now)


def load_certificate(item: Any) -> tuple[x509.Certificate, bytes]:
    """One batch item as a certificate and its serial (DER INTEGER content octets).

    Everything the lookup reads is parsed here, so a damaged certificate is this item's
    `bad_certificate`, not an exception in the middle of the batch: cryptography reads
    the serial and the names lazily, on first access.
    """
    if not isinstance(item, str):
        raise BadRequest("bad_certificate", "each certificate is a PEM string")
    try:
        with warnings.catch_warnings():
            # Some partner CAs issue non-positive serials (RFC 5280 forbids them); revocd
            # answers for them (DER ff is -1), so cryptography's deprecation warning is not
            # a fault, and a client's odd name attributes are not worth a warning in our logs.
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            warnings.simplefilter("ignore", UserWarning)
            cert = x509.load_pem_x509_certificate(item.encode())
            serial = content_from_int(cert.serial_number)
            cert.issuer.public_bytes()
            cert.issuer.rfc4514_string()
    except (ValueError, TypeError, x509.InvalidVersion) as error:
        raise BadRequest("bad_certificate", f"not a PEM X.509 certificate ({error})") from None
    return cert, serial


def _certificate_item(cache: StatusCache, item: Any, now: datetime) -> dict[str, Any]:
    cert, serial = load_certificate(item)
    issuer = cache.issuer_of(cert)
    return answer_json(cache.answer(issuer, serial, now), issuer.partner, now)


async def status_batch(request: web.Request) -> web.Response:
    kind, items = _items(await _read_json(request))
    cache = request.app[keys.CACHE]
    if not cache.ready:
        return web.json_response(NOT_READY, status=503, headers={"Retry-After": "1"})
    # One instant for the whole batch: its answers agree with each other and share checked_at.
    now = request.app[keys.CLOCK].now()
    answer_item = _query_item if kind == "queries" else _certificate_item
    results = []
    for position, item in enumerate(items):
        if position and position % YIELD_EVERY == 0:
            await asyncio.sleep(0)  # let OCSP and other requests through
        try:
            result = answer_item(cache, item, now)
        except RequestError as error:
            result = error_json(error.code, f"{kind}[{position}]: {error.message}")
        _count(request, result.get("status", "error"))
        results.append(result)
    return web.json_response({"results": results})


async def partners(request: web.Request) -> web.Response:
    app = request.app
    body = partners_json(
        app[keys.PARTNERS], app[keys.CACHE], app[keys.BOARD], app[keys.CLOCK].now()
    )
    return web.json_response(body)
