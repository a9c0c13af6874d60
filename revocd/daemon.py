"""The composition root: config -> store, cache, poller, events, web app; signals.

Everything with a lifetime (store, process pool, HTTP client session, poller tasks, the
alert sender) is created in one aiohttp `cleanup_ctx` and dies with the app, so tests
build as many daemons as they like in one process and nothing leaks between them.

Start-up order: the HTTP server listens at once (`/healthz` answers), the store is loaded
in the background (`/readyz` says 503, status routes say `not_ready`), then every source
gets its polling task. A restart therefore serves the last accepted evidence as soon as
the store is read, before any partner has been reached.

Upstream OCSP (revocd/upstream/): the lifetime also builds the OCSP client (on the one
client session), `Upstream`, its `HealthBoard` and the `UpstreamCache`, restores the
persisted upstream answers before the store counts as loaded, persists every new one
before it is served, forwards their events to `Events`, and runs the cache's refresh and
probe loop for the issuers with `ocsp` URLs. With replica processes, it streams the upstream
answers to them and looks up what they ask for (`Replicas.serve_upstream`).

Reload: the lifetime also builds the `Reloader` (revocd/reload.py), which owns the
configuration in force from then on; `serve` runs it on SIGHUP. What depends on the
configuration reads it from there (the upstream targets) or is updated by it in place.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import random
import signal
import sys
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime

import structlog
from aiohttp import ClientSession, web

from revocd.alerts import AlertSink, NoAlerts, make_sink
from revocd.clock import Clock, SystemClock
from revocd.config import Config, StoreConfig
from revocd.errors import RevocdError, StoreError
from revocd.events import Events
from revocd.fetch.transport import Transport, make_session
from revocd.metrics import Metrics
from revocd.model import Issuer, Policy, SigningMode
from revocd.ocsp.responder import Responder, ResponderPolicy, SignerOfRecord
from revocd.ocsp.signing import Signer, load_signer
from revocd.poll.poller import Poller
from revocd.reload import Reloader, Wiring
from revocd.replicas import Replicas, listen_sockets
from revocd.scheduling import leave_the_daemons_cpu_group, short_cpu_slices
from revocd.sdnotify import Notifier
from revocd.spill import remove_leftovers
from revocd.status.board import SourceBoard
from revocd.status.cache import StatusCache
from revocd.store.base import Store
from revocd.store.sqlite import SqliteStore
from revocd.upstream.answers import Answers
from revocd.upstream.cache import UpstreamCache
from revocd.upstream.client import OcspClient
from revocd.upstream.health import HealthBoard
from revocd.upstream.query import Upstream
from revocd.upstream.verify import UpstreamAnswer
from revocd.web import keys
from revocd.web.app import make_app
from revocd.web.hot_get import start_site
from revocd.web.ops_routes import refresh_source_gauges

log = structlog.get_logger("revocd.daemon")

POLLER: web.AppKey[Poller] = web.AppKey("poller", Poller)
REPLICAS: web.AppKey[Replicas] = web.AppKey("replicas", Replicas)
RELOADER: web.AppKey[Reloader] = web.AppKey("reloader", Reloader)
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
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=crl_worker_init,
    )
    # Started now, not on the first big CRL: a new worker imports revocd (a few hundred ms
    # of CPU) before crl_worker_init lowers its priority, and during an ingest that time
    # is taken from answering (measured: p99 19 ms in the window of a first ingest).
    for _ in range(workers):
        pool.submit(os.getpid)
    return pool


CRL_WORKER_NICENESS = 10
CRL_WORKER_GROUP_NICENESS = 10  # see scheduling.leave_the_daemons_cpu_group
PRUNE_EVERY = 3600.0  # seconds between deletions of expired upstream answers


def crl_worker_init() -> None:
    """A CRL worker yields the CPU to the processes that answer: parsing a 1,000,000-entry
    CRL takes a core for seconds, and answers must not wait for it (a new CRL may arrive a
    few seconds later; an answer may not). Then: die with the daemon."""
    with contextlib.suppress(OSError):
        os.nice(CRL_WORKER_NICENESS)
    leave_the_daemons_cpu_group(CRL_WORKER_GROUP_NICENESS)
    short_cpu_slices()
    die_with_parent()


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
    certificate its CA issued to revocd (`delegated`). A `passthrough` issuer's is its
    `passthrough_fallback`'s, used for whatever cannot be relayed."""
    trusted = None
    if config.responder is not None:
        trusted = load_signer(config.responder.cert, config.responder.key, embed=False)
    signers: dict[str, Signer] = {}
    for issuer in config.issuers():
        mode = issuer.signer_mode
        if mode is SigningMode.DELEGATED:
            assert issuer.responder_cert is not None
            assert issuer.responder_key is not None
            signers[issuer.name] = load_signer(
                issuer.responder_cert, issuer.responder_key, embed=True
            )
        elif mode is SigningMode.TRUSTED and trusted is not None:
            signers[issuer.name] = trusted
    return signers


def responder_policy(config: Config) -> ResponderPolicy:
    if config.responder is None:
        return ResponderPolicy()
    return ResponderPolicy(config.responder.max_age, config.responder.nonce)


def build_responder(
    config: Config,
    cache: StatusCache,
    answers: Answers | None = None,
    signers: dict[str, Signer] | None = None,
    signer_of_record: SignerOfRecord | None = None,
) -> Responder:
    grace = {name: policy.grace for name, policy in config.policies().items()}
    if signers is None:
        signers = build_signers(config)
    return Responder(
        cache,
        signers,
        grace,
        responder_policy(config),
        answers=answers,
        signer_of_record=signer_of_record,
    )


def upstream_targets(config: Config) -> list[tuple[Issuer, Policy]]:
    """The issuers the upstream cache probes: those with `ocsp` URLs."""
    return [(i, p.policy) for p in config.partners for i in p.issuers if i.ocsp_urls]


def build_upstream(
    config: Config,
    answers: Answers,
    session: ClientSession,
    store: Store,
    events: Events,
    clock: Clock,
) -> UpstreamCache:
    """The upstream OCSP machinery on the daemon's session: every accepted answer is
    persisted before it is served, every event and health change goes to `events`."""
    health = HealthBoard(
        s for i, _ in upstream_targets(config) for s in i.sources if s.kind.value == "ocsp"
    )
    upstream = Upstream(OcspClient(session), health, clock)
    upstream.listeners.append(events.upstream_event)
    health.on_change.append(events.upstream_health_changed)
    events.upstream_sources(health.snapshot().values())
    cache = UpstreamCache(upstream, clock)
    cache.on_coalesced.append(events.upstream_coalesced)

    async def persist(issuer: Issuer, answer: UpstreamAnswer, url: str) -> None:
        await store.save_upstream(issuer.key.id, url, answer, clock.now())

    cache.persist = persist
    answers.on_conflict.append(events.evidence_conflict)
    return cache


async def prune_upstream(config: Config, store: Store, now: datetime) -> int:
    """Delete persisted upstream answers that expired past their issuer's grace (never
    revoked ones): every serial ever asked gets a row, and without this they would pile
    up for as long as the daemon runs."""
    pruned = 0
    for issuer, policy in upstream_targets(config):
        pruned += await store.prune_upstream(issuer.key.id, now - policy.grace)
    if pruned:
        log.info("upstream_answers_pruned", count=pruned)
    return pruned


async def keep_pruning_upstream(
    config: Callable[[], Config], store: Store, clock: Clock, every: float = PRUNE_EVERY
) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            await prune_upstream(config(), store, clock.now())
        except RevocdError as error:  # the store said why; the next pass tries again
            log.warning("upstream_prune_failed", error=str(error))


async def restore_upstream(
    config: Config, store: Store, cache: UpstreamCache, now: datetime
) -> int:
    """Put the persisted upstream answers back (before the store counts as loaded), after
    deleting those that can never be served again."""
    await prune_upstream(config, store, now)
    restored = 0
    for issuer, policy in upstream_targets(config):
        for stored in await store.load_upstream(issuer.key.id):
            cache.restore(issuer, policy, stored.answer, stored.url)
            restored += 1
    return restored


def build_app(config: Config, overrides: Overrides | None = None) -> web.Application:
    """The primary's app. With `[server] workers` > 1 it also holds (unstarted) replicas,
    which `serve` starts once it knows the port."""
    extra = overrides or Overrides()
    clock = extra.clock or SystemClock()
    cache = StatusCache(config.partners)
    policies = config.policies()  # a reload updates it in place
    answers = Answers(cache, policies)
    signers = build_signers(config)
    board = SourceBoard(source for issuer in config.issuers() for source in issuer.sources)
    metrics = Metrics()
    replicas = None
    workers = config.server.workers
    if workers > 1:
        replicas = Replicas(
            workers - 1,
            config.path,
            cache,
            board,
            metrics,
            lambda: refresh_source_gauges(
                metrics, board, app[keys.PARTNERS].current, clock.now(), cache
            ),
        )
    app = make_app(
        cache=cache,
        board=board,
        clock=clock,
        partners=config.partners,
        metrics=metrics,
        responder=(responder := build_responder(config, cache, answers, signers)),
        exposition=replicas.scrape if replicas is not None else None,
        answers=answers,
        expiring_before=config.alerts.expiring_before,
    )
    if replicas is not None:
        app[REPLICAS] = replicas
        replicas.serve_signing(responder, clock)
    metrics.config_last_reload_success.set(clock.now().timestamp())

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        if removed := await asyncio.to_thread(remove_leftovers):
            log.info("temporary_leftovers_removed", paths=removed)
        store = open_store(config.store)
        await store.open()
        executor = (extra.executor_factory or process_pool)()
        session = make_session()
        alert_sink = make_sink(config.alerts, session, metrics)
        if alert_sink is not None:
            alert_sink.start()
        sink: AlertSink = alert_sink or NoAlerts()
        events = Events(
            metrics,
            sink=sink,
            clock=clock,
            expiring_before=config.alerts.expiring_before,
            failing_after=config.alerts.failing_after,
        )
        poller = Poller(
            partners=config.partners,
            store=store,
            cache=cache,
            board=board,
            transport=Transport(session),
            events=events,
            clock=clock,
            executor=executor,
            rng=extra.rng or random.Random(),  # noqa: S311 - jitter, not secrets
        )
        app[POLLER] = poller
        upstream = build_upstream(config, answers, session, store, events, clock)
        reloader = app[RELOADER] = Reloader(
            config,
            wiring=Wiring(build_signers, responder_policy, upstream_targets),
            poller=poller,
            responder=responder,
            signers=signers,
            policies=policies,
            partners=app[keys.PARTNERS],
            upstream=upstream,
            store=store,
            events=events,
            metrics=metrics,
            clock=clock,
            replicas=replicas,
        )
        if replicas is not None:  # before the restore, so they get restored answers too
            replicas.serve_upstream(upstream, lambda: upstream_targets(reloader.config))
        background: list[asyncio.Task[None]] = []

        async def load_then_poll() -> None:
            async with reloader.lock:  # a reload waits until the store is loaded
                restored = await restore_upstream(config, store, upstream, clock.now())
                answers.upstream = upstream
                await poller.load()
                log.info("store_loaded", issuers=len(poller.runtimes), upstream_answers=restored)
                if extra.start_polling:
                    poller.start()
                    # always: a reload may add the first issuer with ocsp URLs
                    background.append(
                        asyncio.create_task(
                            upstream.run(lambda: upstream_targets(reloader.config)),
                            name="upstream ocsp",
                        )
                    )
                    background.append(
                        asyncio.create_task(
                            keep_pruning_upstream(lambda: reloader.config, store, clock),
                            name="prune upstream answers",
                        )
                    )

        loader = asyncio.create_task(load_then_poll(), name="load store")
        try:
            yield
        finally:
            loader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loader
            answers.upstream = None  # from here on, answer from CRL evidence alone
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await upstream.close()
            await poller.stop()
            if alert_sink is not None:
                await alert_sink.stop()
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
    requests and writes, exit. SIGHUP reloads the configuration (revocd/reload.py)."""
    app = build_app(config, overrides)
    replicas = app.get(REPLICAS)
    host = config.server.host
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    try:
        # One accept queue for every process: whichever is free takes the next
        # connection (per-process SO_REUSEPORT queues let one process's queue grow
        # while another idles: a long latency tail with a connection per request).
        shared = listen_sockets(host, config.server.port)
        for sock in shared:
            await start_site(runner, sock)  # GET /ocsp's hot path in front (web/hot_get.py)
    except OSError as error:
        await runner.cleanup()
        raise RevocdError(f"cannot listen on {config.server.listen}: {error.strerror}") from error
    port = _bound_port(runner) or config.server.port
    if replicas is not None:
        await replicas.start(host, port, log_format, log_level, shared)
    log.info(
        "listening", url=f"http://{_host_for_url(host)}:{port}/", workers=1 + len(replicas or ())
    )
    notifier = Notifier.from_env()  # systemd Type=notify: ready once answers are given
    cache = app[keys.CACHE]
    if cache.ready:
        notifier.ready(f"serving on port {port}")
    else:
        cache.on_ready.append(lambda: notifier.ready(f"serving on port {port}"))
    watchdog = asyncio.create_task(notifier.watchdog(), name="systemd watchdog")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    reloads: set[asyncio.Task[object]] = set()

    def reload() -> None:  # SIGHUP: `revocd reload`, `systemctl reload revocd`
        log.info("reload_requested", path=str(config.path))
        task: asyncio.Task[object] = asyncio.create_task(
            app[RELOADER].reload(), name="reload config"
        )
        reloads.add(task)
        task.add_done_callback(reloads.discard)
        if cache.ready:  # before READY=1 a reload must not say READY=1 for it
            notifier.reloading()
            task.add_done_callback(lambda done: notifier.reloaded(_reload_status(done, port)))

    loop.add_signal_handler(signal.SIGHUP, reload)
    try:
        await stop.wait()
    finally:
        log.info("stopping")
        loop.remove_signal_handler(signal.SIGHUP)
        for task in list(reloads):
            task.cancel()
        await asyncio.gather(*reloads, return_exceptions=True)
        notifier.stopping()
        watchdog.cancel()
        if replicas is not None:
            await replicas.stop()
        await runner.cleanup()


def _reload_status(task: asyncio.Task[object], port: int) -> str:
    applied = not task.cancelled() and task.exception() is None and task.result() is not None
    outcome = "configuration reloaded" if applied else "reload failed, the running one stays"
    return f"serving on port {port}; {outcome}"


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
