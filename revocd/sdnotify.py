"""systemd's notify protocol (sd_notify(3)), without libsystemd: one datagram per message.

With `Type=notify` systemd starts the units ordered after revocd only once revocd says
`READY=1`, which it does when the store is loaded and answers are given (the moment
`/readyz` turns 200), not when the process merely exists. With `WatchdogSec=`, systemd
restarts revocd when `WATCHDOG=1` stops arriving: it is sent from the event loop, so a
loop that is stuck (blocked by CPU work, deadlocked) stops it, and a loop that answers
requests keeps it going. A reload (SIGHUP) is bracketed by `RELOADING=1` and `READY=1`.
Outside systemd (`NOTIFY_SOCKET` unset) every call is a no-op.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Mapping

import structlog

log = structlog.get_logger("revocd.sdnotify")


class Notifier:
    def __init__(self, address: str | None, watchdog_usec: int | None = None) -> None:
        self._address = address
        # systemd's advice: ping at half the timeout, so one late ping is not fatal
        self.watchdog_interval = watchdog_usec / 2e6 if watchdog_usec else None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET") or None
        watchdog: int | None = None
        usec = env.get("WATCHDOG_USEC", "")
        # WATCHDOG_PID, when set, names the process the watchdog is meant for: not a child
        if (
            usec.isdigit()
            and int(usec) > 0
            and env.get("WATCHDOG_PID", str(os.getpid())) == str(os.getpid())
        ):
            watchdog = int(usec)
        return cls(address, watchdog)

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def send(self, *fields: str) -> bool:
        """Send `KEY=value` lines as one datagram; False (and a log line) if it failed."""
        if self._address is None:
            return False
        target = self._address
        if target.startswith("@"):  # Linux abstract namespace
            target = "\0" + target[1:]
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.connect(target)
                sock.sendall("\n".join(fields).encode())
        except OSError as error:
            log.warning("sd_notify_failed", socket=self._address, error=str(error))
            return False
        return True

    def ready(self, status: str) -> None:
        self.send("READY=1", f"STATUS={status}", f"MAINPID={os.getpid()}")

    def reloading(self) -> None:
        """A reload (SIGHUP) has begun: systemd shows the unit `reloading` until the next
        READY=1 (the pair `Type=notify-reload`, systemd 253+, waits for; older systemd
        shows it too). MONOTONIC_USEC ties the message to this reload."""
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.send("RELOADING=1", f"MONOTONIC_USEC={usec}", "STATUS=reloading the configuration")

    def reloaded(self, status: str) -> None:
        self.send("READY=1", f"STATUS={status}")

    def stopping(self) -> None:
        self.send("STOPPING=1", "STATUS=stopping")

    async def watchdog(self) -> None:
        """Ping the watchdog until cancelled (returns at once when there is none)."""
        if self.watchdog_interval is None or not self.enabled:
            return
        while True:
            self.send("WATCHDOG=1")
            await asyncio.sleep(self.watchdog_interval)
