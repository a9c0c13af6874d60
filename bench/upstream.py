"""Benchmark: relying parties asking revocd about an OCSP-only partner.

A loopback upstream OCSP responder (aiohttp on 127.0.0.1, in a process of its own)
answers after `--latency` (20 ms) with responses pre-signed per serial by the issuer's key
(so the upstream itself is never the bottleneck), counting the requests it has in flight.
revocd (`revocd run`, one process) has it as the only source of an OCSP-only issuer, with
`ocsp_concurrency = --concurrency` (8, the default) and `ocsp_nonce = false` (pre-signed
responses cannot echo a nonce).

  (a) warm: `--warm` serials (1,000) asked once, so their answers are cached from
      upstream, then wrk over GET /v1/status/{issuer}/{serial} and over the RFC 5019 GET
      /ocsp/{request} form: req/s, p50, p99; the upstream must see no request meanwhile.
  (b) cold burst: `--burst` distinct never-asked serials (1,000), all asked at once over
      connections opened beforehand: total time against the ideal
      burst / concurrency x latency (2.5 s with the defaults), per-request p50/p99, and
      the most requests the upstream ever had in flight, which must not exceed the
      per-source bound.

Every answer is checked (status and `source.type == "ocsp"`), so a fast wrong answer
cannot pass for a figure; a revocd that does not answer from upstream stops the run.

Usage: python bench/upstream.py [--seconds 10] [--connections 32] [--concurrency 8]
                                [--latency-ms 20] [--warm 1000] [--burst 1000]
Needs: wrk on PATH (Debian: apt-get install wrk).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import os
import random
import resource
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ocsp_serve import WRK_SCRIPT, Load, run_wrk
from revocd.model import IssuerKey
from tests.support.daemon import RunningDaemon

ISSUER = "bench-upstream"
VALIDITY = timedelta(hours=1)  # no background refresh during a run (it starts at 3/4)
SHA1 = hashes.SHA1()  # the CertID hash revocd asks upstream with (RFC 5019)


@dataclass(frozen=True)
class Pki:
    ca: x509.Certificate
    ca_key: ec.EllipticCurvePrivateKey
    ca_pem: Path
    responder_pem: Path  # revocd's own (`trusted`) OCSP signing identity
    responder_key: Path


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _cert(
    subject: str, issuer: x509.Name | None, key: ec.EllipticCurvePrivateKey, signer: Any, ca: bool
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False
        )
    return builder.sign(signer, hashes.SHA256())


def make_pki(folder: Path) -> Pki:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("bench upstream issuing CA", None, ca_key, ca_key, ca=True)
    responder_key = ec.generate_private_key(ec.SECP256R1())
    responder = _cert("revocd bench responder", None, responder_key, responder_key, ca=False)
    files = {
        "ca.pem": ca.public_bytes(serialization.Encoding.PEM),
        "responder.pem": responder.public_bytes(serialization.Encoding.PEM),
        "responder.key": _pem_key(responder_key),
        "ca.key": _pem_key(ca_key),  # the upstream process signs with it
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return Pki(ca, ca_key, folder / "ca.pem", folder / "responder.pem", folder / "responder.key")


def make_serials(count: int, rng: random.Random) -> dict[int, bool]:
    """serial -> revoked: 16-octet random serials, one in ten revoked."""
    return {rng.getrandbits(127) | 1: i % 10 == 0 for i in range(count)}


def presign(pki: Pki, serial: int, revoked: bool) -> bytes:
    """The upstream's answer for `serial`: SHA-1 CertID, signed by the issuer's own key."""
    now = datetime.now(UTC).replace(microsecond=0)
    key = IssuerKey.from_certificate(pki.ca)
    status = ocsp.OCSPCertStatus.REVOKED if revoked else ocsp.OCSPCertStatus.GOOD
    builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
        issuer_name_hash=key.name_sha1,
        issuer_key_hash=key.key_sha1,
        serial_number=serial,
        algorithm=SHA1,
        cert_status=status,
        this_update=now - timedelta(minutes=1),
        next_update=now + VALIDITY,
        revocation_time=now - timedelta(days=1) if revoked else None,
        revocation_reason=x509.ReasonFlags.key_compromise if revoked else None,
    )
    response = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, pki.ca)
    return response.sign(pki.ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


class UpstreamApp:
    """The partner's OCSP responder: sleeps `latency`, answers from pre-signed bytes, and
    counts requests and the most it ever had in flight (GET /_stats reads and resets)."""

    def __init__(self, pki: Pki, answers: dict[int, bytes], latency: float) -> None:
        self.pki = pki
        self.answers = answers
        self.latency = latency
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/_stats", self._stats)
        app.router.add_route("*", "/ocsp{tail:.*}", self._ocsp)
        return app

    async def _ocsp(self, request: web.Request) -> web.Response:
        self.requests += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if request.method == "POST":
                der = await request.read()
            else:
                encoded = request.raw_path.split("/", 2)[2]
                der = base64.b64decode(urllib.parse.unquote(encoded))
            serial = ocsp.load_der_ocsp_request(der).serial_number
            await asyncio.sleep(self.latency)
            body = self.answers.get(serial) or presign(self.pki, serial, False)  # probes
            return web.Response(body=body, content_type="application/ocsp-response")
        finally:
            self.in_flight -= 1

    async def _stats(self, _: web.Request) -> web.Response:
        seen = {"requests": self.requests, "max_in_flight": self.max_in_flight}
        self.requests = 0
        self.max_in_flight = self.in_flight
        return web.json_response(seen)


def _serve_upstream(
    folder: Path, answers: dict[int, bytes], latency: float, port: Connection
) -> None:
    """The upstream's process: its own interpreter, so neither the relying-party client
    nor revocd slows its answers down (and its 20 ms are 20 ms)."""
    ca = x509.load_pem_x509_certificate((folder / "ca.pem").read_bytes())
    key = serialization.load_pem_private_key((folder / "ca.key").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    pki = Pki(ca, key, folder / "ca.pem", folder / "responder.pem", folder / "responder.key")

    async def serve() -> None:
        runner = web.AppRunner(UpstreamApp(pki, answers, latency).app(), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0, backlog=1024).start()
        port.send(runner.addresses[0][1])
        await asyncio.Event().wait()  # until terminated

    asyncio.run(serve())


class LoopbackUpstream:
    """Runs `UpstreamApp` in a child process and reads its counters."""

    def __init__(self, folder: Path, answers: dict[int, bytes], latency: float) -> None:
        context = multiprocessing.get_context("spawn")
        self._port, child = context.Pipe()
        self._process = context.Process(
            target=_serve_upstream, args=(folder, answers, latency, child), daemon=True
        )
        self.url = ""

    def start(self) -> str:
        self._process.start()
        if not self._port.poll(30):
            raise SystemExit("the loopback upstream did not start")
        self.url = f"http://127.0.0.1:{self._port.recv()}/ocsp"
        return self.url

    def counters(self) -> tuple[int, int]:
        """(requests, max in flight) since the last call."""
        stats = self.url.removesuffix("/ocsp") + "/_stats"
        with urllib.request.urlopen(stats, timeout=10) as response:
            seen = json.loads(response.read())
        return int(seen["requests"]), int(seen["max_in_flight"])

    def close(self) -> None:
        self._process.terminate()
        self._process.join(10)


def write_config(folder: Path, pki: Pki, upstream: str, concurrency: int) -> Path:
    config = folder / "revocd.toml"
    config.write_text(
        f"""
[server]
listen = "127.0.0.1:0"
workers = 1                     # figures per process (replicas follow the primary)

[store]
backend = "sqlite"
path = "{folder / "revocd.db"}"

[responder]
cert = "{pki.responder_pem}"
key = "{pki.responder_key}"
nonce = "ignore"

[defaults]
grace = "1h"
ocsp_concurrency = {concurrency}
ocsp_nonce = false              # pre-signed answers cannot echo a nonce
ocsp_timeout = "10s"
ocsp_probe_interval = "1h"      # no probes during the run

[[partner]]
name = "bench"

  [[partner.issuer]]
  name = "{ISSUER}"
  cert = "{pki.ca_pem}"
  ocsp = ["{upstream}"]
"""
    )
    return config


def ocsp_get_path(pki: Pki, serial: int) -> str:
    key = IssuerKey.from_certificate(pki.ca)
    der = (
        ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(key.name_sha1, key.key_sha1, serial, SHA1)
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    return urllib.parse.quote(base64.b64encode(der).decode(), safe="")


def check(answer: dict[str, Any], serial: int, revoked: bool) -> str | None:
    """What is wrong with revocd's JSON answer for `serial`, or None."""
    expected = "revoked" if revoked else "good"
    source = answer.get("source") or {}
    if answer.get("status") == expected and source.get("type") == "ocsp":
        return None
    return (
        f"serial {serial:x}: status {answer.get('status')!r} "
        f"(unknown_reason {answer.get('unknown_reason')!r}), source {source or None}; "
        f"expected {expected!r} from the upstream"
    )


def not_landed(problem: str) -> SystemExit:
    return SystemExit(
        f"bench/upstream.py: revocd did not answer from its upstream OCSP responder: "
        f"{problem}. Is upstream OCSP (issue 5) wired into the daemon (revocd/daemon.py "
        "builds an UpstreamCache)? No figures printed."
    )


def ask(daemon: RunningDaemon, serial: int) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(
            f"{daemon.url}/v1/status/{ISSUER}/{serial:x}", timeout=30
        ) as response:
            return dict(json.loads(response.read()))
    except urllib.error.HTTPError as error:
        raise not_landed(f"GET /v1/status answered HTTP {error.code}") from None


@dataclass(frozen=True)
class Burst:
    seconds: float
    p50_ms: float
    p99_ms: float
    wrong: list[str]


async def cold_burst(url: str, serials: dict[int, bool]) -> Burst:
    """Every serial asked at once, over connections opened (and kept alive) beforehand,
    so the figure is revocd's and the upstream's, not the TCP accept queue's."""
    connector = aiohttp.TCPConnector(limit=len(serials), keepalive_timeout=60)
    async with aiohttp.ClientSession(connector=connector, trust_env=False) as session:

        async def touch() -> None:
            async with session.get(f"{url}/healthz") as response:
                await response.read()

        await asyncio.gather(*(touch() for _ in serials))

        async def one(serial: int) -> tuple[float, float, dict[str, Any]]:
            started = time.perf_counter()
            async with session.get(f"{url}/v1/status/{ISSUER}/{serial:x}") as response:
                body = await response.json()
            return started, time.perf_counter(), body

        results = await asyncio.gather(*(one(s) for s in serials))
    first = min(started for started, _, _ in results)
    last = max(ended for _, ended, _ in results)
    latencies = sorted((ended - started) * 1000 for started, ended, _ in results)
    wrong = [
        problem
        for (serial, revoked), (_, _, body) in zip(serials.items(), results, strict=True)
        if (problem := check(body, serial, revoked))
    ]
    return Burst(last - first, _percentile(latencies, 50), _percentile(latencies, 99), wrong)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _percentile(sorted_values: list[float], percent: float) -> float:
    index = min(len(sorted_values) - 1, int(len(sorted_values) * percent / 100))
    return sorted_values[index]


def report(label: str, load: Load) -> None:
    errors = f"  ({load.errors})" if load.errors else ""
    print(
        f"  {label:<40} {load.requests_per_second:>9,.0f} req/s   "
        f"p50 {load.p50_ms:6.2f} ms   p99 {load.p99_ms:6.2f} ms{errors}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10, help="per wrk run")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--concurrency", type=int, default=8, help="revocd ocsp_concurrency")
    parser.add_argument("--latency-ms", type=float, default=20, help="the upstream's latency")
    parser.add_argument("--warm", type=int, default=1000, help="serials cached from upstream")
    parser.add_argument("--burst", type=int, default=1000, help="cold serials asked at once")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # a burst of connections, and
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # revocd inherits the limit

    rng = random.Random(20)
    with tempfile.TemporaryDirectory(prefix="revocd-upstream-bench-") as tmp:
        folder = Path(tmp)
        pki = make_pki(folder)
        warm = make_serials(args.warm, rng)
        cold = make_serials(args.burst, rng)
        print(f"pre-signing {len(warm) + len(cold):,} upstream answers ...", flush=True)
        answers = {s: presign(pki, s, r) for s, r in (warm | cold).items()}
        upstream = LoopbackUpstream(folder, answers, args.latency_ms / 1000)
        upstream_url = upstream.start()
        latency = f"{args.latency_ms:g} ms"
        print(
            f"\nloopback upstream at {upstream_url}, {latency} per answer; revocd "
            f"ocsp_concurrency = {args.concurrency}, one process; wrk: {args.connections} "
            f"connections, {args.seconds:g} s per run\n"
        )
        try:
            config = write_config(folder, pki, upstream_url, args.concurrency)
            with RunningDaemon(config) as daemon:
                daemon.wait_ready(60)
                results = run(daemon, pki, upstream, warm, cold, args)
        finally:
            upstream.close()
    print(json.dumps(results))


def run(
    daemon: RunningDaemon,
    pki: Pki,
    upstream: LoopbackUpstream,
    warm: dict[int, bool],
    cold: dict[int, bool],
    args: argparse.Namespace,
) -> dict[str, Any]:
    first_serial, first_revoked = next(iter(warm.items()))
    if problem := check(ask(daemon, first_serial), first_serial, first_revoked):
        raise not_landed(problem)
    # (a) cache the warm serials from upstream, then load revocd with them
    wrong = [p for s, r in warm.items() if (p := check(ask(daemon, s), s, r))]
    if wrong:
        raise SystemExit(f"{len(wrong)} wrong answers while warming, e.g. {wrong[0]}")
    upstream.counters()
    script = daemon.config.parent / "rotate.lua"
    script.write_text(WRK_SCRIPT)
    json_paths = daemon.config.parent / "json-paths.txt"
    json_paths.write_text("".join(f"{s:x}\n" for s in warm))
    ocsp_paths = daemon.config.parent / "ocsp-paths.txt"
    ocsp_paths.write_text("".join(ocsp_get_path(pki, s) + "\n" for s in warm))
    loads: dict[str, Load] = {}
    for label, base, paths in (
        ("JSON GET /v1/status, cached", f"{daemon.url}/v1/status/{ISSUER}/", json_paths),
        ("OCSP GET /ocsp/..., cached", f"{daemon.url}/ocsp/", ocsp_paths),
    ):
        run_wrk(base, paths, script, 2, args.connections, False)  # sign once, then serve
        loads[label] = run_wrk(base, paths, script, args.seconds, args.connections, False)
        report(label, loads[label])
    warm_upstream, _ = upstream.counters()
    print(f"  {'':<40} upstream requests during (a): {warm_upstream}")

    # (b) a cold burst of distinct serials, each needing one upstream round
    cpu_before = cpu_seconds(daemon.process.pid)
    burst = asyncio.run(cold_burst(daemon.url, cold))
    cpu = cpu_seconds(daemon.process.pid) - cpu_before
    cold_upstream, max_in_flight = upstream.counters()
    if burst.wrong:
        raise SystemExit(f"{len(burst.wrong)} wrong answers in the burst, e.g. {burst.wrong[0]}")
    ideal = len(cold) / args.concurrency * args.latency_ms / 1000
    if max_in_flight > args.concurrency:
        bound = "BROKEN"
    elif max_in_flight < args.concurrency:
        bound = "holds, but is never reached: something else limits it"
    else:
        bound = "holds"
    print(
        f"\n  cold burst: {len(cold):,} distinct serials at once: {burst.seconds:.2f} s "
        f"(ideal {len(cold):,} / {args.concurrency} x {args.latency_ms:g} ms = {ideal:.2f} s; "
        f"{burst.seconds / ideal:.2f}x)\n"
        f"  per request: p50 {burst.p50_ms:.0f} ms, p99 {burst.p99_ms:.0f} ms; upstream "
        f"requests {cold_upstream:,}, max in flight {max_in_flight} "
        f"(bound {args.concurrency}: {bound})\n"
        f"  revocd's CPU time over the burst: {cpu:.2f} s "
        f"({cpu / len(cold) * 1000:.2f} ms per serial: query + upstream round + persist)"
    )
    return {
        "warm": {k: vars(v) for k, v in loads.items()},
        "warm_upstream_requests": warm_upstream,
        "burst": {
            "serials": len(cold),
            "seconds": round(burst.seconds, 3),
            "ideal_seconds": round(ideal, 3),
            "ratio": round(burst.seconds / ideal, 3),
            "p50_ms": round(burst.p50_ms, 1),
            "p99_ms": round(burst.p99_ms, 1),
            "upstream_requests": cold_upstream,
            "max_in_flight": max_in_flight,
            "concurrency": args.concurrency,
            "latency_ms": args.latency_ms,
            "revocd_cpu_seconds": round(cpu, 3),
        },
    }


if __name__ == "__main__":
    main()
