"""Reloading the configuration (SIGHUP, `revocd reload`, `systemctl reload revocd`).

`plan(old, new)` is pure: which partners, issuers and sources the new file adds, removes
or retunes (a new policy), and which settings only a restart applies. `Reloader.reload`
reads the file again; if it is invalid (any `ConfigError`, an unreadable responder key)
nothing changes: `config_reload_failed` is logged at error level, with the message that
names the file, the key and the problem, and `revocd_config_reloads_total{result="failed"}`
counts it. If it is valid it is applied in three steps:

1. stage (may wait): the issuers it adds, or whose certificate changed, are read from
   the store, with their persisted upstream OCSP answers: they answer from their last
   accepted evidence as soon as they are served, like after a restart;
2. switch (no `await`, so no request sees half of it): the poller's runtimes, the
   status cache, the source board, the responder's signers and graces, the upstream
   cache's targets, the partner list the routes read, the alert timings;
3. follow: removed sources' tasks end, added ones start (fetching at once), sleeping
   retuned ones sleep again for what is left of their delay under the new policy; then
   replica processes restart one at a time (each re-reads the file and gets a fresh
   snapshot; the others keep serving on the shared port).

Kept issuers keep their evidence, sticky revocations and ETags: unchanged sources are not
refetched, and a poll in flight lands in the kept issuer. Reloads are serialized.

Settings a running daemon cannot change (`[server] listen` and `workers`, `[store]`,
`[logging]`, and `[alerts]` other than `expiring_before` / `failing_after`) are logged
as `reload_needs_restart` (warning) with their keys, and otherwise ignored until restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, fields
from pathlib import Path

import structlog
from cryptography.hazmat.primitives import serialization

from revocd.clock import Clock
from revocd.config import Config, load_config
from revocd.errors import RevocdError
from revocd.events import Events
from revocd.metrics import Metrics
from revocd.model import Issuer, Policy, Source, SourceKind
from revocd.ocsp.responder import Responder, ResponderPolicy
from revocd.ocsp.signing import Signer
from revocd.poll.poller import Poller
from revocd.replicas import Replicas
from revocd.store.base import Store, StoredUpstream
from revocd.upstream.cache import UpstreamCache
from revocd.upstream.health import SourceHealth
from revocd.web.keys import Partners

log = structlog.get_logger("revocd.reload")

# [alerts] keys applied live; the others configure the running alert sender
LIVE_ALERT_KEYS = ("expiring_before", "failing_after")


@dataclass(frozen=True, slots=True)
class ReloadPlan:
    """What a new configuration changes. Issuers by name, sources by `Source.id`.

    An issuer whose certificate changed (a different key or subject under the same name)
    is `replaced`: its evidence is read from the store for the new key, and its sources
    count as removed and added (fetched again). Moving an issuer to another partner, or
    renaming it, changes its sources' ids the same way."""

    partners_added: tuple[str, ...] = ()
    partners_removed: tuple[str, ...] = ()
    issuers_added: tuple[str, ...] = ()
    issuers_removed: tuple[str, ...] = ()
    issuers_replaced: tuple[str, ...] = ()
    # signing, responder_cert, responder_key or passthrough_fallback changed (the files'
    # contents are compared when the signers are loaded)
    issuers_resigned: tuple[str, ...] = ()
    sources_added: tuple[str, ...] = ()
    sources_removed: tuple[str, ...] = ()
    sources_retuned: tuple[str, ...] = ()  # the partner's policy changed
    sources_unchanged: tuple[str, ...] = ()
    responder_changed: bool = False  # [responder] section
    needs_restart: tuple[str, ...] = ()  # keys, e.g. "server.listen"

    def summary(self) -> dict[str, int]:
        return {
            "partners_added": len(self.partners_added),
            "partners_removed": len(self.partners_removed),
            "issuers_added": len(self.issuers_added),
            "issuers_removed": len(self.issuers_removed),
            "issuers_replaced": len(self.issuers_replaced),
            "sources_added": len(self.sources_added),
            "sources_removed": len(self.sources_removed),
            "sources_retuned": len(self.sources_retuned),
            "sources_unchanged": len(self.sources_unchanged),
        }


def plan(old: Config, new: Config) -> ReloadPlan:
    """What applying `new` over `old` changes (pure: compares the parsed configs)."""
    old_partners = {p.name: p for p in old.partners}
    new_partners = {p.name: p for p in new.partners}
    old_issuers = {i.name: i for i in old.issuers()}
    new_issuers = {i.name: i for i in new.issuers()}
    replaced = tuple(
        name
        for name, issuer in new_issuers.items()
        if name in old_issuers and old_issuers[name].key != issuer.key
    )
    old_sources = _sources(old, skip=replaced)
    new_sources = _sources(new, skip=replaced)
    old_policy = {p.name: p.policy for p in old.partners}
    new_policy = {p.name: p.policy for p in new.partners}
    kept = [s for s in new_sources if s in old_sources]
    retuned = tuple(
        s for s in kept if old_policy[new_sources[s].partner] != new_policy[new_sources[s].partner]
    )
    replaced_sources = tuple(s.id for name in replaced for s in new_issuers[name].sources)
    replaced_old = tuple(s.id for name in replaced for s in old_issuers[name].sources)
    return ReloadPlan(
        partners_added=tuple(n for n in new_partners if n not in old_partners),
        partners_removed=tuple(n for n in old_partners if n not in new_partners),
        issuers_added=tuple(n for n in new_issuers if n not in old_issuers),
        issuers_removed=tuple(n for n in old_issuers if n not in new_issuers),
        issuers_replaced=replaced,
        issuers_resigned=tuple(
            name
            for name, issuer in new_issuers.items()
            if name in old_issuers
            and name not in replaced
            and _signing(old_issuers[name]) != _signing(issuer)
        ),
        sources_added=tuple(s for s in new_sources if s not in old_sources) + replaced_sources,
        sources_removed=tuple(s for s in old_sources if s not in new_sources) + replaced_old,
        sources_retuned=retuned,
        sources_unchanged=tuple(s for s in kept if s not in retuned),
        responder_changed=old.responder != new.responder,
        needs_restart=needs_restart(old, new),
    )


def needs_restart(old: Config, new: Config) -> tuple[str, ...]:
    """The keys whose new values only a restart applies."""
    keys: list[str] = []
    if old.server.listen != new.server.listen:
        keys.append("server.listen")
    if old.server.workers != new.server.workers:
        keys.append("server.workers")
    for table, before, after in (
        ("store", old.store, new.store),
        ("logging", old.logging, new.logging),
        ("alerts", old.alerts, new.alerts),
    ):
        keys.extend(
            f"{table}.{f.name}"
            for f in fields(before)
            if not (table == "alerts" and f.name in LIVE_ALERT_KEYS)
            and getattr(before, f.name) != getattr(after, f.name)
        )
    return tuple(keys)


def _sources(config: Config, skip: Iterable[str]) -> dict[str, Source]:
    skipped = set(skip)
    return {s.id: s for i in config.issuers() if i.name not in skipped for s in i.sources}


def _signing(issuer: Issuer) -> tuple[object, ...]:
    return (
        issuer.signing,
        issuer.passthrough_fallback,
        issuer.responder_cert,
        issuer.responder_key,
    )


def same_signer(a: Signer | None, b: Signer | None) -> bool:
    if a is None or b is None:
        return a is b
    der = serialization.Encoding.DER
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    return (
        a.cert == b.cert
        and a.embed == b.embed
        and a.key.public_key().public_bytes(der, spki) == b.key.public_key().public_bytes(der, spki)
    )


@dataclass(frozen=True)
class Wiring:
    """How the daemon builds what depends on the configuration (daemon.py's functions)."""

    signers: Callable[[Config], dict[str, Signer]]
    responder_policy: Callable[[Config], ResponderPolicy]
    upstream_targets: Callable[[Config], list[tuple[Issuer, Policy]]]


class Reloader:
    """Owns "the configuration in force" after start-up; `reload` replaces it."""

    def __init__(
        self,
        config: Config,
        *,
        wiring: Wiring,
        poller: Poller,
        responder: Responder,
        signers: Mapping[str, Signer],
        policies: MutableMapping[str, Policy],
        partners: Partners,
        upstream: UpstreamCache | None,
        store: Store,
        events: Events,
        metrics: Metrics,
        clock: Clock,
        replicas: Replicas | None = None,
        load: Callable[[Path], Config] = load_config,
    ) -> None:
        self.config = config
        self._wiring = wiring
        self._poller = poller
        self._responder = responder
        self._signers = dict(signers)
        self._policies = policies
        self._partners = partners
        self._upstream = upstream
        self._store = store
        self._events = events
        self._metrics = metrics
        self._clock = clock
        self._replicas = replicas
        self._load = load
        self.lock = asyncio.Lock()  # one reload at a time, none before the store is loaded

    async def reload(self) -> ReloadPlan | None:
        """Read the file again and apply it; None when it is invalid (nothing changed)."""
        async with self.lock:
            path = self.config.path
            try:
                new = await asyncio.to_thread(self._load, path)
                signers = await asyncio.to_thread(self._wiring.signers, new)
            except (RevocdError, OSError, ValueError, TypeError) as error:
                # the operator's fault, but nothing else tells them: error, with the message
                log.error(  # noqa: TRY400 - the message says it all; no traceback wanted
                    "config_reload_failed",
                    path=str(path),
                    error=str(error),
                    detail="the running configuration stays in force; fix the file and "
                    "reload again (revocd check-config --config FILE shows every problem)",
                )
                self._metrics.config_reloads_total.labels(result="failed").inc()
                return None
            changes = plan(self.config, new)
            try:
                await self._apply(new, changes, signers)
            except Exception as error:  # our bug (or the store's): say so, keep serving
                log.exception("config_reload_failed", path=str(path), error=repr(error))
                self._metrics.config_reloads_total.labels(result="failed").inc()
                return None
            self._metrics.config_reloads_total.labels(result="applied").inc()
            self._metrics.config_last_reload_success.set(self._clock.now().timestamp())
            log.info("config_reloaded", path=str(path), **changes.summary())
            if changes.needs_restart:
                log.warning(
                    "reload_needs_restart",
                    keys=list(changes.needs_restart),
                    detail="these settings keep their running values until revocd restarts",
                )
            await self._restart_replicas()
            return changes

    async def _apply(self, new: Config, changes: ReloadPlan, signers: dict[str, Signer]) -> None:
        targets = self._wiring.upstream_targets(new)
        staged = await self._poller.stage(new.partners)
        restored: list[tuple[Issuer, Policy, StoredUpstream]] = []
        for issuer, policy in targets:
            if issuer.name in staged.fresh:  # new here: its persisted answers come back
                stored = await self._store.load_upstream(issuer.key.id)
                restored.extend((issuer, policy, item) for item in stored)
        # ---- one step, no await: every request sees the old federation or the new one
        switched = self._poller.switch(staged)
        self._policies.clear()
        self._policies.update(new.policies())
        forget = set(changes.issuers_removed) | set(changes.issuers_replaced)
        forget |= {
            name
            for name in set(signers) | set(self._signers)
            if not same_signer(signers.get(name), self._signers.get(name))
        }
        grace = {name: policy.grace for name, policy in self._policies.items()}
        self._responder.reconfigure(signers, grace, self._wiring.responder_policy(new), forget)
        self._signers = signers
        self._partners.current = new.partners
        if self._upstream is not None:
            self._upstream.retarget(targets)
            for issuer, policy, item in restored:
                self._upstream.restore(issuer, policy, item.answer, item.url)
        self._events.expiring_before = new.alerts.expiring_before
        self._partners.expiring_before = new.alerts.expiring_before
        self._events.failing_after = new.alerts.failing_after
        added = set(changes.sources_added)
        self._events.upstream_sources(
            SourceHealth(s) for s in new.sources() if s.kind is SourceKind.OCSP and s.id in added
        )
        self.config = new
        # ----
        await self._poller.follow(switched)

    async def _restart_replicas(self) -> None:
        if self._replicas is not None:  # they re-read the file: the new partner list
            await self._replicas.restart_all()
