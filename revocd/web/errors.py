"""Every failure becomes a JSON body `{"error": code, "message": ...}`; malformed input is
a 4xx, never a 500. An unexpected exception is our bug: a JSON 500 and an error log."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from revocd.errors import RequestError
from revocd.web.jsonview import error_json

log = structlog.get_logger("revocd.web")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except RequestError as error:
        log.debug("request_rejected", path=request.path, error=error.code)
        return web.json_response(error_json(error.code, error.message), status=error.http_status)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        code = _HTTP_CODES.get(error.status, "http_error")
        message = {
            404: f"no route {request.method} {request.path}; see /openapi.json",
            405: f"method {request.method} is not allowed on {request.path}",
            413: "request body is too large",
        }.get(error.status, error.reason)
        return web.json_response(
            error_json(code, message), status=error.status, headers=_allow(error)
        )
    except Exception:
        log.exception("internal_error", path=request.path, method=request.method)
        return web.json_response(
            error_json("internal_error", "revocd failed to answer; this is a bug, see its logs"),
            status=500,
        )


def _allow(error: web.HTTPException) -> dict[str, str]:
    allow = error.headers.get("Allow")
    return {"Allow": allow} if allow else {}
