"""The JSON status API: one answer, a batch, the partners' state.

Issuers are named by their configured name or the hex SHA-1/SHA-256 hash of their key;
serials are hex values (`0A:1B`, `0x0a1b`, `-1`). A batch answers item by item: an item
that cannot be answered (unknown issuer, bad hex, a PEM that does not parse) gets
`{"error", "message"}` in its slot, its message starting with the item's place
(`queries[3]: ...`), and the others are answered. Only a body that is not a batch at all
(not JSON, wrong shape, over 1,000 items, over 2 MiB) fails the whole request.

Answers combine CRL evidence with the partner's own OCSP responder (upstream/answers.py):
a batch first resolves every item, then answers them together, so the items that wait
for upstream wait at once (bounded per source by `ocsp_concurrency`), not one by one.
"""

from __future__ import annotations

import asyncio
import json
import time
import warnings
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning

from revocd.errors import BadRequest, RequestError, UnsupportedMediaType
from revocd.model import Issuer
from revocd.serials import content_from_int, parse_serial_hex
from revocd.status.cache import StatusCache
from revocd.upstream.answers import Answers
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
    app.router.add_get("/v1/status/{issuer}/{serial}", _timed(status_one))
    app.router.add_post("/v1/status", _timed(status_batch))
    app.router.add_get("/v1/partners", _timed(partners))


Handler = Callable[[web.Request], Awaitable[web.Response]]


def _timed(handler: Handler) -> Handler:
    """Latency of the JSON API in revocd_request_duration_seconds{api="json"}, errors
    included (they are answers too)."""

    async def timed(request: web.Request) -> web.Response:
        started = time.perf_counter()
        try:
            return await handler(request)
        finally:
            request.app[keys.METRICS].request_seconds.labels("json").observe(
                time.perf_counter() - started
            )

    return timed


def _serial(text: str) -> bytes:
    try:
        return parse_serial_hex(text)
    except ValueError as error:
        raise BadRequest("bad_serial", str(error)) from None


async def _answer(answers: Answers, issuer: Issuer, serial: bytes, now: datetime) -> dict[str, Any]:
    return answer_json(await answers.answer(issuer, serial, now), issuer.partner, now)


def _settled(
    answers: Answers, issuer: Issuer, serial: bytes, now: datetime
) -> dict[str, Any] | None:
    """The answer at once when no upstream round trip is needed (the common case)."""
    decided = answers.settled(issuer, serial, now)
    return None if decided is None else answer_json(decided.answer, issuer.partner, now)


def _count(request: web.Request, status: str) -> None:
    request.app[keys.METRICS].status_requests_total.labels(api="json", status=status).inc()


async def status_one(request: web.Request) -> web.Response:
    if not request.app[keys.CACHE].ready:
        return web.json_response(NOT_READY, status=503, headers={"Retry-After": "1"})
    match = request.match_info
    try:
        issuer = request.app[keys.CACHE].find_issuer(match["issuer"])
        serial = _serial(match["serial"])
    except RequestError:
        _count(request, "error")  # counted as a batch item's error is; the middleware answers
        raise
    answers, now = request.app[keys.ANSWERS], request.app[keys.CLOCK].now()
    body = _settled(answers, issuer, serial, now) or await _answer(answers, issuer, serial, now)
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


def _query_item(cache: StatusCache, item: Any) -> tuple[Issuer, bytes]:
    if (
        not isinstance(item, dict)
        or not isinstance(item.get("issuer"), str)
        or not isinstance(item.get("serial"), str)
    ):
        raise BadRequest("bad_query", 'each query is {"issuer": "...", "serial": "hex"}')
    return cache.find_issuer(item["issuer"]), _serial(item["serial"])


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


def _certificate_item(cache: StatusCache, item: Any) -> tuple[Issuer, bytes]:
    cert, serial = load_certificate(item)
    return cache.issuer_of(cert), serial


async def status_batch(request: web.Request) -> web.Response:
    kind, items = _items(await _read_json(request))
    cache = request.app[keys.CACHE]
    if not cache.ready:
        return web.json_response(NOT_READY, status=503, headers={"Retry-After": "1"})
    # One instant for the whole batch: its answers agree with each other and share checked_at.
    now = request.app[keys.CLOCK].now()
    resolve = _query_item if kind == "queries" else _certificate_item
    answers = request.app[keys.ANSWERS]
    results: list[dict[str, Any] | None] = []
    pending: dict[int, Awaitable[dict[str, Any]]] = {}
    for position, item in enumerate(items):
        if position and position % YIELD_EVERY == 0:
            await asyncio.sleep(0)  # let OCSP and other requests through
        try:
            issuer, serial = resolve(cache, item)
        except RequestError as error:
            results.append(error_json(error.code, f"{kind}[{position}]: {error.message}"))
            continue
        settled = _settled(answers, issuer, serial, now)
        if settled is None:
            pending[position] = _answer(answers, issuer, serial, now)
        results.append(settled)
    if pending:  # the items that wait for upstream wait together
        answered = await asyncio.gather(*pending.values())
        for position, body in zip(pending, answered, strict=True):
            results[position] = body
    for result in results:
        assert result is not None
        _count(request, result.get("status", "error"))
    return web.json_response({"results": results})


def partners_view(app: web.Application, now: datetime) -> dict[str, Any]:
    """`GET /v1/partners`'s body, which the page (`GET /`) shows too."""
    partners = app[keys.PARTNERS]
    return partners_json(
        partners.current,
        app[keys.CACHE],
        app[keys.BOARD],
        now,
        partners.expiring_before,
        app[keys.ANSWERS].health,
    )


async def partners(request: web.Request) -> web.Response:
    return web.json_response(partners_view(request.app, request.app[keys.CLOCK].now()))
