"""System peers (openssl, nginx, promtool, PostgreSQL): skip when absent, unless CI says
REVOCD_REQUIRE_PEERS=1, in which case a missing peer fails the test loudly."""

from __future__ import annotations

import os
import shutil
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
