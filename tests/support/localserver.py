"""An aiohttp app served on 127.0.0.1 at a free port, for test peers (partners,
upstream responders, Alertmanager receivers)."""

from __future__ import annotations

from aiohttp import web


async def serve_local(app: web.Application, **runner_options: float) -> tuple[web.AppRunner, str]:
    """Start `app`; return its runner (clean it up when done) and its `http://127.0.0.1:PORT`."""
    runner = web.AppRunner(app, access_log=None, **runner_options)  # type: ignore[arg-type]
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"
