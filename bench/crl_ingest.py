"""Benchmark: ingesting a 1,000,000-entry CRL, against `openssl crl` on the same file.

Prints, in one run:
  (a) `openssl crl -inform DER -noout -CAfile ISSUER` (parse + verify) time;
  (b) revocd ingesting the same CRL from a loopback HTTP source: download, verify, parse,
      persist, index, until the JSON answer reflects it; ratio to (a);
  the index's bytes per entry, peak RSS (daemon process and its CRL workers), the
  longest event-loop stall during the ingest (a 1 ms ticker), and the time from process
  start to /readyz with the 1,000,000-entry store.
Targets: ingest within 3x openssl; index <= 64 B/entry; no stall over 50 ms; ready <= 3 s.

Usage: python bench/crl_ingest.py [--entries N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from aiohttp import web
from cryptography.hazmat.primitives import serialization

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bigcrl import bench_ca, big_crl
from revocd.config import load_config
from revocd.daemon import POLLER, Overrides, build_app
from revocd.serials import parse_serial_hex
from revocd.web import keys

CACHE = Path(__file__).resolve().parent / ".cache"


def time_openssl(crl: Path, ca_pem: Path) -> float:
    start = time.perf_counter()
    result = subprocess.run(
        ["openssl", "crl", "-inform", "DER", "-in", str(crl), "-noout", "-CAfile", str(ca_pem)],
        capture_output=True,
        text=True,
        check=False,
    )
    took = time.perf_counter() - start
    if "verify OK" not in result.stdout + result.stderr:
        raise SystemExit(f"openssl did not verify the CRL: {result.stdout}{result.stderr}")
    return took


def write_config(directory: Path, ca_pem: Path, url: str) -> Path:
    config = directory / "revocd.toml"
    config.write_text(
        f"""
[server]
listen = "127.0.0.1:0"
[store]
backend = "sqlite"
path = "{directory / "revocd.db"}"
[defaults]
poll_interval = "1h"
grace = "1h"
timeout = "60s"
max_crl_bytes = "200MiB"
clock_skew = "5m"
[[partner]]
name = "bench"
  [[partner.issuer]]
  name = "bench-ca"
  cert = "{ca_pem}"
  crl = ["{url}"]
"""
    )
    return config


def serve_crl(crl: Path) -> tuple[subprocess.Popen[bytes], str]:
    """The partner: a separate process, so its sending does not count as revocd's stalls."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "http.server",
            str(port),
            "--bind",
            "127.0.0.1",
            "--directory",
            str(crl.parent),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/{crl.name}"
    for _ in range(200):
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                response.read(1)
            break
        except OSError:
            time.sleep(0.05)
    return server, url


async def ingest(config_path: Path, probe_serial: str) -> dict[str, float]:
    config = load_config(config_path)
    app = build_app(config, Overrides(start_polling=False))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()  # opens the store, starts the process pool, loads (empty) store
    try:
        poller = app[POLLER]
        cache = app[keys.CACHE]
        while not cache.ready:  # noqa: ASYNC110 - the cache flag is all there is to wait on
            await asyncio.sleep(0.01)
        issuer = cache.find_issuer("bench-ca")
        serial = parse_serial_hex(probe_serial)
        # warm the worker process so its start-up is not counted as ingest
        await asyncio.get_running_loop().run_in_executor(poller.ingestor._executor, sum, [1, 2])
        stalls: list[float] = []
        big: list[tuple[float, float]] = []
        start = time.perf_counter()
        stop = asyncio.Event()

        async def ticker() -> None:
            last = time.perf_counter()
            while not stop.is_set():
                await asyncio.sleep(0.001)
                now = time.perf_counter()
                stalls.append(now - last)
                if now - last > 0.02:
                    big.append((round(last - start, 3), round((now - last) * 1000, 1)))
                last = now

        tick = asyncio.create_task(ticker())
        start = time.perf_counter()
        source = poller.crl_sources[0]
        result = await poller.poll(source)
        answer = cache.answer(issuer, serial, poller._clock.now())
        took = time.perf_counter() - start
        stop.set()
        await tick
        if answer.status.value != "revoked":
            raise SystemExit(f"ingest did not take effect: {result} {answer}")
        index = cache.evidence("bench-ca").index
        now = poller._clock.now()
        probes = [parse_serial_hex(f"{i:x}") for i in range(1, 20001)] + [serial] * 20000
        t0 = time.perf_counter()
        for probe_key in probes:
            cache.answer(issuer, probe_key, now)
        lookup_us = (time.perf_counter() - t0) / len(probes) * 1e6
        return {
            "lookup_us": lookup_us,
            "ingest_s": took,
            "bytes_per_entry": index.nbytes / len(index),
            "entries": float(len(index)),
            "max_stall_ms": max(stalls) * 1000,
            "stalls_over_20ms": big,  # type: ignore[dict-item]
        }
    finally:
        await runner.cleanup()


def time_to_ready(config_path: Path) -> float:
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "revocd", "run", "--config", str(config_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = None
        assert process.stdout is not None
        for line in process.stdout:
            event = json.loads(line) if line.startswith("{") else {}
            if event.get("event") == "listening":
                url = event["url"].rstrip("/")
                break
        if url is None:
            raise SystemExit("revocd did not start")
        while True:
            try:
                with urllib.request.urlopen(url + "/readyz", timeout=5) as response:
                    if response.status == 200:
                        return time.perf_counter() - start
            except OSError:
                pass
            time.sleep(0.01)
    finally:
        process.terminate()
        process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    args = parser.parse_args()
    CACHE.mkdir(exist_ok=True)
    ca_cert, ca_key = bench_ca(CACHE)
    ca_pem = CACHE / "bench-ca.pem"
    ca_pem.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    t0 = time.perf_counter()
    crl_path, probe = big_crl(CACHE, ca_key, ca_cert, args.entries)
    print(
        f"CRL: {crl_path} ({crl_path.stat().st_size / 1e6:.1f} MB, {args.entries} entries; "
        f"ready in {time.perf_counter() - t0:.1f} s)"
    )
    openssl_s = min(time_openssl(crl_path, ca_pem) for _ in range(2))
    print(f"(a) openssl crl parse+verify:          {openssl_s:.2f} s")

    async def run() -> dict[str, float]:
        server, url = serve_crl(crl_path)
        try:
            with tempfile.TemporaryDirectory() as tmp:
                config = write_config(Path(tmp), ca_pem, url)
                figures = await ingest(config, probe)
                server.terminate()  # restart with every partner unreachable
                figures["ready_s"] = await asyncio.to_thread(time_to_ready, config)
                return figures
        finally:
            server.terminate()
            server.wait()

    figures = asyncio.run(run())
    ratio = figures["ingest_s"] / openssl_s
    rss_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rss_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"(b) revocd ingest (download..answer):  {figures['ingest_s']:.2f} s   "
        f"ratio {ratio:.2f}x openssl (target <= 3x)"
    )
    print(f"answer lookup in the 1M-entry cache: {figures['lookup_us']:.1f} us (hits and misses)")
    print(
        f"index: {figures['bytes_per_entry']:.1f} bytes/entry over {int(figures['entries'])} "
        "entries (target <= 64)"
    )
    print(
        f"peak RSS: daemon {rss_self:.0f} MiB, largest child (CRL worker / openssl) "
        f"{rss_children:.0f} MiB"
    )
    print(
        f"longest event-loop stall during ingest: {figures['max_stall_ms']:.1f} ms (target <= 50)"
    )
    print(
        f"event-loop stalls over 20 ms (seconds into the ingest, ms): {figures['stalls_over_20ms']}"
    )
    print(
        f"process start to ready with the {int(figures['entries'])}-entry store: "
        f"{figures['ready_s']:.2f} s (target <= 3)"
    )


if __name__ == "__main__":
    main()
