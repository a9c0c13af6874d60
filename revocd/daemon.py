"""The composition root: config -> store, cache, poller, events, web app; signals.

Everything with a lifetime (store, process pool, HTTP client session, poller tasks) is
created in one aiohttp `cleanup_ctx` and dies with the app, so tests build as many
daemons as they like in one process and nothing leaks between them.

Start-up order: the HTTP server listens at once (`/healthz` answers), the store is loaded
in the background (`/readyz` says 503, status routes say `not_ready`), then every source
gets its polling task. A restart therefore serves the last accepted evidence as soon as
the store is read, before any partner has been reached.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import random
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass

import structlog
from aiohttp import web

from revocd.clock import Clock, SystemClock
from revocd.config import Config, StoreConfig
from revocd.errors import RevocdError, StoreError
from revocd.events import Events
from revocd.fetch.transport import Transport, make_session
from revocd.metrics import Metrics
from revocd.model import SigningMode
from revocd.ocsp.responder import Responder, ResponderPolicy
from revocd.ocsp.signing import Signer, load_signer
from revocd.poll.poller import Poller
from revocd.replicas import Replicas
from revocd.status.board import SourceBoard
from revocd.status.cache import StatusCache
from revocd.store.base import Store
from revocd.store.sqlite import SqliteStore
from revocd.web.app import make_app
from revocd.web.ops_routes import refresh_source_gauges

log = structlog.get_logger("revocd.daemon")

POLLER: web.AppKey[Poller] = web.AppKey("poller", Poller)
REPLICAS: web.AppKey[Replicas] = web.AppKey("replicas", Replicas)
ExecutorFactory = Callable[[], Executor]


def open_store(config: StoreConfig) -> Store:
    if config.backend == "sqlite":
        assert config.path is not None
        return SqliteStore(config.path)
    raise StoreError(
        f"[store] backend {config.backend!r} is not available in this version of revocd; "
        'use backend = "sqlite"'
    )


def process_pool() -> Executor:
    """Big CRLs are parsed in other processes: the GIL would otherwise stall serving."""
    workers = max(1, min(2, os.cpu_count() or 1))
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=die_with_parent,
    )


def die_with_parent() -> None:
    """A CRL worker must not outlive a SIGKILLed daemon (Linux: PR_SET_PDEATHSIG)."""
    if sys.platform != "linux":
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL)


@dataclass(frozen=True)
class Overrides:
    """What tests and the demo inject instead of the real thing."""

    clock: Clock | None = None
    executor_factory: ExecutorFactory | None = None
    rng: random.Random | None = None
    start_polling: bool = True


def build_signers(config: Config) -> dict[str, Signer]:
    """Each issuer's OCSP signing identity: revocd's own ([responder], `trusted`) or the
    certificate its CA issued to revocd (`delegated`). `passthrough` has none yet."""
    trusted = None
    if config.responder is not None:
        trusted = load_signer(config.responder.cert, config.responder.key, embed=False)
    signers: dict[str, Signer] = {}
    for issuer in config.issuers():
        if issuer.signing is SigningMode.DELEGATED:
            assert issuer.responder_cert is not None
            assert issuer.responder_key is not None
            signers[issuer.name] = load_signer(
                issuer.responder_cert, issuer.responder_key, embed=True
            )
        elif issuer.signing is SigningMode.TRUSTED and trusted is not None:
            signers[issuer.name] = trusted
    return signers


def build_responder(config: Config, cache: StatusCache) -> Responder:
    policy = ResponderPolicy()
    if config.responder is not None:
        policy = ResponderPolicy(config.responder.max_age, config.responder.nonce)
    grace = {i.name: p.policy.grace for p in config.partners for i in p.issuers}
    return Responder(cache, build_signers(config), grace, policy)


def build_app(config: Config, overrides: Overrides | None = None) -> web.Application:
    """The primary's app. With `[server] workers` > 1 it also holds (unstarted) replicas,
    which `serve` starts once it knows the port."""
    extra = overrides or Overrides()
    clock = extra.clock or SystemClock()
    cache = StatusCache(config.partners)
    board = SourceBoard(source for issuer in config.issuers() for source in issuer.sources)
    metrics = Metrics()
    replicas = None
    if config.server.workers > 1:
        replicas = Replicas(
            config.server.workers - 1,
            config.path,
            cache,
            board,
            metrics,
            lambda: refresh_source_gauges(metrics, board, config.partners, clock.now()),
        )
    app = make_app(
        cache=cache,
        board=board,
        clock=clock,
        partners=config.partners,
        metrics=metrics,
        responder=build_responder(config, cache),
        exposition=replicas.scrape if replicas is not None else None,
    )
    if replicas is not None:
        app[REPLICAS] = replicas

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        store = open_store(config.store)
        await store.open()
        executor = (extra.executor_factory or process_pool)()
        session = make_session()
        poller = Poller(
            partners=config.partners,
            store=store,
            cache=cache,
            board=board,
            transport=Transport(session),
            events=Events(metrics),
            clock=clock,
            executor=executor,
            rng=extra.rng or random.Random(),  # noqa: S311 - jitter, not secrets
        )
        app[POLLER] = poller

        async def load_then_poll() -> None:
            await poller.load()
            log.info("store_loaded", issuers=len(poller.runtimes))
            if extra.start_polling:
                poller.start()

        loader = asyncio.create_task(load_then_poll(), name="load store")
        try:
            yield
        finally:
            loader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loader
            await poller.stop()
            await session.close()
            executor.shutdown(wait=False, cancel_futures=True)
            await store.close()

    app.cleanup_ctx.append(lifetime)
    return app


async def serve(
    config: Config,
    overrides: Overrides | None = None,
    *,
    log_format: str = "json",
    log_level: str = "info",
) -> None:
    """Run until SIGTERM or SIGINT; then stop the replicas and polling, finish in-flight
    requests and writes, exit."""
    app = build_app(config, overrides)
    replicas = app.get(REPLICAS)
    host = config.server.host
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    try:
        if replicas is not None:
            refuse_if_taken(host, config.server.port)
        site = web.TCPSite(
            runner, host, config.server.port, reuse_address=True, reuse_port=replicas is not None
        )
        await site.start()
    except OSError as error:
        await runner.cleanup()
        raise RevocdError(f"cannot listen on {config.server.listen}: {error.strerror}") from error
    port = _bound_port(runner) or config.server.port
    if replicas is not None:
        await replicas.start(host, port, log_format, log_level)
    log.info(
        "listening", url=f"http://{_host_for_url(host)}:{port}/", workers=1 + len(replicas or ())
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        log.info("stopping")
        if replicas is not None:
            await replicas.stop()
        await runner.cleanup()


def refuse_if_taken(host: str, port: int) -> None:
    """SO_REUSEPORT would let us share a port with another revocd (same user) still
    running, splitting its traffic. A plain bind first fails if anyone holds the port."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, port))


def install_uvloop() -> None:
    """uvloop answers measurably more requests per second than asyncio's own loop."""
    try:
        import uvloop
    except ImportError:  # optional: measurably faster serving, not required
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def _bound_port(runner: web.AppRunner) -> int | None:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return None


def _host_for_url(host: str) -> str:
    return f"[{host}]" if ":" in host else host
