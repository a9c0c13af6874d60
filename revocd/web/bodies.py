"""Request bodies read with a cap, counted while they stream in (rule 10).

`StreamReader.read(n)` returns whatever has arrived so far, not `n` bytes: a body that
crosses the network in several segments would be cut short and parsed half-read. So a
body is read chunk by chunk to its end, and refused as soon as it passes the cap.
"""

from __future__ import annotations

from aiohttp import web

from revocd.errors import PayloadTooLarge


def _too_large(request: web.Request, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        "payload_too_large",
        f"{request.method} {request.path}: the body is over {limit} bytes; "
        "split it into smaller requests",
    )


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole body, at most `limit` bytes; raises PayloadTooLarge past it.

    A declared Content-Length over the cap is refused before anything is read.
    """
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(request, limit)
    body = bytearray()
    while chunk := await request.content.readany():
        body += chunk
        if len(body) > limit:
            raise _too_large(request, limit)
    return bytes(body)
