"""Typed application keys: everything a handler needs, nothing global."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from revocd.clock import Clock
from revocd.metrics import Metrics
from revocd.model import Partner
from revocd.status.board import SourceBoard
from revocd.status.cache import StatusCache
from revocd.upstream.answers import Answers

CACHE: web.AppKey[StatusCache] = web.AppKey("cache", StatusCache)
BOARD: web.AppKey[SourceBoard] = web.AppKey("board", SourceBoard)
CLOCK: web.AppKey[Clock] = web.AppKey("clock", Clock)
PARTNERS: web.AppKey[tuple[Partner, ...]] = web.AppKey("partners", tuple)
METRICS: web.AppKey[Metrics] = web.AppKey("metrics", Metrics)
# CRL evidence combined with upstream OCSP: what the status routes answer from
ANSWERS: web.AppKey[Answers] = web.AppKey("answers", Answers)
# /metrics bytes: this process's registry, or the whole daemon's when it has replicas
EXPOSITION: web.AppKey[Callable[[], Awaitable[bytes]]] = web.AppKey("exposition")
