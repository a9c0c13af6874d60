"""The aiohttp application: routes and keys, no lifetimes (daemon.py owns those)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from aiohttp import web
from prometheus_client import generate_latest

from revocd.clock import Clock
from revocd.events import DEFAULT_EXPIRING_BEFORE
from revocd.metrics import Metrics
from revocd.model import Partner
from revocd.ocsp.responder import Responder
from revocd.status.board import SourceBoard
from revocd.status.cache import StatusCache
from revocd.upstream.answers import Answers
from revocd.web import api_routes, keys, ocsp_routes, ops_routes
from revocd.web.errors import json_errors

# OCSP requests are capped far below this in their own routes; this bounds JSON batches.
CLIENT_MAX_SIZE = 4 * 1024 * 1024


def make_app(
    *,
    cache: StatusCache,
    board: SourceBoard,
    clock: Clock,
    partners: tuple[Partner, ...],
    metrics: Metrics,
    client_max_size: int = CLIENT_MAX_SIZE,
    responder: Responder | None = None,
    exposition: Callable[[], Awaitable[bytes]] | None = None,
    answers: Answers | None = None,
    expiring_before: timedelta = DEFAULT_EXPIRING_BEFORE,
) -> web.Application:
    """`answers`: CRL evidence combined with upstream OCSP (default: CRL evidence alone).
    `expiring_before`: `[alerts] expiring_before`, when a source counts as `expiring`."""
    app = web.Application(middlewares=[json_errors], client_max_size=client_max_size)
    app[keys.CACHE] = cache
    app[keys.BOARD] = board
    app[keys.CLOCK] = clock
    app[keys.PARTNERS] = keys.Partners(partners, expiring_before)
    app[keys.METRICS] = metrics
    app[keys.ANSWERS] = answers or Answers(cache, {})

    async def own_metrics() -> bytes:
        return generate_latest(metrics.registry)

    app[keys.EXPOSITION] = exposition or own_metrics
    api_routes.add_routes(app)
    ops_routes.add_routes(app)
    if responder is not None:  # POST /ocsp, POST /, GET /ocsp/{request}
        ocsp_routes.add_routes(app, responder)
    return app
