"""A stand-in Alertmanager on 127.0.0.1: records what revocd posts to /api/v2/alerts.

`AlertReceiver` runs in the test's own event loop; `ThreadedAlertReceiver` runs one in a
thread, for synchronous end-to-end tests where revocd is a subprocess. Tell it to answer
some statuses first (`statuses=[500]`) to see revocd retry.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.localserver import serve_local


@dataclass
class AlertReceiver:
    statuses: list[int] = field(default_factory=list)  # answered first, then 200
    posts: list[list[dict[str, Any]]] = field(default_factory=list)  # accepted posts
    refused: int = 0
    base: str = ""
    _runner: web.AppRunner | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def start(self) -> AlertReceiver:
        app = web.Application()
        app.router.add_post("/api/v2/alerts", self._handle)
        self._runner, self.base = await serve_local(app)
        return self

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        with self._lock:
            if self.statuses:
                self.refused += 1
                return web.Response(status=self.statuses.pop(0), text="down for maintenance")
            self.posts.append(body)
        return web.Response(status=200)

    @property
    def alerts(self) -> list[dict[str, Any]]:
        """Every alert accepted, in order, across posts."""
        with self._lock:
            return [alert for post in self.posts for alert in post]

    async def wait_for(
        self, what: str, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 10
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while not predicate(self.alerts):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; got {self.alerts}")
            await asyncio.sleep(0.01)
        return self.alerts

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class ThreadedAlertReceiver:
    def __init__(self) -> None:
        self.receiver = AlertReceiver()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.receiver.start(), self._loop).result(10)

    @property
    def base(self) -> str:
        return self.receiver.base

    @property
    def alerts(self) -> list[dict[str, Any]]:
        return self.receiver.alerts

    def wait_for(
        self, what: str, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 30
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while not predicate(self.alerts):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; got {self.alerts}")
            time.sleep(0.05)
        return self.alerts

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.receiver.close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> ThreadedAlertReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
