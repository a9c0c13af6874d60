"""Every aiohttp test server serves as `revocd run` does: an app with an OCSP responder gets
the GET hot path (revocd/web/hot_get.py) in front of aiohttp, so each test that talks to
the responder over HTTP (openssl, nginx, the malformed flood, the caching headers) talks
to what production runs, not to aiohttp alone."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import aiohttp.test_utils
import pytest
from aiohttp import web

from revocd.web.hot_get import site_for


def daemon_site(runner: web.BaseRunner, sock: socket.socket, **kwargs: Any) -> web.BaseSite:
    """The site `revocd run` puts on a listening socket (TLS test servers stay plain)."""
    if kwargs.get("ssl_context") is not None:
        return web.SockSite(runner, sock, **kwargs)
    return site_for(runner, sock)


@pytest.fixture(autouse=True)
def served_as_the_daemon_serves() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(aiohttp.test_utils, "SockSite", daemon_site)
        yield
