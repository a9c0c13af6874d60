"""Serving from every core: replica processes that answer from copies of the cache.

One Python process serves ~13,000 pre-signed OCSP answers a second; the machine has more
cores than that. So `[server] workers = N` runs N processes that all accept from the
primary's listening socket (one accept queue: whichever process is free takes the next
connection):

- the *primary* (`revocd run`) does everything it does alone: polls, verifies, persists,
  serves; and it streams every change of its status cache and source board to
- N-1 *replicas*, which hold copies of both and serve every route from them. They never
  fetch, verify or write: one process decides what is true, so replicas cannot disagree
  with it about anything but the last few milliseconds.

The stream is one duplex pipe per replica, carrying pickled messages (tuples):

    primary -> replica: ("evidence", IssuerEvidence)  an issuer's new evidence
                        ("evidence_file", IssuerEvidence, path)  the same, its big index
                                                      in a file (revocd/evidence_files.py)
                        ("source", SourceState)       a source's new board entry
                        ("upstream", [Held, ...])     upstream answers held for serials
                        ("upstream_health", SourceHealth)  an OCSP source's new health
                        ("upstream_result", n, UpstreamResult | None)  the reply to ask n
                        ("signed", n, Reply | None)   the response to sign request n
                        ("ready",)                    the store is loaded
                        ("exposition", n, bytes)      the answer to scrape n
                        ("stop",)                     drain and exit
    replica -> primary: ("listening", pid)
                        ("metrics", [Metric, ...])    its own counters, every second
                        ("scrape", n, [Metric, ...])  /metrics was asked of the replica
                        ("upstream_lookup", n, issuer name, serial, CertID hash | None)
                        ("upstream_asked", [(issuer name, serial), ...])  served from
                                                      its copy, every second
                        ("sign", n, request bytes)    an OCSP response to pre-sign

Pre-signed OCSP responses: a replica does not sign the responses it will reuse; it asks
the primary for the primary's (signed once there, and reused there too). So each
response has one set of bytes, and one ETag, whichever process serves it: a client
revalidating with If-None-Match gets its 304 from any of them. Responses with a nonce are
signed where they are asked. A primary that does not reply within SIGN_TIMEOUT leaves the
replica to sign its own.

Upstream OCSP answers (revocd/upstream/copy.py): a replica answers from its copy of the
primary's, and never asks a partner. What its copy cannot answer (a cold serial, a stale
or expired answer) it asks the primary, which runs its own coalesced lookup, so asks
from every process make one upstream round, and replies after streaming the new answer.

A (re)started replica first gets a snapshot of everything, then the changes. A replica
that dies is restarted with backoff; one that loses its primary exits (PR_SET_PDEATHSIG,
and EOF on the pipe). `restart_all` replaces them one at a time (after a config reload:
they read the config file), each new one listening before the old one stops. `/metrics`
is always the primary's merge of its own metrics and the replicas' latest counters,
whichever process is asked: a replica's own, older view would look to Prometheus like a
counter reset.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import queue
import signal
import socket
import threading
from collections.abc import Callable, Coroutine, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from revocd import logs
from revocd.clock import Clock, SystemClock
from revocd.config import load_config
from revocd.evidence_files import EvidenceFiles, Spilled, read_spilled
from revocd.metrics import Metrics, merged_exposition, summed
from revocd.model import Issuer, Policy, SourceKind
from revocd.ocsp.responder import Reply, Responder
from revocd.replies import Replies
from revocd.status.board import SourceBoard
from revocd.status.cache import StatusCache
from revocd.upstream.answers import Answers
from revocd.upstream.cache import UpstreamCache
from revocd.upstream.copy import UpstreamCopy
from revocd.upstream.health import HealthBoard
from revocd.upstream.outcome import Held, UpstreamResult

log = structlog.get_logger("revocd.replicas")

METRICS_EVERY = 1.0  # seconds between counter snapshots (Prometheus scrapes every 15 s+)
STOP_TIMEOUT = 10.0
SCRAPE_TIMEOUT = 5.0  # a replica asking the primary for /metrics
RESTART_BACKOFF = (1.0, 30.0)  # first and longest wait before restarting a dead replica
LISTEN_TIMEOUT = 30.0  # a (re)started replica's wait until it listens
SNAPSHOT_CHUNK = 1000  # upstream answers per message of a new replica's snapshot
SIGN_TIMEOUT = 1.0  # a replica's wait for the primary's response before signing its own
BACKLOG = 128  # aiohttp's default


@dataclass(frozen=True)
class ReplicaSpec:
    """What a replica process needs to start: it reads the same config file itself, and
    accepts on the listening sockets the primary passes it (its own, shared by all)."""

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
    outbox: asyncio.Queue[Message | Spilled] = field(default_factory=asyncio.Queue)
    counters: list[Any] = field(default_factory=list)  # its last metrics snapshot
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    listening: asyncio.Event = field(default_factory=asyncio.Event)
    retired: bool = False  # replaced by restart_all: not to be restarted


class Replicas:
    """The primary's replicas: start, feed, supervise, restart, stop."""

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
        self._links: list[_Link] = []  # every live replica (two per number while restarting)
        # the last counters of every replica replaced so far, summed (one snapshot at most)
        self._retired: list[list[Any]] = []
        self._stopping = asyncio.Event()
        # Two threads per replica: one blocked reading its pipe, one writing to it (and
        # two more for a replacement while `restart_all` runs).
        self._threads = ThreadPoolExecutor(
            max_workers=max(2, 2 * count + 2), thread_name_prefix="replica-pipe"
        )
        self._supervisors: dict[int, asyncio.Task[None]] = {}
        # The primary's listening sockets, inherited by every replica: one accept queue,
        # so whichever process is free takes the next connection, and a replica that stops
        # (or dies) takes no queued connection with it.
        self._shared: list[socket.socket] = []
        self._upstream: UpstreamCache | None = None
        self._responder: Responder | None = None
        self._clock: Clock | None = None
        self._targets: Callable[[], Iterable[tuple[Issuer, Policy]]] = tuple
        self._asks: set[asyncio.Task[None]] = set()  # replicas' asks being answered
        self._files = EvidenceFiles()
        cache.on_install.append(lambda evidence: self._broadcast(self._files.outgoing(evidence)))
        cache.on_ready.append(lambda: self._broadcast(("ready",)))
        board.on_change.append(lambda state: self._broadcast(("source", state)))

    def __len__(self) -> int:
        return self._count

    @property
    def pids(self) -> list[int]:
        """The process ids of the replicas running now (more while `restart_all` runs)."""
        return [link.process.pid for link in self._links if link.process.pid is not None]

    def serve_upstream(
        self, upstream: UpstreamCache, targets: Callable[[], Iterable[tuple[Issuer, Policy]]]
    ) -> None:
        """Stream `upstream`'s answers and source health to the replicas, and look up
        what they ask for (`targets`: the issuers with `ocsp` URLs, read at each ask)."""
        self._upstream, self._targets = upstream, targets
        upstream.on_held.append(lambda held: self._broadcast(("upstream", [held])))
        upstream.health.on_update.append(lambda state: self._broadcast(("upstream_health", state)))
        for link in self._links:
            self._send_upstream_snapshot(link)

    def serve_signing(self, responder: Responder, clock: Clock) -> None:
        """Make the responses the replicas pre-sign, with `responder` (the primary's)."""
        self._responder, self._clock = responder, clock

    async def start(
        self,
        host: str,
        port: int,
        log_format: str,
        log_level: str,
        sockets: list[socket.socket],
        timeout: float = LISTEN_TIMEOUT,
    ) -> None:
        """Start every replica accepting on `sockets` (the primary's listening sockets for
        host:port). When the primary is ready, wait (up to `timeout`) until each listens;
        before that, each listens once it holds the snapshot and the primary's `ready`."""
        self._shared = list(sockets)
        self._specs = [
            ReplicaSpec(self._config_path, host, port, number, log_format, log_level)
            for number in range(1, self._count + 1)
        ]
        links = [self._start_supervising(spec) for spec in self._specs]
        if not self._cache.ready:
            return  # each replica listens once the primary is ready (replica_main)
        waits = [link.listening.wait() for link in links]
        try:
            await asyncio.wait_for(asyncio.gather(*waits), timeout)
        except TimeoutError:
            late = [link.spec.number for link in links if not link.listening.is_set()]
            log.warning("replicas_not_listening", replicas=late, waited_seconds=timeout)

    async def restart_all(self, timeout: float = LISTEN_TIMEOUT) -> None:
        """Replace every replica, one at a time, with a new process (which reads the config
        file again): each new one listens before the one it replaces stops, so the port is
        always served by every other process."""
        for spec in self._specs:
            if self._stopping.is_set():
                return
            old = [link for link in self._links if link.spec.number == spec.number]
            old_supervisor = self._supervisors.get(spec.number)
            if not old and old_supervisor is not None:  # it died: waiting to restart it
                old_supervisor.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await old_supervisor
                old_supervisor = None
            link = self._start_supervising(spec)
            try:
                await asyncio.wait_for(link.listening.wait(), timeout)
            except TimeoutError:
                log.warning("replica_not_listening", replica=spec.number, waited_seconds=timeout)
            for previous in old:
                previous.retired = True
                previous.outbox.put_nowait(("stop",))
            if old_supervisor is not None:
                await self._retire(old, old_supervisor)
            log.info("replica_restarted", replica=spec.number, pid=link.process.pid)

    async def _retire(self, links: list[_Link], supervisor: asyncio.Task[None]) -> None:
        done, _ = await asyncio.wait([supervisor], timeout=STOP_TIMEOUT)
        if done:
            return
        for link in links:
            log.warning("replica_killed", replica=link.spec.number, pid=link.process.pid)
            link.process.kill()
        await asyncio.wait([supervisor], timeout=STOP_TIMEOUT)

    async def scrape(self) -> bytes:
        return self.exposition()

    def exposition(self) -> bytes:
        """/metrics for the whole daemon: the primary's metrics plus replicas' counters."""
        self._refresh_gauges()
        counters = [link.counters for link in self._links]
        return merged_exposition(self._metrics.registry, [*self._retired, *counters])

    async def stop(self) -> None:
        self._stopping.set()
        for link in self._links:
            link.outbox.put_nowait(("stop",))
        loop = asyncio.get_running_loop()
        for link in list(self._links):
            await loop.run_in_executor(None, link.process.join, STOP_TIMEOUT)
            if link.process.is_alive():
                log.warning("replica_killed", replica=link.spec.number, pid=link.process.pid)
                link.process.kill()
                await loop.run_in_executor(None, link.process.join, STOP_TIMEOUT)
        for task in [*self._supervisors.values(), *self._asks]:
            task.cancel()
        for task in [*self._supervisors.values(), *self._asks]:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._threads.shutdown(wait=False, cancel_futures=True)
        await self._files.close()

    def _broadcast(self, message: Message | Spilled) -> None:
        for link in self._links:
            link.outbox.put_nowait(message)

    def _start_supervising(self, spec: ReplicaSpec) -> _Link:
        link = self._spawn(spec)
        self._supervisors[spec.number] = asyncio.create_task(
            self._supervise(spec, link), name=f"replica {spec.number}"
        )
        return link

    async def _supervise(self, spec: ReplicaSpec, link: _Link) -> None:
        backoff = RESTART_BACKOFF[0]
        while True:
            code = await self._until_exit(link)
            if link.retired:  # its last counters may still be in the pipe: read to EOF
                await asyncio.wait(link.tasks[1:], timeout=STOP_TIMEOUT)
            for task in link.tasks:
                task.cancel()
            link.conn.close()
            self._links.remove(link)
            if link.retired:
                self._retired = [summed([*self._retired, link.counters])]
                return
            if self._stopping.is_set():
                return
            # the other processes take its share of the accept queue until it is back
            log.error(
                "replica_exited",
                replica=spec.number,
                pid=link.process.pid,
                exit_code=code,
                restart_in_seconds=backoff,
            )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, RESTART_BACKOFF[1])
            if self._stopping.is_set():
                return
            link = self._spawn(spec)

    def _spawn(self, spec: ReplicaSpec) -> _Link:
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe(duplex=True)
        process = context.Process(
            target=replica_main,
            args=(spec, theirs, self._shared),
            name=f"revocd replica {spec.number}",
        )
        process.daemon = True
        process.start()
        theirs.close()
        link = _Link(spec, process, ours)
        self._links.append(link)
        # Snapshot first, then every later change: all on this thread, so none is lost.
        for issuer in self._cache.issuers:
            link.outbox.put_nowait(self._files.outgoing(self._cache.evidence(issuer.name)))
        for state in self._board.snapshot().values():
            link.outbox.put_nowait(("source", state))
        self._send_upstream_snapshot(link)
        if self._cache.ready:
            link.outbox.put_nowait(("ready",))
        link.tasks = [
            asyncio.create_task(self._send(link), name=f"replica {spec.number} send"),
            asyncio.create_task(self._receive(link), name=f"replica {spec.number} receive"),
        ]
        return link

    def _send_upstream_snapshot(self, link: _Link) -> None:
        if self._upstream is None:
            return
        for health in self._upstream.health.snapshot().values():
            link.outbox.put_nowait(("upstream_health", health))
        held = self._upstream.held()
        for start in range(0, len(held), SNAPSHOT_CHUNK):
            link.outbox.put_nowait(("upstream", held[start : start + SNAPSHOT_CHUNK]))

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
            queued = await link.outbox.get()
            message = await queued.message() if isinstance(queued, Spilled) else queued
            try:  # a message takes a while to pickle and write: not on the event loop
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
            kind = message[0]
            if kind == "listening":
                link.listening.set()
            elif kind == "metrics":
                link.counters = message[1]
            elif kind == "scrape":
                link.counters = message[2]
                link.outbox.put_nowait(("exposition", message[1], self.exposition()))
            elif kind == "upstream_lookup":
                self._answer_in_background(self._look_up(link, *message[1:]))
            elif kind == "sign":
                self._answer_in_background(self._sign_for(link, *message[1:]))
            elif kind == "upstream_asked" and self._upstream is not None:
                for issuer, serial in message[1]:
                    self._upstream.touch(issuer, serial)

    async def _look_up(
        self, link: _Link, number: int, issuer_name: str, serial: bytes, hash_algorithm: str | None
    ) -> None:
        """A replica's ask: our own lookup (coalesced with everyone's), then the reply. The
        answer it produced was broadcast before, on the same pipe."""
        result: UpstreamResult | None = None
        upstream = self._upstream
        target = next(((i, p) for i, p in self._targets() if i.name == issuer_name), None)
        if upstream is not None and target is not None:
            try:
                result = await upstream.lookup(
                    target[0], target[1], serial, hash_algorithm=hash_algorithm
                )
            except Exception:  # our bug: say so; the replica answers upstream_unreachable
                log.exception("replica_lookup_failed", replica=link.spec.number)
        link.outbox.put_nowait(("upstream_result", number, result))

    def _answer_in_background(self, answering: Coroutine[Any, Any, None]) -> None:
        """A replica's ask takes a while (a partner, a signature): the pipe reads on."""
        task = asyncio.create_task(answering)
        self._asks.add(task)
        task.add_done_callback(self._asks.discard)

    async def _sign_for(self, link: _Link, number: int, data: bytes) -> None:
        """A replica's request to pre-sign: our response to the same bytes (reused by us
        as by it), then the reply."""
        reply: Reply | None = None
        if self._responder is not None and self._clock is not None:
            try:
                reply = await self._responder.respond(data, self._clock.now())
            except Exception:  # our bug: say so; the replica signs its own
                log.exception("replica_sign_failed", replica=link.spec.number)
        link.outbox.put_nowait(("signed", number, reply))


class _Signatures:
    """A replica's signer of record: asks the primary, waits SIGN_TIMEOUT at most."""

    def __init__(self, send: Callable[[Message], None]) -> None:
        self._send = send
        self.replies: Replies[Reply | None] = Replies()

    async def ask(self, data: bytes) -> Reply | None:
        try:
            return await self.replies.ask(
                lambda number: self._send(("sign", number, data)), SIGN_TIMEOUT
            )
        except TimeoutError:
            log.warning("primary_sign_timeout", waited_seconds=SIGN_TIMEOUT)
            return None


def listen_sockets(host: str, port: int) -> list[socket.socket]:
    """Listening sockets on host:port, one per address `host` resolves to, as asyncio's
    `create_server` makes them. No SO_REUSEPORT: a port someone holds is refused (bind
    fails), never silently shared with, say, a revocd still running."""
    sockets: list[socket.socket] = []
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    for family, kind, proto, _, address in dict.fromkeys(infos):
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(BACKLOG)
        except OSError:
            sock.close()
            for made in sockets:
                made.close()
            raise
        sockets.append(sock)
    return sockets


def _recv_or_none(conn: Connection) -> Message | None:
    try:
        message: Message = conn.recv()
    except (EOFError, OSError):
        return None
    return message


# --- the replica process ---------------------------------------------------------------


def replica_main(spec: ReplicaSpec, conn: Connection, sockets: list[socket.socket]) -> None:
    """Entry point of a replica process (spawned: a fresh interpreter). It accepts only
    once it holds the primary's snapshot and the primary is ready: until then the primary
    answers alone, so no connection meets a replica that would say `not_ready` (or worse,
    miss evidence) where the primary, already ready, would have answered."""
    from revocd.daemon import die_with_parent, install_uvloop

    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the primary, which stops us
    logs.configure(spec.log_format, spec.log_level)
    install_uvloop()  # short CPU slices: inherited from the primary (revocd/scheduling.py)
    try:
        asyncio.run(_serve_replica(spec, conn, sockets))
    except Exception:
        log.exception("replica_failed", replica=spec.number)
        raise SystemExit(1) from None


class _Sender:
    """A replica's writes to its pipe, from a thread: a primary that is slow to read (or
    stopped) must not stall serving. Messages are sent in the order given."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._queue: queue.SimpleQueue[Message | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="replica-send", daemon=True)
        self._thread.start()

    def send(self, message: Message) -> None:
        self._queue.put(message)

    def close(self, timeout: float = STOP_TIMEOUT) -> None:
        """Send what is queued (waiting up to `timeout`), then stop."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while (message := self._queue.get()) is not None:
            try:
                self._conn.send(message)
            except (OSError, ValueError):
                return  # the primary is gone: the reader stops the replica


async def _serve_replica(spec: ReplicaSpec, conn: Connection, sockets: list[socket.socket]) -> None:
    from revocd.daemon import build_responder, upstream_targets
    from revocd.web.app import make_app
    from revocd.web.hot_get import start_site

    config = load_config(spec.config_path)
    cache = StatusCache(config.partners)
    board = SourceBoard(source for issuer in config.issuers() for source in issuer.sources)
    metrics = Metrics()
    clock = SystemClock()
    loop = asyncio.get_running_loop()
    sender = _Sender(conn)
    scrapes: Replies[bytes] = Replies()

    async def exposition() -> bytes:
        """The primary's view (with our counters as of now), never our own older one."""
        counters = list(metrics.registry.collect())
        return await scrapes.ask(
            lambda number: sender.send(("scrape", number, counters)), SCRAPE_TIMEOUT
        )

    policies = config.policies()
    health = HealthBoard(
        s for i, _ in upstream_targets(config) for s in i.sources if s.kind is SourceKind.OCSP
    )
    upstream = UpstreamCopy(
        policies,
        health,
        clock,
        lambda number, issuer, serial, hash_algorithm: sender.send(
            ("upstream_lookup", number, issuer, serial, hash_algorithm)
        ),
    )
    answers = Answers(cache, policies, upstream if upstream_targets(config) else None)
    signatures = _Signatures(sender.send)
    app = make_app(
        cache=cache,
        board=board,
        clock=clock,
        partners=config.partners,
        metrics=metrics,
        responder=build_responder(config, cache, answers, signer_of_record=signatures.ask),
        exposition=exposition,
        answers=answers,
        expiring_before=config.alerts.expiring_before,
    )
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    stop = asyncio.Event()
    ready_or_stop = asyncio.Event()
    cache.on_ready.append(ready_or_stop.set)

    def halt() -> None:
        stop.set()
        ready_or_stop.set()

    loop.add_signal_handler(signal.SIGTERM, halt)

    def apply(message: Message) -> None:
        kind = message[0]
        if kind == "evidence":
            cache.install(message[1])
        elif kind == "source":
            board.put(message[1])
        elif kind == "upstream":
            held: Held
            for held in message[1]:
                upstream.install(held)
        elif kind == "upstream_health":
            health.install(message[1])
        elif kind == "upstream_result":
            upstream.resolve(message[1], message[2])
        elif kind == "signed":
            signatures.replies.resolve(message[1], message[2])
        elif kind == "ready":
            cache.set_ready()
        elif kind == "exposition":
            scrapes.resolve(message[1], message[2])
        elif kind == "stop":
            halt()

    def read_pipe() -> None:  # a thread: reading a big index must not stall serving
        while (message := _recv_or_none(conn)) is not None:
            if message[0] == "evidence_file":
                try:
                    loaded = read_spilled(message[1], message[2])
                except (OSError, ValueError):
                    # without this evidence the replica would answer from older: stop,
                    # and the primary restarts it with a fresh snapshot
                    log.exception("replica_evidence_unreadable", path=message[2])
                    break
                if loaded is None:
                    continue  # replaced: the newer evidence is next in the pipe
                message = loaded
            loop.call_soon_threadsafe(apply, message)
        loop.call_soon_threadsafe(halt)  # the primary is gone, or the replica must restart

    threading.Thread(target=read_pipe, name="replica-receive", daemon=True).start()
    await ready_or_stop.wait()
    for sock in sockets:  # the primary's, shared by every process
        await start_site(runner, sock)
    sender.send(("listening", os.getpid()))
    log.info("replica_listening", replica=spec.number, pid=os.getpid())

    async def push_counters() -> None:
        while True:
            await asyncio.sleep(METRICS_EVERY)
            sender.send(("metrics", list(metrics.registry.collect())))
            if asked := upstream.take_asked():
                sender.send(("upstream_asked", asked))

    pusher = asyncio.create_task(push_counters())
    try:
        await stop.wait()
    finally:
        pusher.cancel()
        await runner.cleanup()  # stops accepting, lets in-flight requests finish
        sender.send(("metrics", list(metrics.registry.collect())))
        await loop.run_in_executor(None, sender.close)
        log.info("replica_stopped", replica=spec.number)
