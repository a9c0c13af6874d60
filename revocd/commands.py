"""The bodies of the CLI commands; cli.py parses arguments and maps errors to exit codes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import aiohttp
from cryptography.hazmat.primitives import serialization

from revocd import logs
from revocd.clock import SystemClock
from revocd.config import Config, load_config
from revocd.config import check_config as check
from revocd.errors import FetchError, Rejected, RevocdError
from revocd.fetch.crl import fetch_crl
from revocd.fetch.transport import Transport, make_session
from revocd.model import Issuer, Partner, Source, SourceKind
from revocd.scheduling import short_cpu_slices
from revocd.status.freshness import freshness
from revocd.upstream.client import OcspClient
from revocd.upstream.health import HealthBoard
from revocd.upstream.outcome import Accepted
from revocd.upstream.query import Upstream
from revocd.verify.crl import CrlCheckContext, verify_crl


def run(config_path: Path, log_format: str | None, log_level: str | None) -> int:
    from revocd.daemon import install_uvloop, serve

    config = load_config(config_path)
    log_format = log_format or config.logging.format
    log_level = log_level or config.logging.level
    logs.configure(log_format, log_level)
    install_uvloop()
    short_cpu_slices()  # answering first; replicas inherit it (revocd/scheduling.py)
    asyncio.run(serve(config, log_format=log_format, log_level=log_level))
    return 0


def reload(pid: int | None, pidfile: Path | None) -> int:
    """Send SIGHUP to a running `revocd run` (after checking that it is one)."""
    if pid is None:
        assert pidfile is not None
        pid = _read_pidfile(pidfile)
    if pid <= 0:
        raise RevocdError(f"--pid {pid}: a process id is a positive number")
    command = _command_line(pid)
    if command is not None and not _is_revocd_daemon(command):
        raise RevocdError(
            f"process {pid} is not a revocd daemon (its command line is "
            f"{' '.join(command)!r}); pass the pid of `revocd run`"
        )
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        raise RevocdError(
            f"no process with pid {pid}: is revocd running? (under systemd: "
            "systemctl reload revocd)"
        ) from None
    except PermissionError:
        raise RevocdError(
            f"not allowed to signal process {pid}: run this as the user revocd runs as, or as root"
        ) from None
    print(
        f"sent SIGHUP to revocd (pid {pid}); its log says config_reloaded, or "
        "config_reload_failed with the problem (the running configuration then stays)"
    )
    return 0


def _read_pidfile(path: Path) -> int:
    try:
        text = path.read_text().strip()
    except OSError as error:
        raise RevocdError(f"{path}: cannot read the pid file: {error.strerror}") from None
    if not text.isdigit():
        raise RevocdError(f"{path}: holds {text[:40]!r}, not a process id")
    return int(text)


def _command_line(pid: int) -> list[str] | None:
    """The process's argv (Linux /proc); None where it cannot be read (not Linux)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        raise RevocdError(
            f"no process with pid {pid}: is revocd running? (under systemd: "
            "systemctl reload revocd)"
        ) from None
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _is_revocd_daemon(argv: list[str]) -> bool:
    """`revocd run ...`, `python -m revocd run ...`, or a path ending in revocd."""
    for i, part in enumerate(argv):
        name = Path(part).name
        if name == "revocd" or (part == "-m" and i + 1 < len(argv) and argv[i + 1] == "revocd"):
            return "run" in argv[i + 1 :]
    return False


def check_config(config_path: Path) -> int:
    config = check(config_path)
    issuers = list(config.issuers())
    sources = [s for i in issuers for s in i.sources]
    print(
        f"{config_path}: OK: {len(config.partners)} partner(s), {len(issuers)} issuer(s), "
        f"{len(sources)} source(s); store {config.store.backend}; listen {config.server.listen}"
    )
    return 0


@dataclass(frozen=True)
class FetchReport:
    source: Source
    ok: bool
    summary: str
    data: dict[str, Any]


async def fetch(config_path: Path, partner_name: str | None, *, as_json: bool) -> int:
    """One pass over the sources, a line each; exit 1 if any failed. A CRL source is
    fetched and verified; an OCSP source is asked about a random serial, as the daemon's
    probe asks it, and its answer verified.

    Nothing is persisted: this is for wiring a new partner while a daemon may be running.
    """
    config = load_config(config_path)
    partners = _select(config, partner_name)
    targets = [
        (partner, issuer, source)
        for partner in partners
        for issuer in partner.issuers
        for source in issuer.sources
    ]
    executor = ThreadPoolExecutor(max_workers=2)
    async with make_session() as session:
        transport = Transport(session)
        upstream = Upstream(
            OcspClient(session),
            HealthBoard(s for _, _, s in targets if s.kind is SourceKind.OCSP),
            SystemClock(),
        )
        reports = await asyncio.gather(
            *(
                _fetch_one(transport, executor, p, i, s)
                if s.kind is SourceKind.CRL
                else _probe_one(upstream, p, i, s)
                for p, i, s in targets
            )
        )
    executor.shutdown()
    if as_json:
        print(json.dumps({"sources": [r.data for r in reports]}, indent=2))
    else:
        for report in reports:
            mark = "OK  " if report.ok else "FAIL"
            print(f"{mark} {report.source.describe()}: {report.summary}")
        if not reports:
            print(
                "no sources configured" + (f" for partner {partner_name}" if partner_name else "")
            )
    return 0 if all(r.ok for r in reports) else 1


async def _probe_one(
    upstream: Upstream, partner: Partner, issuer: Issuer, source: Source
) -> FetchReport:
    """An OCSP source: a random serial asked and the answer verified (signature, CertID,
    freshness), as the daemon's start-up probe does; `unknown` is a fine answer to it."""
    base: dict[str, Any] = {
        "partner": partner.name,
        "issuer": issuer.name,
        "url": source.url,
        "kind": "ocsp",
    }
    outcome = await upstream.probe(source, issuer, partner.policy)
    if not isinstance(outcome, Accepted):
        return FetchReport(
            source,
            False,
            f"{outcome.detail} ({outcome.reason})",
            {**base, "ok": False, "error": outcome.reason, "message": outcome.detail},
        )
    answer = outcome.answer
    signer = "a delegated responder" if answer.delegated else "the issuer's key"
    given = "" if answer.next_update_given else " (none given: producedAt + ocsp_default_validity)"
    summary = (
        f"OCSP {answer.status.value} for a random serial, thisUpdate "
        f"{_iso(answer.this_update)}, nextUpdate {_iso(answer.next_update)}{given}, "
        f"signed by {signer}"
    )
    return FetchReport(
        source,
        True,
        summary,
        {
            **base,
            "ok": True,
            "status": answer.status.value,
            "this_update": _iso(answer.this_update),
            "next_update": _iso(answer.next_update),
            "next_update_given": answer.next_update_given,
            "delegated": answer.delegated,
        },
    )


def _select(config: Config, partner_name: str | None) -> tuple[Partner, ...]:
    if partner_name is None:
        return config.partners
    chosen = tuple(p for p in config.partners if p.name == partner_name)
    if not chosen:
        names = ", ".join(p.name for p in config.partners) or "none"
        raise RevocdError(
            f"no partner named {partner_name!r} in {config_path_of(config)} (partners: {names})"
        )
    return chosen


def config_path_of(config: Config) -> str:
    return str(config.path)


async def _fetch_one(
    transport: Transport,
    executor: ThreadPoolExecutor,
    partner: Partner,
    issuer: Issuer,
    source: Source,
) -> FetchReport:
    base: dict[str, Any] = {
        "partner": partner.name,
        "issuer": issuer.name,
        "url": source.url,
        "kind": "crl",
    }
    try:
        fetched = await fetch_crl(transport, source, partner.policy, None)
        assert fetched.body is not None
        now = SystemClock().now()
        ctx = CrlCheckContext(
            issuer_cert_der=issuer.cert.public_bytes(serialization.Encoding.DER),
            issuer_name=issuer.name,
            source_url=source.url,
            configured_urls=issuer.crl_urls,
            now=now,
            clock_skew=partner.policy.clock_skew,
            max_crl_bytes=partner.policy.max_crl_bytes,
        )
        evidence = await asyncio.get_running_loop().run_in_executor(
            executor, verify_crl, fetched.body, ctx
        )
    except FetchError as error:
        return FetchReport(
            source,
            False,
            f"{error.detail} ({error.kind})",
            {**base, "ok": False, "error": error.kind, "message": error.detail},
        )
    except Rejected as rejected:
        return FetchReport(
            source,
            False,
            f"rejected: {rejected.detail} ({rejected.reason.value})",
            {**base, "ok": False, "error": rejected.reason.value, "message": rejected.detail},
        )
    meta = evidence.meta
    state = freshness(meta.next_update, now, partner.policy.grace).value
    summary = (
        f"CRL {meta.crl_number if meta.crl_number is not None else '(no number)'}, "
        f"{meta.entry_count} entries, thisUpdate {_iso(meta.this_update)}, "
        f"nextUpdate {_iso(meta.next_update)}, {state}, {len(evidence.der)} bytes"
    )
    return FetchReport(
        source,
        True,
        summary,
        {
            **base,
            "ok": True,
            "crl_number": meta.crl_number,
            "entry_count": meta.entry_count,
            "this_update": _iso(meta.this_update),
            "next_update": _iso(meta.next_update),
            "freshness": state,
            "bytes": len(evidence.der),
        },
    )


def _iso(when: Any) -> str:
    return str(when.isoformat().replace("+00:00", "Z"))


async def _get_json(session: aiohttp.ClientSession, method: str, url: str, **kw: Any) -> Any:
    try:
        async with session.request(method, url, **kw) as response:
            text = await response.text()
            try:
                body = json.loads(text)
            except ValueError:
                raise RevocdError(
                    f"{url}: HTTP {response.status}, not JSON: {text[:200]!r}"
                ) from None
            if response.status >= 400 and not (
                response.status == 404 and "error" in body and body.get("error") == "unknown_issuer"
            ):
                raise RevocdError(
                    f"{url}: HTTP {response.status}: {body.get('message', text[:200])}"
                )
            return body
    except aiohttp.ClientError as error:
        raise RevocdError(
            f"cannot reach revocd at {url}: {error} (is `revocd run` running? use --url)"
        ) from error


async def status(url: str, *, as_json: bool, colour: str = "auto") -> int:
    async with aiohttp.ClientSession() as session:
        body = await _get_json(session, "GET", url.rstrip("/") + "/v1/partners")
    if as_json:
        print(json.dumps(body, indent=2))
        return 0
    lines, worst = status_table(body, colour=use_colour(colour, sys.stdout))
    for line in lines:
        print(line)
    return worst


# ANSI SGR codes per state word: green is good, yellow needs a look, red loses answers
_COLOURS = {
    "fresh": "32",
    "ok": "32",
    "stale": "33",
    "expiring": "1;33",  # the grace is ending: louder than stale, still answering
    "behind": "33",
    "unknown": "2",
    "none": "2",
    "expired": "1;31",
    "failing": "1;31",
}


def use_colour(choice: str, stream: TextIO) -> bool:
    """`auto`: colours on a terminal, unless NO_COLOR is set (no-color.org) or TERM=dumb."""
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return stream.isatty()


def _paint(state: str, width: int, colour: bool) -> str:
    padded = state.ljust(width)
    if not colour:
        return padded
    words = [f"\x1b[{_COLOURS[w]}m{w}\x1b[0m" if w in _COLOURS else w for w in state.split(" ")]
    return " ".join(words) + padded[len(state) :]


def status_table(body: dict[str, Any], *, colour: bool) -> tuple[list[str], int]:
    """The partners' freshness table (`revocd status`) and the exit code: 1 when any
    source is expired, has nothing, or is failing (something an operator must fix)."""
    rows = [
        ("PARTNER", "ISSUER", "SOURCE", "STATE", "CRL#", "ENTRIES", "NEXT UPDATE", "LAST ERROR")
    ]
    worst = 0
    for partner in body["partners"]:
        for issuer in partner["issuers"]:
            for source in issuer["sources"]:
                if source.get("type") == "ocsp":  # an upstream responder: its health
                    state = "ocsp " + str(source.get("health") or "unknown")
                    if source.get("reason"):
                        state += f" ({source['reason']})"
                    if source.get("failing"):
                        worst = 1
                else:
                    # `state` adds `expiring` (older daemons send `freshness` alone)
                    state = (
                        source.get("state", source["freshness"])
                        + (" failing" if source.get("failing") else "")
                        + (" behind" if source.get("behind") else "")
                    )
                    if source["freshness"] in ("expired", "none") or source.get("failing"):
                        worst = 1
                rows.append(
                    (
                        partner["name"],
                        issuer["name"],
                        source["url"],
                        state,
                        "" if source.get("crl_number") is None else str(source["crl_number"]),
                        "" if source.get("entry_count") is None else str(source["entry_count"]),
                        source.get("next_update") or "",
                        (source.get("last_error") or "")[:60],
                    )
                )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for number, row in enumerate(rows):
        cells = [
            _paint(cell, w, colour and number > 0 and column == 3) if column == 3 else cell.ljust(w)
            for column, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return lines, worst


async def query(
    url: str, cert: Path | None, issuer: str | None, serial: str | None, *, as_json: bool
) -> int:
    base = url.rstrip("/")
    async with aiohttp.ClientSession() as session:
        if cert is not None:
            pem = _read_cert_pem(cert)
            body = await _get_json(
                session, "POST", base + "/v1/status", json={"certificates": [pem]}
            )
            answer = body["results"][0]
        else:
            from urllib.parse import quote

            answer = await _get_json(
                session,
                "GET",
                f"{base}/v1/status/{quote(issuer or '', safe='')}/{quote(serial or '', safe='')}",
            )
    if as_json:
        print(json.dumps(answer, indent=2))
    else:
        print(_describe(answer))
    if "error" in answer:
        return 1
    return {"good": 0, "revoked": 3, "unknown": 4}.get(answer.get("status", ""), 1)


def _read_cert_pem(path: Path) -> str:
    from cryptography import x509

    try:
        data = path.read_bytes()
    except OSError as error:
        raise RevocdError(f"{path}: cannot read certificate: {error.strerror}") from error
    try:
        cert = (
            x509.load_pem_x509_certificate(data)
            if b"-----BEGIN" in data
            else x509.load_der_x509_certificate(data)
        )
    except ValueError as error:
        raise RevocdError(f"{path}: not a PEM or DER certificate ({error})") from error
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _describe(answer: dict[str, Any]) -> str:
    if "error" in answer:
        return f"error: {answer['error']}: {answer.get('message', '')}"
    lines = [f"{answer['status'].upper()}  issuer {answer['issuer']}  serial {answer['serial']}"]
    if answer["status"] == "revoked":
        lines.append(
            f"  revoked at {answer.get('revoked_at')}  "
            f"reason {answer.get('reason') or '(none given)'}"
        )
    if answer["status"] == "unknown":
        lines.append(f"  why: {answer.get('unknown_reason')}")
    lines.append(
        f"  evidence: {answer.get('freshness')}; thisUpdate {answer.get('this_update')}; "
        f"nextUpdate {answer.get('next_update')}"
    )
    source = answer.get("source")
    if source and source.get("type") == "ocsp":
        lines.append(f"  source: ocsp {source.get('url')} (the partner's responder)")
    elif source:
        lines.append(
            f"  source: {source.get('type')} {source.get('url')} CRL {source.get('crl_number')}"
        )
    return "\n".join(lines)
