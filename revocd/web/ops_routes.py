"""Operations routes: liveness, readiness, Prometheus metrics, the OpenAPI document, the page."""

from __future__ import annotations

from datetime import datetime
from importlib import resources

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from revocd.metrics import Metrics
from revocd.model import Partner
from revocd.revoked import epoch_seconds
from revocd.status.board import SourceBoard
from revocd.status.cache import StatusCache
from revocd.status.freshness import Freshness, freshness
from revocd.web import keys
from revocd.web.api_routes import partners_view
from revocd.web.jsonview import error_json
from revocd.web.page import PAGE_HEADERS, refresh_interval, render_page


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/", page)


async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    if request.app[keys.CACHE].ready:
        return web.json_response({"status": "ready"})
    return web.json_response(
        {"status": "loading", "message": "the store is still loading"},
        status=503,
        headers={"Retry-After": "1"},
    )


def refresh_source_gauges(
    registry: Metrics,
    board: SourceBoard,
    partners: tuple[Partner, ...],
    now: datetime,
    cache: StatusCache | None = None,
) -> None:
    """Freshness follows the clock, not events: compute it at scrape time."""
    grace = {p.name: p.policy.grace for p in partners}
    if cache is not None:
        for partner in partners:
            for issuer in partner.issuers:
                evidence = cache.evidence(issuer.name)
                registry.issuer_revoked.labels(partner.name, issuer.name).set(
                    len(evidence.index) + len(evidence.sticky)
                )
    for state in board.snapshot().values():
        source = state.source
        labels = {"partner": source.partner, "issuer": source.issuer, "source": source.url}
        meta = state.meta
        current = freshness(meta.next_update if meta else None, now, grace[source.partner])
        for candidate in Freshness:
            registry.source_freshness.labels(**labels, state=candidate.value).set(
                1 if candidate is current else 0
            )
        registry.source_failing.labels(**labels).set(1 if state.failing else 0)
        if state.last_success:
            registry.source_last_success.labels(**labels).set(epoch_seconds(state.last_success))
        if meta is not None:
            registry.crl_next_update.labels(**labels).set(epoch_seconds(meta.next_update))
            registry.crl_grace_end.labels(**labels).set(
                epoch_seconds(meta.next_update + grace[source.partner])
            )
            registry.crl_entries.labels(**labels).set(meta.entry_count)
            if meta.crl_number is not None:
                registry.crl_number.labels(**labels).set(meta.crl_number)


async def metrics(request: web.Request) -> web.Response:
    app = request.app
    refresh_source_gauges(
        app[keys.METRICS],
        app[keys.BOARD],
        app[keys.PARTNERS].current,
        app[keys.CLOCK].now(),
        app[keys.CACHE],
    )
    try:
        body = await app[keys.EXPOSITION]()
    except TimeoutError:
        return web.json_response(
            error_json(
                "metrics_unavailable",
                "this replica process could not get the daemon's metrics from the main "
                "process in time; scrape again",
            ),
            status=503,
            headers={"Retry-After": "1"},
        )
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


async def openapi(_: web.Request) -> web.Response:
    text = (resources.files("revocd.web") / "openapi.json").read_text("utf-8")
    return web.Response(text=text, content_type="application/json")


async def page(request: web.Request) -> web.Response:
    now = request.app[keys.CLOCK].now()
    text = render_page(
        partners_view(request.app, now), now, refresh_interval(request.query.get("refresh"))
    )
    # the CSP allows exactly the page's own inline style and script (by hash): see page.py
    return web.Response(text=text, content_type="text/html", headers=PAGE_HEADERS)
