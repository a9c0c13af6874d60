"""System peers (openssl, nginx, promtool, PostgreSQL): skip when absent, unless CI says
REVOCD_REQUIRE_PEERS=1, in which case a missing peer fails the test loudly."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest


def required() -> bool:
    return os.environ.get("REVOCD_REQUIRE_PEERS") == "1"


def need_binary(name: str) -> str:
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed (apt-get install {name}); .ci/run installs it"
    if required():
        pytest.fail(message)
    pytest.skip(message)


def need_path(path: Path, package: str) -> Path:
    """A file or folder a Debian package installs (a library's sources, say)."""
    if path.exists():
        return path
    message = f"{path} is missing (apt-get install {package}); .ci/run installs it"
    if required():
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.asynccontextmanager
async def running_peer(argv: list[str], port: int) -> AsyncIterator[int]:
    """A peer server (nginx, httpd) in the foreground, once it accepts on 127.0.0.1:port;
    terminated at the end."""
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        for _ in range(100):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                await writer.wait_closed()
                break
            except OSError:
                await asyncio.sleep(0.05)  # not listening yet: no event to wait on
        yield port
    finally:
        process.terminate()
        await process.wait()
