"""Talking to an upstream OCSP responder: build the request, send it, read bounded bytes.

Never parses the response (verify.py does). What it decides:

* The request carries one CertID (SHA-1 by default: every responder supports it, RFC
  5019/9919) and, when the source sends nonces, a fresh 32-octet nonce (RFC 9654).
* GET when the base64 request, URL-encoded, is shorter than 255 bytes (RFC 5019 5),
  else POST with `Content-Type: application/ocsp-request`. GET responses are what
  HTTP caches in front of responders serve.
* The whole exchange (connect, headers, body) is bounded by the source's
  `ocsp_timeout`; the body by `max_ocsp_bytes`, counted as it streams, after any
  Content-Encoding is undone.

Failures are `FetchError`s with the transport's kinds: `timeout`, `connection`,
`http_status`, `oversize`, `bad_url`.
"""

from __future__ import annotations

import asyncio
import base64
import os
import ssl
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote, urlsplit

import aiohttp
from cryptography import x509

from revocd.der import encode_tlv
from revocd.errors import FetchError
from revocd.fetch.transport import format_bytes, raise_client_error, read_capped_body
from revocd.ocsp.asn1 import HASHES, OID_NONCE
from revocd.upstream.verify import Asked

NONCE_OCTETS = 32  # RFC 9654 3: a responder SHOULD accept 32 octets
MAX_GET_PATH = 255  # RFC 5019 5: GET only when the encoded request is smaller
REQUEST_TYPE = "application/ocsp-request"
ACCEPT = "application/ocsp-response"
_HASH_OIDS = {name: oid for oid, (name, _) in HASHES.items()}


@dataclass(frozen=True, slots=True)
class OutgoingRequest:
    der: bytes
    asked: Asked


def new_nonce() -> bytes:
    return os.urandom(NONCE_OCTETS)


def build_request(
    issuer: x509.Certificate,
    serial: bytes,
    *,
    nonce: bytes | None,
    hash_algorithm: str = "sha1",
) -> OutgoingRequest:
    """A one-CertID OCSPRequest for `serial` (DER INTEGER content octets) of `issuer`.

    Encoded here rather than by cryptography's builder, which refuses negative serials
    (broken CAs issue them, and revocd keeps serials as DER values, sign included)."""
    asked = Asked.for_issuer(issuer, serial, hash_algorithm=hash_algorithm, nonce=nonce)
    algorithm = encode_tlv(0x30, encode_tlv(0x06, _HASH_OIDS[hash_algorithm]) + b"\x05\x00")
    cert_id = encode_tlv(
        0x30,
        algorithm
        + encode_tlv(0x04, asked.name_hash)
        + encode_tlv(0x04, asked.key_hash)
        + encode_tlv(0x02, serial),
    )
    request_list = encode_tlv(0x30, encode_tlv(0x30, cert_id))  # one Request { reqCert }
    extensions = b""
    if nonce is not None:
        nonce_ext = encode_tlv(
            0x30, encode_tlv(0x06, OID_NONCE) + encode_tlv(0x04, encode_tlv(0x04, nonce))
        )
        extensions = encode_tlv(0xA2, encode_tlv(0x30, nonce_ext))  # requestExtensions
    tbs = encode_tlv(0x30, request_list + extensions)
    return OutgoingRequest(encode_tlv(0x30, tbs), asked)


def get_url(base: str, der: bytes) -> str | None:
    """The RFC 5019 GET URL for `der` under `base`, or None when POST must be used."""
    encoded = quote(base64.b64encode(der).decode("ascii"), safe="")
    if len(encoded) >= MAX_GET_PATH:
        return None
    return f"{base.rstrip('/')}/{encoded}"


class OcspClient:
    """Sends OCSP requests on the daemon's one client session (see fetch.transport)."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    async def send(
        self, url: str, der: bytes, *, timeout: timedelta, max_bytes: int, use_get: bool = True
    ) -> bytes:
        """The response body for request `der`; raises FetchError."""
        scheme = urlsplit(url).scheme.lower()
        if scheme not in ("http", "https"):
            raise FetchError(
                "bad_url", url, f"OCSP URLs must be http or https, not {scheme or '(none)'!r}"
            )
        seconds = timeout.total_seconds()
        target = get_url(url, der) if use_get else None
        try:
            async with asyncio.timeout(seconds):
                if target is not None:
                    request = self._session.get(
                        target, headers={"Accept": ACCEPT}, allow_redirects=False
                    )
                else:
                    request = self._session.post(
                        url,
                        data=der,
                        headers={"Content-Type": REQUEST_TYPE, "Accept": ACCEPT},
                        allow_redirects=False,
                    )
                async with request as response:
                    if response.status != 200:
                        reason = f" {response.reason}" if response.reason else ""
                        raise FetchError(
                            "http_status",
                            url,
                            f"HTTP {response.status}{reason} from the OCSP responder",
                        )
                    return await read_capped_body(url, response, max_bytes, _oversize)
        except TimeoutError:
            raise FetchError(
                "timeout",
                url,
                f"no complete OCSP response within ocsp_timeout {seconds:g}s",
            ) from None
        except (aiohttp.ClientError, ssl.SSLError, OSError) as error:
            raise_client_error(url, error)


def _oversize(url: str, max_bytes: int, what: str) -> FetchError:
    return FetchError(
        "oversize",
        url,
        f"OCSP response is larger than max_ocsp_bytes {format_bytes(max_bytes)} ({what}); "
        "an OCSP response is normally a few KiB",
    )
