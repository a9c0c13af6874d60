"""The JSON status API: one answer, a batch, the partners' state.

Issuers are named by their configured name or the hex SHA-1/SHA-256 hash of their key;
serials are hex values (`0A:1B`, `0x0a1b`, `-1`). A batch answers item by item: an item
that cannot be answered gets `{"error", "message"}` in its slot, the others are answered.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from cryptography import x509

from revocd.errors import BadRequest, PayloadTooLarge, RequestError, UnsupportedMediaType
from revocd.serials import content_from_int, parse_serial_hex
from revocd.status.cache import StatusCache
from revocd.web import keys
from revocd.web.jsonview import answer_json, error_json, partners_json

MAX_BATCH = 1000
MAX_BODY = 2 * 1024 * 1024
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


def _answer(request: web.Request, issuer_ref: str, serial_text: str) -> dict[str, Any]:
    cache = request.app[keys.CACHE]
    issuer = cache.find_issuer(issuer_ref)
    now = request.app[keys.CLOCK].now()
    answer = cache.answer(issuer, _serial(serial_text), now)
    return answer_json(answer, issuer.partner, now)


def _count(request: web.Request, status: str) -> None:
    request.app[keys.METRICS].status_requests_total.labels(api="json", status=status).inc()


async def status_one(request: web.Request) -> web.Response:
    if not request.app[keys.CACHE].ready:
        return web.json_response(NOT_READY, status=503, headers={"Retry-After": "1"})
    body = _answer(request, request.match_info["issuer"], request.match_info["serial"])
    _count(request, body["status"])
    return web.json_response(body)


async def _read_json(request: web.Request) -> Any:
    if request.content_type != "application/json":
        raise UnsupportedMediaType(
            "unsupported_media_type",
            f"POST /v1/status takes application/json, not {request.content_type or 'nothing'}",
        )
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise PayloadTooLarge("payload_too_large", f"body is over {MAX_BODY} bytes")
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise PayloadTooLarge("payload_too_large", f"body is over {MAX_BODY} bytes")
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


def _query_item(request: web.Request, item: Any) -> dict[str, Any]:
    if (
        not isinstance(item, dict)
        or not isinstance(item.get("issuer"), str)
        or not isinstance(item.get("serial"), str)
    ):
        raise BadRequest("bad_query", 'each query is {"issuer": "...", "serial": "hex"}')
    return _answer(request, item["issuer"], item["serial"])


def _certificate_item(request: web.Request, cache: StatusCache, item: Any) -> dict[str, Any]:
    if not isinstance(item, str):
        raise BadRequest("bad_certificate", "each certificate is a PEM string")
    try:
        cert = x509.load_pem_x509_certificate(item.encode())
    except ValueError as error:
        raise BadRequest("bad_certificate", f"not a PEM certificate ({error})") from None
    issuer = cache.issuer_of(cert)
    now = request.app[keys.CLOCK].now()
    answer = cache.answer(issuer, content_from_int(cert.serial_number), now)
    return answer_json(answer, issuer.partner, now)


async def status_batch(request: web.Request) -> web.Response:
    kind, items = _items(await _read_json(request))
    cache = request.app[keys.CACHE]
    if not cache.ready:
        return web.json_response(NOT_READY, status=503, headers={"Retry-After": "1"})
    results = []
    for item in items:
        try:
            if kind == "queries":
                result = _query_item(request, item)
            else:
                result = _certificate_item(request, cache, item)
        except RequestError as error:
            result = error_json(error.code, error.message)
        _count(request, result.get("status", "error"))
        results.append(result)
    return web.json_response({"results": results})


async def partners(request: web.Request) -> web.Response:
    app = request.app
    body = partners_json(
        app[keys.PARTNERS], app[keys.CACHE], app[keys.BOARD], app[keys.CLOCK].now()
    )
    return web.json_response(body)
