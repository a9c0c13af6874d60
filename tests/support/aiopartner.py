"""An in-loop aiohttp partner for async tests: serve CRL bytes, or misbehave on demand."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiohttp import web

from tests.support.localserver import serve_local


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    hang: bool = False
    etag: str | None = None


@dataclass
class AioPartner:
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None
    base: str = ""

    async def start(self) -> AioPartner:
        app = web.Application()
        app.router.add_get("/{path:.*}", self._handle)
        self._runner, self.base = await serve_local(app)
        return self

    def url(self, path: str) -> str:
        return self.base + path

    def publish(self, path: str, body: bytes, *, etag: str | None = None) -> None:
        self.routes[path] = Route(body=body, etag=etag)

    def fail(self, path: str, status: int = 500) -> None:
        self.routes[path] = Route(status=status)

    def hang(self, path: str) -> None:
        self.routes[path] = Route(hang=True)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.path, dict(request.headers)))
        route = self.routes.get(request.path)
        if route is None:
            return web.Response(status=404)
        if route.hang:
            await self.release.wait()
        if route.status != 200:
            return web.Response(status=route.status, text="partner error")
        if route.etag and request.headers.get("If-None-Match") == route.etag:
            return web.Response(status=304, headers={"ETag": route.etag})
        headers = {"ETag": route.etag} if route.etag else {}
        return web.Response(body=route.body, content_type="application/pkix-crl", headers=headers)

    async def close(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()
