"""Typed application keys: everything a handler needs, nothing global."""

from __future__ import annotations

from aiohttp import web

from revocd.clock import Clock
from revocd.metrics import Metrics
from revocd.model import Partner
from revocd.status.board import SourceBoard
from revocd.status.cache import StatusCache

CACHE: web.AppKey[StatusCache] = web.AppKey("cache", StatusCache)
BOARD: web.AppKey[SourceBoard] = web.AppKey("board", SourceBoard)
CLOCK: web.AppKey[Clock] = web.AppKey("clock", Clock)
PARTNERS: web.AppKey[tuple[Partner, ...]] = web.AppKey("partners", tuple)
METRICS: web.AppKey[Metrics] = web.AppKey("metrics", Metrics)
