"""Fetch tests run against a real partner server on 127.0.0.1 and a real client session."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest

from revocd.fetch.transport import Transport, make_session
from tests.support.partner import partner_server  # noqa: F401  (shared fixture)


@pytest.fixture
async def transport() -> AsyncIterator[Transport]:
    async with make_session() as session:
        yield Transport(session)


@pytest.fixture
def closed_port() -> int:
    """A 127.0.0.1 port nobody listens on: connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
