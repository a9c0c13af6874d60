"""Typed application keys: everything a handler needs, nothing global."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from aiohttp import web

from revocd.clock import Clock
from revocd.metrics import Metrics
from revocd.model import Partner
from revocd.status.board import SourceBoard
from revocd.status.cache import StatusCache
from revocd.upstream.answers import Answers


class Partners:
    """The configured partners, and `[alerts] expiring_before` (when a source counts as
    `expiring`, on the page as in the alerts). A reload replaces each (one assignment);
    routes read them per request, so each request sees one partner list, the old or the
    new."""

    def __init__(self, partners: tuple[Partner, ...], expiring_before: timedelta) -> None:
        self.current = partners
        self.expiring_before = expiring_before


CACHE: web.AppKey[StatusCache] = web.AppKey("cache", StatusCache)
BOARD: web.AppKey[SourceBoard] = web.AppKey("board", SourceBoard)
CLOCK: web.AppKey[Clock] = web.AppKey("clock", Clock)
PARTNERS: web.AppKey[Partners] = web.AppKey("partners", Partners)
METRICS: web.AppKey[Metrics] = web.AppKey("metrics", Metrics)
# CRL evidence combined with upstream OCSP: what the status routes answer from
ANSWERS: web.AppKey[Answers] = web.AppKey("answers", Answers)
# /metrics bytes: this process's registry, or the whole daemon's when it has replicas
EXPOSITION: web.AppKey[Callable[[], Awaitable[bytes]]] = web.AppKey("exposition")
