"""Serving from every core: replica processes that answer from copies of the cache.

One Python process serves ~13,000 pre-signed OCSP answers a second; the machine has more
cores than that. So `[server] workers = N` runs N processes that all accept on the same
address (SO_REUSEPORT: the kernel spreads connections evenly between them):

- the *primary* (`revocd run`) does everything it does alone: polls, verifies, persists,
  serves; and it streams every change of its status cache and source board to
- N-1 *replicas*, which hold copies of both and serve every route from them. They never
  fetch, verify or write: one process decides what is true, so replicas cannot disagree
  with it about anything but the last few milliseconds.

The stream is one duplex pipe per replica, carrying pickled messages (tuples):

    primary -> replica: ("evidence", IssuerEvidence)  an issuer's new evidence
                        ("source", SourceState)       a source's new board entry
                        ("ready",)                    the store is loaded
                        ("exposition", n, bytes)      the answer to scrape n
                        ("stop",)                     drain and exit
    replica -> primary: ("listening", pid)
                        ("metrics", [Metric, ...])    its own counters, every second
                        ("scrape", n, [Metric, ...])  /metrics was asked of the replica

A (re)started replica first gets a snapshot of everything, then the changes. A replica
that dies is restarted with backoff; one that loses its primary exits (PR_SET_PDEATHSIG,
and EOF on the pipe). `/metrics` is always the primary's merge of its own metrics and the
replicas' latest counters, whichever process is asked: a replica's own, older view would
look to Prometheus like a counter reset.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from revocd import logs
from revocd.clock import SystemClock
from revocd.config import load_config
from revocd.metrics import Metrics, merged_exposition
from revocd.status.board import SourceBoard
from revocd.status.cache import StatusCache

log = structlog.get_logger("revocd.replicas")

METRICS_EVERY = 1.0  # seconds between counter snapshots (Prometheus scrapes every 15 s+)
STOP_TIMEOUT = 10.0
SCRAPE_TIMEOUT = 5.0  # a replica asking the primary for /metrics
RESTART_BACKOFF = (1.0, 30.0)  # first and longest wait before restarting a dead replica


@dataclass(frozen=True)
class ReplicaSpec:
    """What a replica process needs to start: it reads the same config file itself."""

    config_path: Path
    host: str
    port: int
    number: int
    log_format: str
    log_level: str


Message = tuple[Any, ...]


@dataclass
class _Link:
    """The primary's side of one replica."""

    spec: ReplicaSpec
    process: BaseProcess
    conn: Connection
    outbox: asyncio.Queue[Message] = field(default_factory=asyncio.Queue)
    counters: list[Any] = field(default_factory=list)  # its last metrics snapshot
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class Replicas:
    """The primary's replicas: start, feed, supervise, stop."""

    def __init__(
        self,
        count: int,
        config_path: Path,
        cache: StatusCache,
        board: SourceBoard,
        metrics: Metrics,
        refresh_gauges: Callable[[], None],
    ) -> None:
        self._count = count
        self._config_path = config_path
        self._cache = cache
        self._board = board
        self._metrics = metrics
        self._refresh_gauges = refresh_gauges
        self._specs: list[ReplicaSpec] = []
        self._links: dict[int, _Link] = {}
        self._listening: dict[int, asyncio.Event] = {}
        self._stopping = asyncio.Event()
        # Two threads per replica: one blocked reading its pipe, one writing to it.
        self._threads = ThreadPoolExecutor(
            max_workers=max(2, 2 * count), thread_name_prefix="replica-pipe"
        )
        self._supervisors: list[asyncio.Task[None]] = []
        cache.on_install.append(lambda evidence: self._broadcast(("evidence", evidence)))
        cache.on_ready.append(lambda: self._broadcast(("ready",)))
        board.on_change.append(lambda state: self._broadcast(("source", state)))

    def __len__(self) -> int:
        return self._count

    async def start(
        self, host: str, port: int, log_format: str, log_level: str, timeout: float = 30.0
    ) -> None:
        """Start every replica on host:port and wait (up to `timeout`) until each listens."""
        self._specs = [
            ReplicaSpec(self._config_path, host, port, number, log_format, log_level)
            for number in range(1, self._count + 1)
        ]
        self._listening = {spec.number: asyncio.Event() for spec in self._specs}
        for spec in self._specs:
            self._supervisors.append(
                asyncio.create_task(self._supervise(spec), name=f"replica {spec.number}")
            )
        waits = [event.wait() for event in self._listening.values()]
        try:
            await asyncio.wait_for(asyncio.gather(*waits), timeout)
        except TimeoutError:
            late = [n for n, event in self._listening.items() if not event.is_set()]
            log.warning("replicas_not_listening", replicas=late, waited_seconds=timeout)

    async def scrape(self) -> bytes:
        return self.exposition()

    def exposition(self) -> bytes:
        """/metrics for the whole daemon: the primary's metrics plus replicas' counters."""
        self._refresh_gauges()
        return merged_exposition(
            self._metrics.registry, (link.counters for link in self._links.values())
        )

    async def stop(self) -> None:
        self._stopping.set()
        for link in self._links.values():
            link.outbox.put_nowait(("stop",))
        loop = asyncio.get_running_loop()
        for link in list(self._links.values()):
            await loop.run_in_executor(None, link.process.join, STOP_TIMEOUT)
            if link.process.is_alive():
                log.warning("replica_killed", replica=link.spec.number, pid=link.process.pid)
                link.process.kill()
                await loop.run_in_executor(None, link.process.join, STOP_TIMEOUT)
        for task in self._supervisors:
            task.cancel()
        for task in self._supervisors:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._threads.shutdown(wait=False, cancel_futures=True)

    def _broadcast(self, message: Message) -> None:
        for link in self._links.values():
            link.outbox.put_nowait(message)

    async def _supervise(self, spec: ReplicaSpec) -> None:
        backoff = RESTART_BACKOFF[0]
        while not self._stopping.is_set():
            link = self._spawn(spec)
            code = await self._until_exit(link)
            for task in link.tasks:
                task.cancel()
            link.conn.close()
            if self._stopping.is_set():
                return
            log.error(
                "replica_exited",
                replica=spec.number,
                pid=link.process.pid,
                exit_code=code,
                restart_in_seconds=backoff,
            )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, RESTART_BACKOFF[1])

    def _spawn(self, spec: ReplicaSpec) -> _Link:
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe(duplex=True)
        process = context.Process(
            target=replica_main, args=(spec, theirs), name=f"revocd replica {spec.number}"
        )
        process.daemon = True
        process.start()
        theirs.close()
        link = _Link(spec, process, ours)
        self._links[spec.number] = link
        # Snapshot first, then every later change: all on this thread, so none is lost.
        for issuer in self._cache.issuers:
            link.outbox.put_nowait(("evidence", self._cache.evidence(issuer.name)))
        for state in self._board.snapshot().values():
            link.outbox.put_nowait(("source", state))
        if self._cache.ready:
            link.outbox.put_nowait(("ready",))
        link.tasks = [
            asyncio.create_task(self._send(link), name=f"replica {spec.number} send"),
            asyncio.create_task(self._receive(link), name=f"replica {spec.number} receive"),
        ]
        return link

    async def _until_exit(self, link: _Link) -> int | None:
        loop = asyncio.get_running_loop()
        exited: asyncio.Future[None] = loop.create_future()

        def on_exit() -> None:
            if not exited.done():
                exited.set_result(None)

        loop.add_reader(link.process.sentinel, on_exit)
        try:
            await exited
        finally:
            loop.remove_reader(link.process.sentinel)
        link.process.join()
        return link.process.exitcode

    async def _send(self, link: _Link) -> None:
        loop = asyncio.get_running_loop()
        while True:
            message = await link.outbox.get()
            try:  # big evidence takes a while to pickle and write: not on the event loop
                await loop.run_in_executor(self._threads, link.conn.send, message)
            except (OSError, EOFError, ValueError):
                return  # the replica is gone; the supervisor restarts it

    async def _receive(self, link: _Link) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                message = await loop.run_in_executor(self._threads, _recv_or_none, link.conn)
            except OSError:
                return
            if message is None:
                return
            if message[0] == "listening":
                self._listening[link.spec.number].set()
            elif message[0] == "metrics":
                link.counters = message[1]
            elif message[0] == "scrape":
                link.counters = message[2]
                link.outbox.put_nowait(("exposition", message[1], self.exposition()))


def _recv_or_none(conn: Connection) -> Message | None:
    try:
        message: Message = conn.recv()
    except (EOFError, OSError):
        return None
    return message


# --- the replica process ---------------------------------------------------------------


def replica_main(spec: ReplicaSpec, conn: Connection) -> None:
    """Entry point of a replica process (spawned: a fresh interpreter)."""
    from revocd.daemon import die_with_parent, install_uvloop

    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the primary, which stops us
    logs.configure(spec.log_format, spec.log_level)
    install_uvloop()
    try:
        asyncio.run(_serve_replica(spec, conn))
    except Exception:
        log.exception("replica_failed", replica=spec.number)
        raise SystemExit(1) from None


async def _serve_replica(spec: ReplicaSpec, conn: Connection) -> None:
    from revocd.daemon import build_responder
    from revocd.web.app import make_app

    config = load_config(spec.config_path)
    cache = StatusCache(config.partners)
    board = SourceBoard(source for issuer in config.issuers() for source in issuer.sources)
    metrics = Metrics()
    loop = asyncio.get_running_loop()
    scrapes: dict[int, asyncio.Future[bytes]] = {}
    numbers = itertools.count()

    async def exposition() -> bytes:
        """The primary's view (with our counters as of now), never our own older one."""
        number = next(numbers)
        scrapes[number] = loop.create_future()
        try:
            conn.send(("scrape", number, list(metrics.registry.collect())))
            return await asyncio.wait_for(scrapes[number], SCRAPE_TIMEOUT)
        finally:
            del scrapes[number]

    app = make_app(
        cache=cache,
        board=board,
        clock=SystemClock(),
        partners=config.partners,
        metrics=metrics,
        responder=build_responder(config, cache),
        exposition=exposition,
    )
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, spec.host, spec.port, reuse_address=True, reuse_port=True)
    await site.start()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)

    def apply(message: Message) -> None:
        kind = message[0]
        if kind == "evidence":
            cache.install(message[1])
        elif kind == "source":
            board.put(message[1])
        elif kind == "ready":
            cache.set_ready()
        elif kind == "exposition" and message[1] in scrapes:
            if not scrapes[message[1]].done():
                scrapes[message[1]].set_result(message[2])
        elif kind == "stop":
            stop.set()

    def read_pipe() -> None:  # a thread: unpickling a big index must not stall serving
        while (message := _recv_or_none(conn)) is not None:
            loop.call_soon_threadsafe(apply, message)
        loop.call_soon_threadsafe(stop.set)  # the primary is gone

    threading.Thread(target=read_pipe, name="replica-receive", daemon=True).start()
    conn.send(("listening", os.getpid()))
    log.info("replica_listening", replica=spec.number, pid=os.getpid())

    async def push_counters() -> None:
        while True:
            await asyncio.sleep(METRICS_EVERY)
            with contextlib.suppress(OSError, ValueError):
                conn.send(("metrics", list(metrics.registry.collect())))

    pusher = asyncio.create_task(push_counters())
    try:
        await stop.wait()
    finally:
        pusher.cancel()
        with contextlib.suppress(OSError, ValueError):
            conn.send(("metrics", list(metrics.registry.collect())))
        await runner.cleanup()  # stops accepting, lets in-flight requests finish
        log.info("replica_stopped", replica=spec.number)
