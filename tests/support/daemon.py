"""Run the real `revocd run` as a subprocess, the way an operator does.

`RunningDaemon` starts `python -m revocd run --config FILE` with `listen = 127.0.0.1:0`,
reads its JSON log lines on a thread, and learns its URL from the `listening` event.
Tests wait on *conditions* (an answer changed, the store is loaded), polling the real
HTTP API with a deadline; they never sleep for a fixed time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


class RunningDaemon:
    def __init__(self, config: Path, *, extra_env: dict[str, str] | None = None) -> None:
        self.config = config
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **(extra_env or {})}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "revocd", "run", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env=env,
            text=True,
            start_new_session=True,  # kill() takes the whole process group, as systemd would
        )
        self.lines: list[str] = []
        self.events: list[dict[str, Any]] = []
        self._url: str | None = None
        self._got_url = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.started_at = time.monotonic()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            try:
                event = json.loads(line)
            except ValueError:
                continue
            self.events.append(event)
            if event.get("event") == "listening":
                self._url = str(event["url"]).rstrip("/")
                self._got_url.set()
        self._got_url.set()
        self.process.stdout.close()

    @property
    def url(self) -> str:
        if not self._got_url.wait(30) or self._url is None:
            raise AssertionError("revocd did not start listening:\n" + "".join(self.lines))
        return self._url

    def get(self, path: str) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def wait_until(self, what: str, predicate: Callable[[], bool], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"revocd exited while waiting for {what}:\n" + self.log())
            try:
                if predicate():
                    return
            except (OSError, urllib.error.URLError, ValueError, KeyError, AssertionError):
                pass
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}:\n" + self.log())

    def wait_ready(self, timeout: float = 30) -> float:
        """Wait for /readyz 200; returns seconds since the process was started."""
        self.wait_until("readyz", lambda: self.get("/readyz")[0] == 200, timeout)
        return time.monotonic() - self.started_at

    def status(self, issuer: str, serial: str) -> dict[str, Any]:
        code, body = self.get(f"/v1/status/{issuer}/{serial}")
        assert code == 200, (code, body)
        return dict(body)

    def log(self) -> str:
        return "".join(self.lines[-80:])

    def kill(self) -> None:
        """SIGKILL the daemon and its CRL worker processes at once (like an OOM kill)."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self._reader.join(10)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._reader.join(10)
        return self.process.returncode

    def __enter__(self) -> RunningDaemon:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
